"""Run `locust -f loadtests/ws.py` headless as a subprocess and collect what it recorded."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ROOT, UNIT, free_port, stop, wait_for_port


@dataclass
class LocustRun:
    code: int
    output: str
    report_dir: Path
    csv_prefix: Path

    @property
    def summary(self) -> dict:
        return json.loads((self.report_dir / "summary.json").read_text())

    def row(self, kind: str, name: str) -> dict:
        return latency_row(self.summary, kind, name)

    def stats(self) -> dict[tuple[str, str], dict]:
        """Locust's own final stats (--json-file), keyed by (type, name)."""
        entries = json.loads(Path(f"{self.csv_prefix}.json").read_text())
        return {(e["method"], e["name"]): e for e in entries}

    def csv_stats(self) -> dict[tuple[str, str], dict]:
        """Locust's stats CSV (rewritten every second, so it can miss the run's last second)."""
        with open(f"{self.csv_prefix}_stats.csv", newline="") as f:
            return {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}

    def failures(self) -> list[dict]:
        with open(f"{self.csv_prefix}_failures.csv", newline="") as f:
            return list(csv.DictReader(f))


def latency_row(summary: dict, kind: str, name: str) -> dict:
    """summary.json's latency row for (type, name); KeyError listing the rows there are."""
    for row in summary["latency"]:
        if row["type"] == kind and row["name"] == name:
            return row
    raise KeyError(f"no latency row for {kind} {name}: {[(r['type'], r['name']) for r in summary['latency']]}")


def run_locust(
    tmp_path: Path,
    host: str,
    *args: str,
    run_time: str = "3s",
    users: int = 5,
    timeout: float = 60,
    locustfile: Path = ROOT / "loadtests" / "ws.py",
    png_charts: str | None = "off",
) -> LocustRun:
    """One headless run of `locustfile` (loadtests/ws.py); extra `args` go to locust (user classes, --ws-* ...).

    `png_charts`: --ws-png-charts. Off by default here: drawing the PNGs costs about a second of CPU per run,
    and only the tests about them look at them; None passes no option (the users' default, on).
    """
    report_dir = tmp_path / "report"
    csv_prefix = tmp_path / "stats"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
        "--host", host, "-u", str(users), "-r", str(users), "-t", run_time, "--only-summary",
        "--report-dir", str(report_dir), "--csv", str(csv_prefix),
        "--json-file", str(csv_prefix), *png_option(png_charts), *args,  # locust appends .json
    ]  # fmt: skip
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout * UNIT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return LocustRun(proc.returncode, proc.stdout + proc.stderr, report_dir, csv_prefix)


# What a standalone or master Locust logs once its users are spawned; a loaded master whose workers report
# late says the second.
SPAWNED = r"All users spawned|Spawning is complete"


class Output:
    """A process's output (stdout, stderr merged into it), read line by line in a thread, to wait for a line."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> bool:
        """Whether a line matching `pattern` came within `timeout` seconds (x UNIT); False once the output ended."""
        deadline = time.monotonic() + timeout * UNIT
        seen = 0
        with self._changed:
            while True:
                if any(re.search(pattern, line) for line in self.lines[seen:]):
                    return True
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(min(left, 0.5))

    def text(self, timeout: float = 60) -> str:
        """All of it, once the process has ended (waits up to `timeout` seconds x UNIT)."""
        self.proc.wait(timeout * UNIT)
        self._thread.join(10 * UNIT)
        return "".join(self.lines)


def png_option(png_charts: str | None = "off") -> list[str]:
    """The --ws-png-charts arguments for a test's locust command line ([] for None: the default, on)."""
    return [] if png_charts is None else ["--ws-png-charts", png_charts]


@dataclass
class LiveLocust:
    """A locust process with its web UI (and maybe /metrics) up, started by `live_locust`."""

    proc: subprocess.Popen
    web_port: int
    log: Path
    report_dir: Path

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def summary(self) -> dict:
        return json.loads((self.report_dir / "summary.json").read_text())


@contextlib.contextmanager
def live_locust(tmp_path: Path, *args: str, name: str = "locust") -> Iterator[LiveLocust]:
    """`locust -f loadtests/ws.py ARGS` with its web UI on a free port until the block ends (then SIGTERM)."""
    web_port = free_port()
    report_dir = tmp_path / f"{name}-report"
    log = tmp_path / f"{name}.log"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ws.py"),
        "--web-host", "127.0.0.1", "--web-port", str(web_port), "--report-dir", str(report_dir), *png_option(),
        *args,
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        wait_for_port(web_port, proc, 30 * UNIT)
        yield LiveLocust(proc, web_port, log, report_dir)
    finally:
        stop(proc, timeout=15)
