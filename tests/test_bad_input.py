"""The target under bad input on the wire: a matrix of broken frames, floods and resets against a real Daphne.

Each case has one defined outcome (a close code or a reply). While each runs, a good client holds a
websocket on room/ and is served before, during and after; afterwards the server log has no traceback
and no ERROR line. The matrix runs against the README's plain `daphne` command and against
`python -m chatroom.serve` with its guards on. Refused handshakes and HTTP: test_target_handshakes.py.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import struct
import time
from collections.abc import Iterator

import psutil
import pytest
from websockets.sync.client import connect as ws_connect

from tests.apps.badinput import (
    HEADER_TIMEOUT,
    KINDS,
    PING,
    PONG,
    T,
    Target,
    check,
    closed_by_server,
    opened,
    registry,
    reply,
    strict_json,
    target_server,
)
from tests.apps.rawclient import client_frame, close_code, connect, read_server_frame, reset, upgrade_request
from tests.servers import UNIT

TEXT, BINARY, CLOSE, CONT = 0x1, 0x2, 0x8, 0x0
MIB = 1 << 20
CASES, case = registry()
# One worker of `pytest -n` takes the whole matrix: one Daphne per kind, not one per kind per worker.
pytestmark = pytest.mark.xdist_group("bad-input")


@pytest.fixture(scope="module", autouse=True)
def enough_file_descriptors() -> None:
    """1000 half-open sockets need more than a 1024 descriptor limit leaves; Daphne inherits the raise."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


@pytest.fixture(scope="module", params=KINDS)
def target(request: pytest.FixtureRequest, enough_file_descriptors: None) -> Iterator[Target]:
    """One Daphne per kind for the whole matrix; every case leaves it serving."""
    with target_server(request.param) as t:
        yield t


def failed(t: Target, code: int) -> int:
    """The close code a client sees for a protocol error: Daphne resets the connection (1006),
    chatroom.serve sends a close frame with `code`."""
    return code if t.kind == "guarded" else 1006


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """sendall that tolerates the server closing first (it may stop reading an oversized message)."""
    with contextlib.suppress(OSError):
        sock.sendall(data)


# --- messages on an open websocket ---------------------------------------------------------------


@case
def case_deep_json(t: Target) -> None:
    """100k nested '[' to chat/: OK, then relayed as valid JSON text (no RecursionError, no 1011)."""
    text = "[" * 100_000
    with opened(t, "/chat/deep") as sock:
        sock.sendall(client_frame(TEXT, text.encode()))
        assert reply(sock) == (TEXT, b"OK")
        opcode, payload = reply(sock)
        assert opcode == TEXT and strict_json(payload) == {"group": "deep", "text": text}


@case
def case_nan(t: Target) -> None:
    """NaN/Infinity in a chat/ object: OK, then relayed as valid JSON text, never as invalid JSON."""
    text = '{"x": NaN, "y": -Infinity}'
    with opened(t, "/chat/nan") as sock:
        sock.sendall(client_frame(TEXT, text.encode()))
        assert reply(sock) == (TEXT, b"OK")
        opcode, payload = reply(sock)
        assert opcode == TEXT and strict_json(payload) == {"group": "nan", "text": text}


@case
def case_binary_room(t: Target) -> None:
    """A binary frame to room/ gets the text OK."""
    with opened(t, "/room/bin") as sock:
        sock.sendall(client_frame(BINARY, b"\x00\xff\x01"))
        assert reply(sock) == (TEXT, b"OK")


@case
def case_binary_chat(t: Target) -> None:
    """A binary frame to chat/ gets OK, then comes back unchanged as a binary frame."""
    with opened(t, "/chat/bin") as sock:
        sock.sendall(client_frame(BINARY, b"\x00\xff\x01"))
        assert reply(sock) == (TEXT, b"OK")
        assert reply(sock) == (BINARY, b"\x00\xff\x01")


@case
def case_invalid_utf8(t: Target) -> None:
    """A text frame that is not UTF-8: close 1007 (RFC 6455 section 8.1), or a reset from plain Daphne."""
    with opened(t, "/room/utf") as sock:
        sock.sendall(client_frame(TEXT, b"ok \xff\xfe"))
        assert close_code(sock) == failed(t, 1007)


@case
def case_over_1mib(t: Target) -> None:
    """A 1 MiB + 1 byte message: close 1009 (Daphne's --websocket-max-message-size default)."""
    with opened(t, "/room/big") as sock:
        send_quietly(sock, client_frame(TEXT, b"x" * (MIB + 1)))
        assert close_code(sock) == failed(t, 1009)


@case
def case_over_1mib_in_fragments(t: Target) -> None:
    """Two 600 KB fragments (each under the frame limit, together over the message limit): close 1009."""
    half = b"y" * 600_000
    with opened(t, "/room/big") as sock:
        send_quietly(sock, client_frame(TEXT, half, fin=False) + client_frame(CONT, half))
        assert close_code(sock) == failed(t, 1009)


@case
def case_fragments(t: Target) -> None:
    """A message in three fragments with a ping between them: one OK for the whole message."""
    with opened(t, "/room/frag") as sock:
        sock.sendall(
            client_frame(TEXT, b"hel", fin=False) + client_frame(PING, b"p") + client_frame(CONT, b"l", fin=False)
        )
        sock.sendall(client_frame(CONT, b"o"))
        sock.sendall(client_frame(TEXT, b"next"))
        assert reply(sock) == (TEXT, b"OK")
        assert reply(sock) == (TEXT, b"OK")  # for "next": the fragments made one message, not three


@case
def case_ping_flood(t: Target) -> None:
    """2000 pings in one burst, then a message: 2000 pongs, then OK."""
    count = 2000
    with opened(t, "/room/ping") as sock:
        sock.sendall(client_frame(PING, b"x" * 8) * count + client_frame(TEXT, b"after"))
        pongs = 0
        for _ in range(count + 10):
            opcode, payload = read_server_frame(sock)
            if opcode == PONG:
                pongs += 1
            elif opcode == TEXT:
                break
        assert (pongs, opcode, payload) == (count, TEXT, b"OK")


@case
def case_unmasked_frame(t: Target) -> None:
    """A client frame without a mask: close 1002 (RFC 6455 section 5.1)."""
    with opened(t, "/room/mask") as sock:
        sock.sendall(client_frame(TEXT, b"hello", masked=False))
        assert close_code(sock) == failed(t, 1002)


@case
def case_reserved_opcode(t: Target) -> None:
    """A frame with reserved opcode 0x3: close 1002."""
    with opened(t, "/room/op") as sock:
        sock.sendall(client_frame(0x3, b"?"))
        assert close_code(sock) == failed(t, 1002)


@case
def case_bad_close_code(t: Target) -> None:
    """A close frame with code 999 (not allowed on the wire): the connection is dropped (1006) by both.

    The client already started the closing handshake, so autobahn does not answer with 1002.
    """
    with opened(t, "/room/close") as sock:
        sock.sendall(client_frame(CLOSE, struct.pack("!H", 999)))
        assert close_code(sock) == 1006


# --- resets and half-open connections ------------------------------------------------------------


@case
def case_reset_mid_handshake(t: Target) -> None:
    """Half an upgrade request, then a TCP reset: nothing to answer; the server stays healthy."""
    request = upgrade_request(t.port, "/room/rst")
    sock = connect(t.port, T)
    sock.sendall(request[: len(request) // 2])
    time.sleep(0.1)
    reset(sock)


@case
def case_reset_mid_message(t: Target) -> None:
    """Half of a 64 KB frame on chat/, then a reset: the member is gone; the room still works."""
    sock = opened(t, "/chat/rst")
    data = client_frame(TEXT, b"z" * 65_536)
    sock.sendall(data[: len(data) // 2])
    time.sleep(0.1)
    reset(sock)
    with opened(t, "/chat/rst") as other:
        other.sendall(client_frame(TEXT, b'{"seq": 1}'))
        assert reply(other) == (TEXT, b"OK")
        assert strict_json(reply(other)[1]) == {"seq": 1, "group": "rst"}


@case
def case_1000_half_open(t: Target) -> None:
    """1000 sockets holding half an upgrade: the good client is served meanwhile, and all are freed.

    daphne holds all 1000 at once; chatroom.serve closes each --header-timeout after it connected.
    """
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2200:
        pytest.skip("the descriptor limit (ulimit -n) is under the 2200 this case needs")
    server = psutil.Process(t.server.proc.pid)
    fds_before = server.num_fds()
    request = upgrade_request(t.port, "/room/half")
    socks: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = connect(t.port, T)
            sock.sendall(request[:40])
            socks.append(sock)
        held = server.num_fds() - fds_before
        with ws_connect(f"ws://127.0.0.1:{t.port}/room/during", origin=f"http://127.0.0.1:{t.port}") as ws:
            ws.send("while 1000 are half-open")
            assert ws.recv(timeout=T) == "OK"
        if t.kind == "guarded":
            time.sleep(HEADER_TIMEOUT + 0.5)
            assert sum(closed_by_server(sock) for sock in socks) == 1000
        else:
            assert held >= 950, f"Daphne held only {held} more descriptors: the sockets were not open at once"
    finally:
        for sock in socks:
            sock.close()
    deadline = time.monotonic() + T
    while server.num_fds() > fds_before + 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.num_fds() <= fds_before + 10, "Daphne kept the closed sockets' descriptors"


@case
def case_slow_loris(t: Target) -> None:
    """A header sent a few bytes every 0.25 s. guarded: closed at --header-timeout; daphne: still held."""
    request = upgrade_request(t.port, "/room/slow")
    sock = connect(t.port, T)
    start = time.monotonic()
    closed_at = None
    with sock:
        for i in range(0, 24):  # 24 x 0.25 s = 6 s of trickling, never the final blank line
            try:
                sock.sendall(request[i * 4 : i * 4 + 4])
                sock.setblocking(False)
                if sock.recv(1) == b"":
                    closed_at = time.monotonic() - start
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic() - start
                break
            finally:
                sock.setblocking(True)
            time.sleep(0.25)
    if t.kind == "guarded":
        assert closed_at is not None, "the guarded server held a trickled header for 6 s"
        assert HEADER_TIMEOUT - 0.1 <= closed_at <= HEADER_TIMEOUT + 2 * UNIT
    else:
        # Documented, not wanted: Twisted's 60 s idle timer restarts with every byte, and Daphne's
        # --websocket_connect_timeout and --http-timeout only start once the head is complete.
        assert closed_at is None


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(target: Target, name: str) -> None:
    """Each bad input gets its defined outcome, a good client is served throughout, no error is logged."""
    check(target, CASES[name])
