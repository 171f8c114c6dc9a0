"""A delaying TCP proxy: forwards both directions, holding each chunk a fixed D (jitter off, or set).

    python -m benchmarks.delayproxy --upstream 127.0.0.1:8000 --delay-ms 5 [--jitter-ms 0.5] [--port N]

It prints `listening on PORT` once it accepts. Every chunk it reads, either way, is stamped as it is read and
written on D later (D + a uniform draw in [-jitter, +jitter] with jitter set, never before the chunk ahead of
it: a TCP stream keeps its order). So a request and its reply, one crossing each way, arrive 2D later than
they would through the proxy with D = 0: a delay known in advance, for benchmarks/witness.py to check the
suite against.

One thread, one select() loop: select() takes its timeout in microseconds (epoll, and so asyncio, round it up
to a millisecond), the process asks the kernel for 1 ns of timer slack (prctl PR_SET_TIMERSLACK; the default
lets a sleep run 50 us late), and it sleeps only until SPIN before a release, then spins to it: a chunk goes
out within a few microseconds of its time when the proxy has a core (one thread: the spin holds no lock
another thread waits for). Loopback only; it stops after --seconds (default 600) or when killed.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import random
import select
import socket
import sys
import time

PR_SET_TIMERSLACK = 29
SPIN = 0.0002  # seconds before a release that the loop stops sleeping and spins: select() wakes some tens of us late


class Pipe:
    """One direction of one connection: chunks read from `src`, each written to `dst` at its release time."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.last = 0.0  # the release time of the chunk queued last
        self.reading = True


def precise_timers() -> None:
    """Ask for 1 ns of timer slack, so that select() wakes when asked (Linux; elsewhere nothing happens)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(listener: socket.socket, upstream: tuple[str, int], delay: float, jitter: float, seconds: float) -> None:
    pipes: list[Pipe] = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        due = min((p.queue[0][0] for p in pipes if p.queue), default=None)
        now = time.perf_counter()
        timeout = 0.5 if due is None else max(0.0, min(due - now - SPIN, 0.5))
        readers = [listener] + [p.src for p in pipes if p.reading]
        readable, _, _ = select.select(readers, [], [], timeout)
        if not readable and due is not None:
            while time.perf_counter() < due:  # the last SPIN of a hold, awake: a chunk goes out on time
                pass
        for sock in readable:
            if sock is listener:
                pipes += accept(listener, upstream)
                continue
            pipe = next(p for p in pipes if p.src is sock and p.reading)
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            read_at = time.perf_counter()
            hold = delay + (random.uniform(-jitter, jitter) if jitter else 0.0)
            release = max(pipe.last, read_at + max(hold, 0.0))
            pipe.last = release
            pipe.queue.append((release, data or None))  # None: the end of this direction
            if not data:
                pipe.reading = False
        now = time.perf_counter()
        for pipe in pipes:
            while pipe.queue and pipe.queue[0][0] <= now:
                _, chunk = pipe.queue.popleft()
                try:
                    if chunk is None:
                        pipe.dst.shutdown(socket.SHUT_WR)
                    else:
                        pipe.dst.sendall(chunk)
                except OSError:
                    pipe.queue.clear()
                    pipe.reading = False
        pipes = close_finished(pipes)


def accept(listener: socket.socket, upstream: tuple[str, int]) -> list[Pipe]:
    client, _ = listener.accept()
    try:
        server = socket.create_connection(upstream, timeout=5)
    except OSError:
        client.close()
        return []
    for sock in (client, server):
        sock.setblocking(True)
        sock.settimeout(5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return [Pipe(client, server), Pipe(server, client)]


def close_finished(pipes: list[Pipe]) -> list[Pipe]:
    """Both directions of a connection ended and flushed: close its sockets, forget its pipes."""
    alive = []
    for pipe in pipes:
        twin = next(p for p in pipes if p.src is pipe.dst and p.dst is pipe.src)
        if not pipe.reading and not pipe.queue and not twin.reading and not twin.queue:
            pipe.src.close()
            continue
        alive.append(pipe)
    return alive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to (loopback)")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("delayproxy: the upstream must be on loopback")
    precise_timers()
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.setblocking(False)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    serve(listener, (host, int(port)), args.delay_ms / 1e3, args.jitter_ms / 1e3, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
