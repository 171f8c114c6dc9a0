"""The target under bad handshakes and plain HTTP: routes, Origins, room names, against a real Daphne.

Same harness as test_bad_input.py: each case has one outcome (an HTTP status or a reply), a good client
is served throughout, and the log has no traceback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apps.badinput import KINDS, T, Target, check, opened, registry, reply, status_of, target_server
from tests.apps.rawclient import client_frame, connect, response_head, upgrade_request

TEXT = 0x1
CASES, case = registry()
# One worker of `pytest -n` takes the whole matrix: one Daphne per kind, not one per kind per worker.
pytestmark = pytest.mark.xdist_group("bad-handshakes")


@pytest.fixture(scope="module", params=KINDS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """One Daphne per kind for the module."""
    with target_server(request.param) as t:
        yield t


@case
def case_unknown_route(t: Target) -> None:
    """A websocket to an unrouted path: HTTP 403 (not URLRouter's 500)."""
    assert status_of(t, "/nowhere") == 403


@case
def case_missing_origin(t: Target) -> None:
    """No Origin header: HTTP 403 (AllowedHostsOriginValidator)."""
    assert status_of(t, "/room/o", origin=None) == 403


@case
def case_foreign_origin(t: Target) -> None:
    """An Origin outside ALLOWED_HOSTS: HTTP 403."""
    assert status_of(t, "/room/o", origin="http://evil.example") == 403


@case
def case_null_origin(t: Target) -> None:
    """Origin `null` (sandboxed pages, file://): HTTP 403."""
    assert status_of(t, "/room/o", origin="null") == 403


@case
def case_origin_other_port(t: Target) -> None:
    """An allowed host on another port is accepted: Channels' validator ignores the port (documented)."""
    assert status_of(t, "/room/o", origin="http://127.0.0.1:1") == 101


@case
def case_plain_http(t: Target) -> None:
    """A plain GET (no upgrade) to a websocket route: HTTP 404 from Django."""
    sock = connect(t.port, T)
    with sock:
        sock.sendall(f"GET /room/x HTTP/1.1\r\nHost: 127.0.0.1:{t.port}\r\nConnection: close\r\n\r\n".encode())
        assert response_head(sock)[0] == 404


@case
def case_garbage_request(t: Target) -> None:
    """A request line that is not HTTP: HTTP 400."""
    sock = connect(t.port, T)
    with sock:
        sock.sendall(b"\x16\x03\x01 hello there\r\n\r\n")
        assert response_head(sock)[0] == 400


@case
def case_long_group_name(t: Target) -> None:
    """room/ with a 10,000-character group: accepted and served (room/ takes any \\w+)."""
    with opened(t, "/room/" + "a" * 10_000) as sock:
        sock.sendall(client_frame(TEXT, b"hi"))
        assert reply(sock) == (TEXT, b"OK")


@case
def case_group_name_over_header_limit(t: Target) -> None:
    """A 20,000-character path: closed with no response (Twisted's 16 KiB line limit; status 0 here)."""
    assert status_of(t, "/room/" + "a" * 20_000) == 0


@case
def case_long_chat_group_name(t: Target) -> None:
    """chat/ with a 200-character group (Channels group names stay under 100): HTTP 403."""
    assert status_of(t, "/chat/" + "a" * 200) == 403


@case
def case_unicode_group_name(t: Target) -> None:
    """room/ with a percent-encoded non-ASCII group: served; chat/ refuses it with HTTP 403."""
    with opened(t, "/room/%C3%A9t%C3%A9") as sock:
        sock.sendall(client_frame(TEXT, b"hi"))
        assert reply(sock) == (TEXT, b"OK")
    assert status_of(t, "/chat/%C3%A9t%C3%A9") == 403


@case
def case_raw_unicode_path(t: Target) -> None:
    """Raw UTF-8 bytes in the request path: HTTP 400 from Daphne."""
    sock = connect(t.port, T)
    with sock:
        sock.sendall(upgrade_request(t.port, "/room/été"))
        assert response_head(sock)[0] == 400


@pytest.mark.parametrize("name", list(CASES))
def test_bad_handshake(target: Target, name: str) -> None:
    """Each bad handshake or request gets its defined outcome, a good client is served throughout."""
    check(target, CASES[name])
