"""chatroom.serve, the target's Daphne with guards: bounded memory per websocket, and a request-head timeout.

Memory is the real Daphne process's RSS (psutil), under a client that writes 1 KiB messages as fast
as TCP lets it and never reads a reply; the same flood against plain Daphne in the same test is the
reference. Every loop is bounded in bytes and seconds; loopback only.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time

import psutil
import pytest
from websockets.sync.client import connect as ws_connect

from tests.apps.rawclient import client_frame, connect, handshake, upgrade_request
from tests.servers import TARGET_DIR, UNIT, Server, daphne, free_port, stop, wait_for_port

pytestmark = pytest.mark.e2e

MIB = 1 << 20
T = 5 * UNIT


def flood(port: int, path: str, cap: int, seconds: float, size: int) -> tuple[socket.socket, int, float]:
    """Open `path` and write `size`-byte text messages, never reading, until `cap` bytes or `seconds` pass.

    Returns the still-open socket, how many bytes the kernel took, and the seconds it took them.
    """
    sock, status = handshake(port, path, T)
    assert status == 101
    burst = client_frame(0x1, b"x" * size) * max(1, 65_536 // size)
    sock.setblocking(False)
    sent, pending = 0, b""
    start = time.monotonic()
    deadline = start + seconds
    while sent < cap and time.monotonic() < deadline:
        pending = pending or burst
        try:
            n = sock.send(pending)
        except BlockingIOError:
            time.sleep(0.002)
            continue
        sent, pending = sent + n, pending[n:]
    return sock, sent, time.monotonic() - start


def served(port: int) -> bool:
    """A fresh websocket on room/ gets its OK."""
    with ws_connect(f"ws://127.0.0.1:{port}/room/good", origin=f"http://127.0.0.1:{port}", open_timeout=T) as ws:
        ws.send("hi")
        return ws.recv(timeout=T) == "OK"


def settled_rss(proc: psutil.Process, net: float = 10 * UNIT) -> int:
    """The process's RSS once it stopped growing (within 1 MiB over 0.5 s), or when `net` seconds passed.

    A loaded machine parses a flood's backlog slowly: a fixed pause would measure it half done.
    """
    deadline = time.monotonic() + net
    last = proc.memory_info().rss
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = proc.memory_info().rss
        if now - last < MIB:
            return now
        last = now
    return last


def rss_growth_under_flood(server: Server, path: str, cap: int, seconds: float, size: int) -> tuple[int, int, float]:
    """(RSS growth of the Daphne process, bytes the flood got in, its seconds), the flooder still connected."""
    proc = psutil.Process(server.proc.pid)
    assert served(server.port)  # warm up: Django, the thread pool, the first consumer
    before = proc.memory_info().rss
    sock, sent, took = flood(server.port, path, cap, seconds, size)
    try:
        growth = settled_rss(proc) - before  # once Daphne parsed what the kernel already holds
        assert served(server.port), "a good client was not served while the flooder was connected"
    finally:
        sock.close()
    return growth, sent, took


@pytest.mark.parametrize(
    ("path", "size"),
    [("/room/flood", 1024), ("/aroom/flood", 1024), ("/chat/flood", 65_536)],
    ids=["sync-room", "async-aroom", "broadcast-chat"],
)
def test_max_pending_bounds_memory_of_a_client_that_never_reads(path: str, size: int) -> None:
    """Plain Daphne's RSS grows with what a non-reading client sends; with --max-pending it stays flat."""
    with daphne() as plain:
        plain_growth, plain_sent, plain_s = rss_growth_under_flood(
            plain, path, cap=48 * MIB, seconds=20 * UNIT, size=size
        )
    with daphne(module="chatroom.serve", args=("--max-pending", "32")) as guarded:
        guarded_growth, guarded_sent, guarded_s = rss_growth_under_flood(
            guarded, path, cap=48 * MIB, seconds=4, size=size
        )
    figures = (
        f"plain: {plain_sent / MIB:.1f} MiB in {plain_s:.1f} s, RSS +{plain_growth / MIB:.1f} MiB; "
        f"--max-pending 32: {guarded_sent / MIB:.1f} MiB in {guarded_s:.1f} s, RSS +{guarded_growth / MIB:.1f} MiB"
    )
    print(figures)
    # The reference: Daphne queues everything it reads for the consumer, so memory follows the input.
    # (A loaded machine may let the flood in slowly: twice the guard's bound is enough to tell them apart;
    # the cap ends a fast flood early, so the long limit costs nothing when the machine is idle.)
    assert plain_sent >= 24 * MIB and plain_growth >= plain_sent / 2, figures
    # The guard: 32 queued messages plus one socket read and 64 KiB of replies, whatever was sent.
    assert guarded_growth < 12 * MIB, figures


def trickle(sock: socket.socket, data: bytes, seconds: float, every: float = 0.25) -> float | None:
    """Send `data` a few bytes at a time; when (time.monotonic()) the server closed the connection, or None if it
    held it for `seconds` (at least: a loaded machine only stretches the pauses)."""
    for i in range(int(seconds / every)):
        try:
            sock.sendall(data[i * 4 : i * 4 + 4])
            sock.setblocking(False)
            try:
                if sock.recv(1) == b"":
                    return time.monotonic()
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        except OSError:
            return time.monotonic()
        time.sleep(every)
    return None


def unfinished_head(port: int, path: str) -> bytes:
    """An upgrade request without the blank line that ends its head: however long it trickles, never complete."""
    request = upgrade_request(port, path)
    assert request.endswith(b"\r\n\r\n")
    return request[:-2]


def served_again(port: int, attempts: int = 5) -> None:
    """A fresh websocket on room/ gets its OK, within a few attempts.

    With --websocket_connect_timeout 1 Daphne refuses a handshake the app has not accepted within 1 s, which a
    loaded machine can take: the claim is that the server still serves, so one good attempt proves it.
    """
    failures = []
    for _ in range(attempts):
        try:
            if served(port):
                return
            failures.append("a reply other than OK")
        except Exception as exc:  # a refused or timed-out handshake, told below if every attempt meets one
            failures.append(repr(exc))
    raise AssertionError(f"no good client was served in {attempts} attempts: {failures}")


def test_daphne_timeouts_do_not_close_a_trickled_request_head() -> None:
    """Measured: with --websocket_connect_timeout 1 and --http-timeout 1, Daphne still holds a head trickled for 4 s."""
    args = ("--websocket_connect_timeout", "1", "--http-timeout", "1")
    with daphne(args=args) as server:
        served_again(server.port)  # warm: Django, the thread pool, the first consumer, before the 1 s limits count
        with connect(server.port, T) as sock:
            # 4 s at least, four times the timeouts; on a loaded machine, longer.
            assert trickle(sock, unfinished_head(server.port, "/room/slow"), seconds=4) is None
            served_again(server.port)


def test_header_timeout_closes_silent_and_trickled_heads_only() -> None:
    """--header-timeout 1.5 closes a silent and a trickling connection, not before 1.5 s; an open websocket stays
    served. When after 1.5 s depends on the machine's load: the wait for the close is a safety net (15 s)."""
    net = 15 * UNIT
    with daphne(module="chatroom.serve", args=("--header-timeout", "1.5")) as server:
        with ws_connect(f"{server.ws_url}/room/early", origin=server.http_url, open_timeout=T) as early:
            start = time.monotonic()  # before either connection: the server's 1.5 s start after this
            silent = connect(server.port, T)
            with connect(server.port, T) as slow:
                slow_closed_at = trickle(slow, unfinished_head(server.port, "/room/slow"), seconds=net)
            with silent:
                silent.settimeout(net)
                assert silent.recv(1) == b""
                silent_closed = time.monotonic() - start
            early.send("still here")  # opened before both deadlines passed: not touched by them
            assert early.recv(timeout=T) == "OK"
        assert slow_closed_at is not None, f"a head trickled for {net:g} s was never closed"
        slow_closed = slow_closed_at - start
        print(f"--header-timeout 1.5: trickling seen closed at {slow_closed:.3f} s, silent at {silent_closed:.3f} s")
        # Not before the timeout (both connections were opened after `start`), though bytes kept coming.
        assert slow_closed >= 1.49 and silent_closed >= 1.49, (slow_closed, silent_closed)
        assert "Traceback" not in server.output()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--max-pending", "-1"), ("--max-pending", "lots"), ("--header-timeout", "soon"), ("--header-timeout", "inf")],
)
def test_bad_guard_value_exits_2_naming_the_option(option: str, value: str) -> None:
    """A wrong guard value stops before listening: exit 2, and the message names the option."""
    out = subprocess.run(
        [sys.executable, "-m", "chatroom.serve", "-p", str(free_port()), option, value, "chatroom.asgi:application"],
        cwd=TARGET_DIR,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
    )
    assert out.returncode == 2
    assert f"argument {option}: {value!r}" in out.stderr, out.stderr


def readme_serve_command() -> list[str]:
    """The hardened run command exactly as target_project/README.md shows it."""
    text = (TARGET_DIR / "README.md").read_text()
    lines = [line.split("#")[0].strip() for line in text.splitlines() if line.startswith("python -m chatroom.serve")]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_readme_serve_command_runs() -> None:
    """The README's `python -m chatroom.serve ...` line serves room/ and logs the guards it enforces."""
    cmd = readme_serve_command()
    port = free_port()
    cmd = [sys.executable if arg == "python" else str(port) if arg == "8000" else arg for arg in cmd]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=TARGET_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc, 20 * UNIT)
        assert served(port)
    finally:
        stop(proc)
    output = proc.stdout.read() if proc.stdout else ""
    assert re.search(r"guards: max-pending [1-9]\d*, header-timeout [1-9]", output), output
    assert "Traceback" not in output
