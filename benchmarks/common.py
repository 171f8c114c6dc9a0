"""Shared pieces of the benchmarks: the target, load-generator processes, CPU windows, the goal line.

Every benchmark measures the same way: start one Daphne on a free 127.0.0.1 port, start a load
generator as a subprocess, wait until it reports its connections open plus a warm-up, then take a
measurement window aligned to whole wall-clock seconds. CPU (user + system) of the target and of
the generator is read from /proc (psutil) at both edges of the window, so interpreter start-up,
connection set-up and shutdown are not counted; round trips are counted per wall-clock second by
each generator and summed over the same seconds.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scripts.with_target import TARGET, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtests" / "ws.py"
MESSAGE = "WS message"
ROUTE = "room/[group]"
PAYLOAD = "hello"  # the suite's default message for echo users; the bare client and probe send the same
EXPECT = "OK"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads, not its children), in seconds."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class Target:
    """The reference target: `daphne chatroom.asgi:application` on a free loopback port, always stopped."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"ws://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="chanload-bench-target-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DJANGO_DB_PATH", str(Path(tempfile.gettempdir()) / "chanload-bench.sqlite3"))
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=TARGET, env=env, check=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "chatroom.asgi:application"],
                cwd=TARGET,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.port, self.proc)
        return self

    def __exit__(self, *_exc) -> None:
        if self.proc is not None:
            stop(self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Generator:
    """A load generator subprocess whose output is read by a thread; `ready` is set on a marker line."""

    def __init__(self, argv: Sequence[str], marker: str, name: str) -> None:
        self.name = name
        self.marker = marker
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.marker in line:
                self.ready.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self.ready.wait(timeout):
            stop(self.proc)
            sys.exit(f"{self.name} did not start within {timeout:.0f}s; its output:\n{self.output()}")

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the generator to end by itself (its own run time), then return its exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc)
            code = self.proc.returncode
        self._reader.join(5)
        return code

    def output(self) -> str:
        return "".join(self.lines[-40:])


@dataclass
class Window:
    """A measurement window of whole wall-clock seconds [first, end) with CPU per process over it."""

    first: int
    end: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> int:
        return self.end - self.first

    def count(self, per_second: dict[int, int]) -> int:
        """Events counted per wall-clock second, summed over this window."""
        return sum(n for second, n in per_second.items() if self.first <= second < self.end)


def measure(pids: dict[str, int], seconds: int, warmup: float, during: Callable[[], None] | None = None) -> Window:
    """Wait `warmup`, align to the next whole second, then read CPU of `pids` at both edges of the window."""
    time.sleep(warmup)
    first = int(time.time()) + 1
    _sleep_until(first)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if during is not None:
        during()
    _sleep_until(first + seconds)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return Window(first, first + seconds, {name: after[name] - before[name] for name in pids})


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def locust_argv(host: str, report_dir: str, *, users: int, run_time: int, extra: Sequence[str] = ()) -> list[str]:
    """The suite as a user runs it: `locust -f loadtests/ws.py RoomUser --headless`, all users at once."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "RoomUser",
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users * 10),  # all users within 0.1 s: the window starts on a steady load
        "--run-time",
        f"{run_time}s",
        "--stop-timeout",
        "2",
        "--report-dir",
        report_dir,
        "--loglevel",
        "INFO",
        *extra,
    ]


LOCUST_READY = "All users spawned"


def suite_per_second(summary: dict, kind: str = MESSAGE) -> dict[int, int]:
    """Successful samples per wall-clock second for `kind` on the echo route, from summary.json's timeline."""
    out: dict[int, int] = {}
    for point in summary["timeline"]["latency"]:
        if point["kind"] == kind and point["name"] == ROUTE:
            out[point["second"]] = out.get(point["second"], 0) + point["count"]
    return out


def suite_row(summary: dict, kind: str = MESSAGE) -> dict:
    for row in summary["latency"]:
        if row["type"] == kind and row["name"] == ROUTE:
            return row
    sys.exit(f"summary.json has no ({kind!r}, {ROUTE!r}) row; the suite's run failed?")


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (as HdrHistogram reports it): the smallest value >= pct% of the samples."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(len(sorted_values) * pct / 100))
    return sorted_values[rank - 1]


def cpu_line(label: str, cpu: float, seconds: float, per: int) -> str:
    """`label: 4.12 s CPU in 10 s (41% of a core), 123.4 us per round trip`."""
    per_rt = f", {cpu / per * 1e6:.1f} us per round trip" if per else ""
    return f"{label}: {cpu:.2f} s CPU in {seconds:g} s ({cpu / seconds * 100:.0f}% of a core){per_rt}"


def goal(what: str, figure: str, passed: bool) -> None:
    """The last line of every benchmark."""
    print(f"GOAL {what}: {figure} -> {'PASS' if passed else 'FAIL'}", flush=True)
