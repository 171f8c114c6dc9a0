"""A known-delay witness: the suite's round trip through a proxy that holds each chunk D ms reads 2D more.

    make bench-witness        (python -m benchmarks.witness)

    python -m benchmarks.witness --daphne        (the reference target instead of the fast echo server)

Every truth check of the other benchmarks compares the suite with another client. This one compares it with a
delay whose size is known in advance. One server: benchmarks/echo.py (picows, uvloop: answers OK in some
microseconds, so its own spread does not hide a 100 us error), or with --daphne the reference target, whose
handshake takes milliseconds and varies by as much; four delaying proxies in front of it
(benchmarks/delayproxy.py, D = 0, 1, 5 and 20 ms, jitter off); one Locust process with a user class per path
(benchmarks/witnesslocust.py: direct, and through each proxy), all at once, in the open model. A request crosses
a proxy once and its reply once, so through D the suite's round trip must read that through D = 0 plus 2D, and
so must its handshake (the upgrade request and the 101 answer; the TCP connect ends at the proxy). The
baseline is the proxy with D = 0, not the direct path: the proxy's own forwarding (two more hops through a
process, some tens of microseconds) is not the delay being witnessed; the direct p50 is printed beside it.

Goal (the issue's): each p50 within 3% or 100 us, whichever is larger, of the baseline's plus 2D.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import goal, read_json
from chanload.formatting import format_us
from scripts import launch

ROOT = Path(__file__).resolve().parent.parent
DELAYS_MS = (1, 5, 20)
USERS_PER_PATH = 8
RATE = 10  # messages/s per user: 80 msg/s per path, 400 in all, a fifth of what one Daphne answers here
MESSAGES_PER_CONNECTION = 3  # a reconnect every 0.3 s per user: enough handshakes that their p50 is sharp too
RUN_TIME = 20


@dataclass
class Relation:
    """One delay's check: the p50 through D against the baseline's p50 plus 2D."""

    metric: str
    delay_ms: float
    baseline_us: float
    measured_us: float
    count: int

    @property
    def expected_us(self) -> float:
        return self.baseline_us + 2 * self.delay_ms * 1000

    @property
    def tolerance_us(self) -> float:
        return max(0.03 * self.expected_us, 100.0)

    @property
    def error_us(self) -> float:
        return self.measured_us - self.expected_us

    @property
    def held(self) -> bool:
        return abs(self.error_us) <= self.tolerance_us

    def line(self) -> str:
        return (
            f"{self.metric:<8} D={self.delay_ms:>4g} ms: p50 {format_us(self.measured_us):>11} vs "
            f"{format_us(self.baseline_us)} + 2D = {format_us(self.expected_us):>11}: off by {self.error_us:+.0f} us "
            f"(tolerance {self.tolerance_us:.0f} us, {self.count} samples) {'held' if self.held else 'BROKEN'}"
        )


def p50(summary: dict, kind: str, path: str) -> tuple[float, int]:
    for row in summary["latency"]:
        if row["type"] == kind and row["name"] == f"room/{path}_[group]":
            return float(row["p50"]), int(row["count"])
    raise KeyError(f"no {kind} row for {path}: {[(r['type'], r['name']) for r in summary['latency']]}")


def echo_server() -> tuple[subprocess.Popen, int]:
    """benchmarks/echo.py on a free loopback port, ready."""
    port = launch.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.echo", str(port)], cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # READY
    return proc, port


def run(
    work: Path,
    delays_ms=DELAYS_MS,
    run_time: int = RUN_TIME,
    users_per_path: int = USERS_PER_PATH,
    daphne: bool = False,
) -> dict:
    """One witness run: its summary.json and the relations it shows."""
    if daphne:
        started = launch.spawn_daphne(work, backlog=1024)
        server, port = started.proc, started.port
    else:
        server, port = echo_server()
    proxies: list[subprocess.Popen] = []
    try:
        hosts = {"direct": f"ws://127.0.0.1:{port}"}
        for delay in (0, *delays_ms):
            proxy = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.delayproxy", "--upstream", f"127.0.0.1:{port}",
                 "--delay-ms", str(delay), "--seconds", str(run_time + 60)],
                cwd=ROOT, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            proxies.append(proxy)
            assert proxy.stdout is not None
            listens = int(proxy.stdout.readline().split()[-1])
            hosts[f"d{delay}"] = f"ws://127.0.0.1:{listens}"
        classes = ["Direct", *(f"D{delay}" for delay in (0, *delays_ms))]
        users = users_per_path * len(classes)
        argv = [sys.executable, "-m", "locust", "-f", "benchmarks/witnesslocust.py", *classes, "--headless",
                "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{run_time}s", "--ws-rate", str(RATE),
                "--ws-messages", str(MESSAGES_PER_CONNECTION), "--report-dir", str(work / "report"),
                "--ws-png-charts", "off"]  # fmt: skip
        env = {**os.environ, "WITNESS_HOSTS": json.dumps(hosts)}
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=run_time + 120)
        path = work / "report" / "summary.json"
        if not path.exists():
            sys.exit(f"bench-witness: the suite wrote no summary:\n{(done.stdout + done.stderr)[-3000:]}")
        summary = read_json(path)
    finally:
        for proxy in proxies:
            launch.stop(proxy)
        launch.stop(server, 10)
    relations = []
    for kind, metric in (("WS message", "message"), ("WS connect", "connect")):
        base, _ = p50(summary, kind, "d0")
        for delay in delays_ms:
            measured, count = p50(summary, kind, f"d{delay}")
            relations.append(Relation(metric, delay, base, measured, count))
    direct = {kind: p50(summary, kind, "direct")[0] for kind in ("WS message", "WS connect")}
    return {"summary": summary, "relations": relations, "direct": direct}


def main() -> int:
    daphne = "--daphne" in sys.argv[1:]
    server = "one Daphne" if daphne else "the picows echo server"
    print(
        f"{server}; proxies holding 0, {', '.join(map(str, DELAYS_MS))} ms; {USERS_PER_PATH} users per path at "
        f"{RATE} msg/s, a reconnect every {MESSAGES_PER_CONNECTION} messages, {RUN_TIME} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp:
        found = run(Path(tmp), daphne=daphne)
    counters = found["summary"]["counters"]
    direct = found["direct"]
    print(
        f"messages: {counters['ok']} ok, {counters['failed']} failed; direct p50: round trip "
        f"{format_us(direct['WS message'])}, handshake {format_us(direct['WS connect'])}"
    )
    for relation in found["relations"]:
        print(relation.line())
    relations = found["relations"]
    goal(
        "round trip and handshake through D read the D = 0 ones + 2D, within 3% or 100 us, at D = 1, 5, 20 ms",
        ", ".join(f"{r.metric} D={r.delay_ms:g}: {r.error_us:+.0f} us" for r in relations),
        all(r.held for r in relations) and not counters["failed"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
