"""Shared pieces of the benchmarks: the target, load-generator processes, CPU windows, the goal line.

Every benchmark measures the same way: one Daphne on a free 127.0.0.1 port, load generators as
subprocesses, and a measurement window of whole wall-clock seconds that opens once every generator
has its connections up plus a warm-up. CPU (user + system) of each process is read from /proc
(psutil) at both edges of the window, so interpreter start-up, imports, connection set-up and
shutdown are not counted; each generator counts its round trips per wall-clock second, and the
benchmark sums them over the same seconds.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# `python -m benchmarks.X` from the repository root, as the Makefile runs them: chanload lives in loadtests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))

from chanload.processes import stop_group
from chanload.recording.types import MESSAGE  # the suite's request type for one echo round trip
from scripts.with_target import TARGET, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtests" / "ws.py"
ROUTE = "room/[group]"
LOCUST_READY = "All users spawned"  # Locust's log line once every user is started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads, not its children), in seconds."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` (its process group too, if it leads one)."""
    stop_group(proc, timeout, kill_timeout=None)


def pinned(cpus: set[int] | None, priority: int = 0):
    """A Popen preexec_fn: confine the child (and every thread it starts) to `cpus`, at nice `priority`."""
    if not cpus and not priority:
        return None

    def setup() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if priority:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, priority)
            except PermissionError:
                pass  # not root: the child runs at the default priority; Generator.priority says so

    return setup


class Target:
    """The reference target: `daphne chatroom.asgi:application` on a free loopback port, always stopped."""

    def __init__(self, cpus: set[int] | None = None, env: dict[str, str] | None = None) -> None:
        self.cpus = cpus
        self.extra_env = env or {}
        self.port = free_port()
        self.host = f"ws://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        env.setdefault("DJANGO_DB_PATH", str(Path(tempfile.gettempdir()) / "chanload-bench.sqlite3"))
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=TARGET, env=env, check=True)
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "chatroom.asgi:application"]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, cwd=TARGET, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=pinned(self.cpus)
        )
        wait_for(self.port, self.proc)
        return self

    def __exit__(self, *_exc) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Generator:
    """A load generator subprocess; a thread reads its output and sets `ready` on a marker line."""

    def __init__(
        self,
        argv: Sequence[str],
        marker: str,
        name: str,
        cpus: set[int] | None = None,
        priority: int = 0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.marker = name, marker
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.lifetime_cpu = 0.0  # user+sys over the whole process, known once it has ended
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=pinned(cpus, priority),
        )
        self.priority = os.getpriority(os.PRIO_PROCESS, self.proc.pid) if priority else 0
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
        """Wait for the generator to end by itself (its own run time); return its exit code."""
        before = _children_cpu()  # reaping this child adds exactly its lifetime CPU to RUSAGE_CHILDREN
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(self.proc)
            code = self.proc.returncode
        self.lifetime_cpu = _children_cpu() - before
        self._reader.join(5)
        return code

    def output(self) -> str:
        return "".join(self.lines[-40:])


@dataclass
class Window:
    """A measurement window of whole wall-clock seconds [first, end), with CPU per process over it."""

    first: int
    end: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> int:
        return self.end - self.first

    def count(self, per_second: dict[int, int]) -> int:
        """Events counted per wall-clock second, summed over this window."""
        return sum(n for second, n in per_second.items() if self.first <= second < self.end)


def measure(pids: dict[str, int], seconds: int, warmup: float) -> Window:
    """Wait `warmup`, align to the next whole second, then read CPU of `pids` at both edges of the window."""
    time.sleep(warmup)
    first = int(time.time()) + 1
    _sleep_until(first)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    _sleep_until(first + seconds)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return Window(first, first + seconds, {name: after[name] - before[name] for name in pids})


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


@dataclass
class Phase:
    """One generator's measured run: round trips and CPU over its window."""

    name: str
    window: Window
    round_trips: int
    summary: dict | None = None  # the suite's summary.json

    @property
    def rate(self) -> float:
        return self.round_trips / self.window.seconds


def start_suite(
    host: str,
    report: Path,
    *,
    users: int,
    run_time: int,
    extra: Sequence[str] = (),
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
) -> Generator:
    """The suite as a user runs it: `locust -f loadtests/ws.py RoomUser --headless`, all users at once."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "RoomUser", "--headless", "--only-summary"]
    argv += ["--host", host, "--users", str(users), "--run-time", f"{run_time}s", "--report-dir", str(report)]
    # All users within 0.1 s, so the load is steady well before a window opens.
    argv += ["--spawn-rate", str(users * 10), "--stop-timeout", "2", "--loglevel", "INFO", *extra]
    return Generator(argv, LOCUST_READY, "suite (locust)", cpus, env=env)


def finish_suite(gen: Generator, window: Window, report: Path) -> Phase:
    """Wait for the suite to end by its run time; its round trips in `window` come from summary.json."""
    code = gen.finish()
    path = report / "summary.json"
    if not path.exists():
        sys.exit(f"the suite wrote no summary (exit code {code}):\n{gen.output()}")
    summary = read_json(path)
    counters = summary["counters"]
    if counters["failed"] or counters["connect_failures"]:
        sys.exit(f"the suite saw failures: {counters}\n{gen.output()}")
    return Phase("suite", window, window.count(suite_per_second(summary)), summary)


def suite_phase(
    target: Target,
    users: int,
    extra: Sequence[str],
    *,
    warmup: float,
    window: int,
    tmp: Path,
    cpus: set[int] | None = None,
) -> Phase:
    """The suite alone against the target."""
    report = tmp / f"suite-{time.monotonic_ns()}"
    run_time = math.ceil(warmup + window + 2)
    gen = start_suite(target.host, report, users=users, run_time=run_time, extra=extra, cpus=cpus)
    gen.wait_ready()
    return finish_suite(gen, measure({"target": target.pid, "generator": gen.proc.pid}, window, warmup), report)


def start_bare(host: str, connections: int, seconds: float, out: Path, cpus: set[int] | None = None) -> Generator:
    argv = [sys.executable, "-m", "benchmarks.bare", host, "--connections", str(connections)]
    return Generator([*argv, "--seconds", f"{seconds:g}", "--out", str(out)], "READY", "bare client", cpus)


def bare_per_second(out: Path) -> dict[int, int]:
    data = read_json(out)
    if data["errors"]:
        sys.exit(f"the bare client got {data['errors']} wrong replies")
    return {int(second): n for second, n in data["per_second"].items()}


def bare_phase(
    target: Target, connections: int, *, warmup: float, window: int, tmp: Path, cpus: set[int] | None = None
) -> Phase:
    """The bare asyncio client alone against the target, flat out."""
    out = tmp / f"bare-{time.monotonic_ns()}.json"
    gen = start_bare(target.host, connections, warmup + window + 1.5, out, cpus)
    gen.wait_ready()
    win = measure({"target": target.pid, "generator": gen.proc.pid}, window, warmup)
    if gen.finish() != 0:
        sys.exit(f"the bare client failed:\n{gen.output()}")
    return Phase("bare asyncio", win, win.count(bare_per_second(out)))


def suite_per_second(summary: dict, kind: str = MESSAGE) -> dict[int, int]:
    """Successful samples per wall-clock second for `kind` on the echo route, from summary.json's timeline."""
    out: dict[int, int] = {}
    for point in summary["timeline"]["latency"]:
        if point["kind"] == kind and point["name"] == ROUTE:
            out[point["second"]] = out.get(point["second"], 0) + point["count"]
    return out


def suite_row(summary: dict, kind: str = MESSAGE) -> dict:
    """summary.json's latency row for (`kind`, room/[group]): count, p50 ... max in microseconds."""
    for row in summary["latency"]:
        if row["type"] == kind and row["name"] == ROUTE:
            return row
    sys.exit(f"summary.json has no ({kind!r}, {ROUTE!r}) row; did the suite's run fail?")


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile, as HdrHistogram reports it: the smallest value >= pct% of the samples."""
    if not sorted_values:
        raise ValueError("no samples")
    return sorted_values[max(1, math.ceil(len(sorted_values) * pct / 100)) - 1]


def cpu_line(label: str, cpu: float, seconds: float, per: int) -> str:
    """`label: 4.12 s CPU in 10 s (41% of a core), 123.4 us per round trip`."""
    per_rt = f", {cpu / per * 1e6:.1f} us per round trip" if per else ""
    return f"{label}: {cpu:.2f} s CPU in {seconds:g} s ({cpu / seconds * 100:.0f}% of a core){per_rt}"


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def placement() -> tuple[set[int] | None, set[int] | None]:
    """(target CPUs, client CPUs): CPU 0 and CPU 1 on a machine with two or more, unless CHANLOAD_BENCH_PIN=0."""
    if os.environ.get("CHANLOAD_BENCH_PIN", "1") == "1" and len(os.sched_getaffinity(0)) >= 2:
        return {0}, {1}
    return None, None


def goal(what: str, figure: str, passed: bool) -> None:
    """The last line of every benchmark: `GOAL <what>: <figure> -> PASS|FAIL`."""
    print(f"GOAL {what}: {figure} -> {'PASS' if passed else 'FAIL'}", flush=True)
