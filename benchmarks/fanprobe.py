"""The fan-out benchmark's independent receiver: a few members of the room that stamp each arrival themselves.

    python -m benchmarks.fanprobe URL --seconds T --out FILE      (then `open` lines on stdin)

Shares no code with the suite (no Locust, no chanload, no websocket library): raw sockets in a process of
its own, read by one `selectors` loop, the RFC 6455 handshake and the reading of frames written out (here
and in benchmarks/rawws.py, which the fidelity benchmark's probe uses too). It opens a websocket to URL for each
`open` line on its stdin: the benchmark sends one each time the suite's member count passes another slice
of the room, so that the probe's members join spread evenly among the suite's and sit at evenly spread
places in the broadcaster's fan-out order (a Channels group and benchmarks/fanout_server.py both fan out
in joining order), not all at one end. It sends nothing but pongs, and for every text frame reads the marks it
carries (`cl1.<sender>.<seq>.<sent_ns>`, chanload.conversation.marks' format, read here with a regex of
its own). sent_ns is the sender's time.time_ns() (CLOCK_REALTIME); each frame is stamped on the same
clock twice: the kernel's receive timestamp of the read that completed it (SO_TIMESTAMPNS, as the suite
stamps), and time.time_ns() when this process had it (which adds this process's wake-up).
Until T seconds have passed or SIGTERM comes; then it writes FILE:
{"sockets": opened, "errors": [...], "frames": [[socket, kernel_ns, user_ns, sender, seq, sent_ns], ...]}.
Prints `OPEN n` as each socket opens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import struct
import sys
import time
from pathlib import Path

from benchmarks.rawws import RawSocket

MARK = re.compile(rb"cl1\.([A-Za-z0-9_-]{1,64})\.(\d{1,18})\.(\d{1,20})")


class Member(RawSocket):
    """One websocket that only receives: handshake, then frames parsed as bytes arrive."""

    READ = 262144

    def __init__(self, url: str, index: int) -> None:
        super().__init__(url)
        self.index = index
        self.sock.setblocking(False)

    def frames(self):
        """(opcode, payload) of every whole frame in the buffer (server frames are unmasked, RFC 6455 5.1)."""
        buf = self.buffer
        at = 0
        while len(buf) - at >= 2:
            first, second = buf[at], buf[at + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if len(buf) - at < 4:
                    break
                (length,), head = struct.unpack_from("!H", buf, at + 2), 4
            elif length == 127:
                if len(buf) - at < 10:
                    break
                (length,), head = struct.unpack_from("!Q", buf, at + 2), 10
            if len(buf) - at < head + length:
                break
            yield first & 0x0F, buf[at + head : at + head + length]
            at += head + length
        self.buffer = buf[at:]

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.setblocking(True)
        super().send(opcode, payload)
        self.sock.setblocking(False)


def run(url: str, seconds: float, out: Path) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    deadline = time.monotonic() + seconds
    frames: list = []
    errors: list[str] = []
    members: list[Member] = []
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    opened = 0
    while not stopping and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            member = key.data
            if member is None:  # commands: read unbuffered, so none waits in a buffer the selector cannot see
                data = os.read(sys.stdin.fileno(), 4096)
                if not data:
                    sel.unregister(sys.stdin)
                for _ in range(data.split().count(b"open")):
                    try:
                        member = Member(url, opened)
                        members.append(member)
                        sel.register(member.sock, selectors.EVENT_READ, member)
                        print(f"OPEN {len(members)}", flush=True)
                    except OSError as exc:
                        errors.append(f"socket {opened}: {type(exc).__name__}: {exc}")
                    opened += 1
                continue
            try:
                alive = member.fill()
            except BlockingIOError:
                continue
            except OSError as exc:
                alive = False
                errors.append(f"socket {member.index}: {type(exc).__name__}: {exc}")
            now = time.time_ns()
            for opcode, payload in member.frames():
                if opcode == 0x1:
                    for sender, seq, sent in MARK.findall(payload):
                        frames.append((member.index, member.stamp_ns or now, now, sender.decode(), int(seq), int(sent)))
                elif opcode == 0x9:
                    member.send(0xA, payload)
                elif opcode == 0x8:
                    alive = False
            if not alive:
                sel.unregister(member.sock)
                member.sock.close()
                errors.append(f"socket {member.index}: closed by the server")
    for member in members:
        if member.sock.fileno() >= 0:
            member.sock.close()
    out.write_text(json.dumps({"sockets": len(members), "errors": errors, "frames": frames}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    run(args.url, args.seconds, args.out)


if __name__ == "__main__":
    main()
