"""The wire as a third witness: tcpdump on the loopback, request and reply packets of the same messages.

Used by benchmarks/fidelity.py when tcpdump is installed and may capture (root). The kernel stamps
each packet as it passes the loopback device; a round trip on the wire is a request frame going to
the target's port followed by the reply frame coming back on the same connection. That is the same
span the suite claims to time, measured by neither the suite nor the target.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

_LINE = re.compile(r"(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): .*length (\d+)")


class Capture:
    """`tcpdump -i lo` of one TCP port's data packets into a pcap file, from start() to stop()."""

    def __init__(self, port: int, pcap: Path) -> None:
        self.port, self.pcap = port, pcap
        self.proc: subprocess.Popen | None = None
        self.report = ""

    @staticmethod
    def unavailable() -> str | None:
        """Why no capture can be made here, or None."""
        if shutil.which("tcpdump") is None:
            return "tcpdump is not installed (apt-get install tcpdump)"
        return None

    def start(self) -> bool:
        argv = ["tcpdump", "-i", "lo", "-n", "-s", "96", "-B", "16384", "-w", str(self.pcap)]
        argv += [f"tcp port {self.port} and greater 60"]  # data packets; bare ACKs are shorter
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "listening on lo, ..." once it captures, else an error
        if "listening" not in line:
            self.report = line.strip() or "tcpdump exited"
            self.proc.wait()
            return False
        return True

    def stop(self) -> None:
        if self.proc is None:
            return
        time.sleep(0.5)  # replies still on their way
        self.proc.send_signal(2)  # SIGINT: tcpdump flushes and prints its counts
        _, err = self.proc.communicate(timeout=30)
        self.report = " ".join(line.strip() for line in err.splitlines() if "packets" in line)

    def round_trips(self, payload_len: int, reply_len: int, exclude: set[int]) -> list[float]:
        """Microseconds from each request frame to the next reply frame on the same connection."""
        out = subprocess.run(["tcpdump", "-r", str(self.pcap), "-tt", "-n"], capture_output=True, text=True, check=True)
        return pair(out.stdout.splitlines(), self.port, payload_len, reply_len, exclude)


def pair(lines, port: int, payload_len: int, reply_len: int, exclude: set[int]) -> list[float]:
    """Round trips in us from `tcpdump -tt -n` lines: a request of `payload_len` bytes to `port`, then the
    next reply of `reply_len` bytes back on that connection. Connections from `exclude` ports are skipped;
    a reply with no request before it (the request not captured) is skipped too.
    """
    target, pending, trips = str(port), {}, []
    skip = {str(p) for p in exclude}
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        stamp, src, dst, length = float(m[1]), m[2], m[3], int(m[4])
        if dst == target and src not in skip and length == payload_len:
            pending[src] = stamp
        elif src == target and dst in pending and length == reply_len:
            trips.append((stamp - pending.pop(dst)) * 1e6)
    return trips
