"""The bad-input matrix's harness: the Daphne under test, a good client around each case, the log check.

Used by tests/test_bad_input.py (frames, resets, half-open sockets) and tests/test_target_handshakes.py
(refused handshakes, plain HTTP, room names). Each case is a function of the target that asserts its
one defined outcome.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from websockets.sync.client import connect as ws_connect

from tests.apps.rawclient import handshake, read_server_frame
from tests.servers import UNIT, Server, daphne

HEADER_TIMEOUT = 2.0  # the guarded server's --header-timeout, seconds
KINDS = ["daphne", "guarded"]
T = 5 * UNIT  # socket read timeout for every case
PING, PONG = 0x9, 0xA


@dataclass
class Target:
    server: Server
    kind: str  # "daphne" (the README's command) or "guarded" (chatroom.serve --max-pending --header-timeout)

    @property
    def port(self) -> int:
        return self.server.port


Case = Callable[[Target], None]


def registry() -> tuple[dict[str, Case], Callable[[Case], Case]]:
    """A dict of cases and the decorator that fills it (name: the function's, without case_, dashed)."""
    cases: dict[str, Case] = {}

    def case(fn: Case) -> Case:
        cases[fn.__name__.removeprefix("case_").replace("_", "-")] = fn
        return fn

    return cases, case


@contextlib.contextmanager
def target_server(kind: str) -> Iterator[Target]:
    """The README's plain Daphne, or chatroom.serve with both guards; the whole log checked at the end."""
    if kind == "daphne":
        ctx = daphne()
    else:
        ctx = daphne(module="chatroom.serve", args=("--max-pending", "64", "--header-timeout", str(HEADER_TIMEOUT)))
    with ctx as server:
        yield Target(server, kind)
        time.sleep(1.2)
        assert "Traceback" not in server.output(), server.output()


def check(target: Target, run: Case) -> None:
    """Run one case with a good client around it, then check the server's log for what the case caused."""
    before = len(target.server.output())
    with good_client(target) as failures:
        run(target)
    assert failures == [], failures
    # Daphne reports a crashed application from a timer that runs every second: wait for it. (A report
    # later still would show in the next case's slice, and target_server checks the whole log at the end.)
    time.sleep(1.2)
    log = target.server.output()[before:]
    assert "Traceback" not in log, log
    assert " ERROR " not in log and "Exception inside application" not in log, log
    assert target.server.proc.poll() is None


@contextlib.contextmanager
def good_client(t: Target) -> Iterator[list[str]]:
    """A websocket on room/ doing round trips every 20 ms around the block; yields its failures."""
    failures: list[str] = []
    stop = threading.Event()
    url = f"ws://127.0.0.1:{t.port}/room/good"
    with ws_connect(url, origin=f"http://127.0.0.1:{t.port}", open_timeout=T, close_timeout=T) as ws:

        def round_trip() -> None:
            ws.send("good")
            if (answer := ws.recv(timeout=T)) != "OK":
                failures.append(f"answer {answer!r}")

        def loop() -> None:
            while not stop.wait(0.02):
                try:
                    round_trip()
                except Exception as exc:  # recorded, then asserted by the test
                    failures.append(repr(exc))
                    return

        round_trip()  # served before the case
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield failures
        finally:
            stop.set()
            thread.join(2 * T)
        round_trip()  # and after it


def opened(t: Target, path: str) -> socket.socket:
    """A raw websocket the server accepted (HTTP 101)."""
    sock, status = handshake(t.port, path, T)
    assert status == 101, f"{path}: HTTP {status}"
    return sock


def status_of(t: Target, path: str, origin: str | None = "") -> int:
    """The HTTP status of an upgrade to `path` (101 when accepted)."""
    sock, status = handshake(t.port, path, T, origin)
    sock.close()
    return status


def reply(sock: socket.socket) -> tuple[int, bytes]:
    """The next data frame, skipping pings and pongs."""
    for _ in range(10_000):
        opcode, payload = read_server_frame(sock)
        if opcode not in (PING, PONG):
            return opcode, payload
    raise AssertionError("only control frames")


def strict_json(payload: bytes) -> object:
    """json.loads that refuses NaN and the infinities, as RFC 8259 parsers (JavaScript's JSON.parse) do."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(payload, parse_constant=refuse)


def closed_by_server(sock: socket.socket) -> bool:
    """True if the server closed or reset this connection (a read would not block)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
