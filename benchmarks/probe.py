"""An independent latency probe: one raw-socket websocket connection, a fixed send rate, its own clock.

    python -m benchmarks.probe ws://127.0.0.1:PORT --rate 20 --seconds 40 --out probe.json

Shares no code with the suite (no Locust, no chanload, no websocket library): a blocking socket in its
own process, the RFC 6455 handshake and framing written out (here and in benchmarks/rawws.py). It sends
the suite's echo message (`hello` to `room/<group>`, expecting `OK`) at random (Poisson) times, one
message at a time. A round trip is timed as the suite times it, from just before the send to the
reply's arrival at the socket (the kernel's receive timestamp, SO_TIMESTAMPNS, CLOCK_REALTIME), and
also to the moment recv() returned in this process (which adds this process's wake-up). Every sample is written as
[wall-clock second, round trip to the kernel stamp in us, round trip to recv() in us].
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import time

from benchmarks.rawws import TIMEOUT, RawSocket

PAYLOAD = b"hello"
EXPECT = b"OK"


class Probe(RawSocket):
    """One websocket connection with just enough of RFC 6455 to time text round trips."""

    def __init__(self, url: str) -> None:
        try:
            super().__init__(url, TIMEOUT)
        except ConnectionError as exc:
            raise SystemExit(f"probe: {exc}") from None

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self.fill():
                raise SystemExit("probe: the server closed the connection")
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload (server frames are unmasked, section 5.1)."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return first & 0x0F, self._take(length)

    def round_trip(self) -> tuple[int, int]:
        """Send `hello`, wait for `OK`: the round trip in ns to the kernel's stamp, and to recv()'s return.

        Pings are answered, as the suite does. Without a kernel stamp both figures are the second.
        """
        start = time.time_ns()
        self.send(0x1, PAYLOAD)
        while True:
            opcode, data = self.receive()
            if opcode == 0x9:  # ping: answer with a pong carrying the same data (section 5.5.2)
                self.send(0xA, data)
                continue
            if opcode == 0xA:
                continue
            end = time.time_ns()
            if opcode != 0x1 or data != EXPECT:
                raise SystemExit(f"probe: expected text {EXPECT!r}, got opcode {opcode} {data[:60]!r}")
            stamped = self.stamp_ns if start < self.stamp_ns <= end else end
            return stamped - start, end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host", help="ws://127.0.0.1:PORT")
    parser.add_argument("--rate", type=float, default=20.0, help="mean messages per second (Poisson arrivals)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", required=True, help="JSON file for the samples")
    args = parser.parse_args()
    probe = Probe(f"{args.host}/room/g{random.randrange(10)}")
    print(f"READY local port {probe.sock.getsockname()[1]}", flush=True)  # lets a capture tell it apart
    rng = random.Random()
    samples: list[tuple[int, int, int]] = []
    next_send = time.perf_counter()
    deadline = next_send + args.seconds
    while next_send < deadline:
        delay = next_send - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamped, returned = probe.round_trip()
        samples.append((int(time.time()), round(stamped / 1000), round(returned / 1000)))
        # Exponential gaps (a Poisson process): by PASTA its samples see the target as a random observer
        # would, whereas a fixed period can alias with the suite's own fixed-rate schedule.
        next_send += rng.expovariate(args.rate)
    probe.send(0x8, struct.pack("!H", 1000))  # a polite close (section 5.5.1); no need to wait for the echo
    probe.sock.close()
    with open(args.out, "w") as f:
        json.dump({"samples": samples}, f)


if __name__ == "__main__":
    main()
