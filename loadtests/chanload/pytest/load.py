"""`chanload_load`: a headless Locust load from a pytest test, run in a subprocess, judged by its thresholds.

Part of the pytest plugin (`chanload.pytest.plugin` registers this module). Locust never runs in the pytest
process: it monkey-patches the standard library with gevent on import. The load goes to the test's
`channels_live_server`, or to a `host=` given, on loopback only; the subprocess is bounded by a timeout
derived from `run_time`, and its whole process group is stopped if it overruns. It dies with the pytest
process too, even one killed with no teardown (Linux: PR_SET_PDEATHSIG, see `_dies_with`).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chanload.exceptions import OptionError
from chanload.processes import stop_group
from chanload.pytest.database import django_db
from chanload.pytest.launcher import die_with_parent, libc_prctl
from chanload.pytest.server import LiveServer, log_from_now

# Beyond run_time: Locust's start, the users' stop, the artifacts (report.html) and the interpreter's exit.
TIMEOUT_MARGIN = 60.0
LOADS = pytest.StashKey[list["LoadResult"]]()


@dataclass(frozen=True)
class Row:
    """One latency row of summary.json (microseconds; None where nothing was recorded)."""

    type: str
    name: str
    count: int
    failures: int
    p50: int | None
    p90: int | None
    p95: int | None
    p99: int | None
    p99_9: int | None
    max: int | None


@dataclass
class LoadResult:
    """What a `chanload_load` run left: its exit code, summary.json, the artifacts' folder and its console output."""

    exit_code: int
    summary: dict
    report_dir: Path
    output: str
    command: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """The run completed and every threshold held (chanload's exit code 0; without thresholds: no failures)."""
        thresholds = self.summary.get("thresholds") or []
        return (
            self.exit_code == 0 and self.summary.get("status") == "completed" and all(t["passed"] for t in thresholds)
        )

    @property
    def thresholds(self) -> list[dict]:
        """Each threshold: expr, passed, detail (summary.json's list)."""
        return list(self.summary.get("thresholds") or [])

    @property
    def counters(self) -> dict:
        """sent, ok, failed, in_flight, connects, ... (summary.json's `counters`)."""
        return dict(self.summary.get("counters") or {})

    @property
    def delivery(self) -> dict | None:
        """Broadcast delivery (total and per room: expected, delivered, missing, duplicated, reordered), or None."""
        return self.summary.get("delivery")

    def row(self, type: str, name: str | None = None) -> Row:
        """The latency row of `type` ("WS message", or its metric "message") and `name` (None: the only one)."""
        rows = [r for r in self.summary.get("latency", []) if type in (r["type"], r.get("metric"))]
        if name is not None:
            rows = [r for r in rows if r["name"] == name]
        if len(rows) != 1:
            there = [(r["type"], r["name"]) for r in self.summary.get("latency", [])]
            what = "no" if not rows else f"{len(rows)}"
            hint = "; give name=" if len(rows) > 1 else ""
            raise LookupError(f"{what} latency rows for type {type!r}, name {name!r}{hint}: the rows are {there}")
        r = rows[0]
        return Row(r["type"], r["name"], r["count"], r["failures"], r["p50"], r["p90"], r.get("p95"), r["p99"],
                   r["p99_9"], r["max"])  # fmt: skip

    def describe(self) -> str:
        """A failing test's report section: the command, the exit code, where the artifacts are, the summary."""
        from chanload.reporting.summary import render

        lines = [
            f"chanload load: exit code {self.exit_code}, artifacts in {self.report_dir}",
            f"command: {shlex.join(self.command)}",
        ]
        if self.summary:
            lines.append(render(self.summary))
        else:
            lines.append("no summary.json was written; the load's output ends:\n" + self.output[-3000:])
        return "\n".join(lines)


def loopback_host(host: str) -> str:
    """`host` (ws://HOST:PORT[/...]) if it is on loopback; OptionError otherwise (load goes to 127.0.0.1 only)."""
    parts = urllib.parse.urlsplit(host)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise OptionError(f"chanload_load host={host!r}: give a websocket URL, e.g. ws://127.0.0.1:8000")
    name = parts.hostname
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise OptionError(
            f"chanload_load host={host!r}: load from a test goes to loopback only (127.0.0.1, ::1 or localhost); "
            "load a remote system with `locust` itself, deliberately"
        )
    return host


def seconds(run_time: str | float) -> float:
    """Locust's run time ("10s", "1m30s", "1h", or a number of seconds) in seconds; OptionError if malformed."""
    if isinstance(run_time, int | float) and not isinstance(run_time, bool):
        if run_time > 0:
            return float(run_time)
    elif isinstance(run_time, str):
        match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", run_time)
        if match and any(match.groups()):
            h, m, s = (int(g or 0) for g in match.groups())
            if h * 3600 + m * 60 + s > 0:
                return float(h * 3600 + m * 60 + s)
    raise OptionError(f"chanload_load run_time={run_time!r}: give seconds or Locust's form, e.g. 10s, 1m30s")


def locust_target(target: str | os.PathLike, where: Sequence[Path], folder: Path) -> tuple[Path, list[str]]:
    """The locustfile to run and the user classes to name: a locustfile path as it is, or for a dotted class
    path (`myproject.loadtests.ChatUser`) a one-line locustfile importing it, written into `folder`."""
    text = os.fspath(target)
    if text.endswith(".py") or os.sep in text or isinstance(target, os.PathLike):
        path = Path(text)
        candidates = [path] if path.is_absolute() else [base / path for base in where]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.resolve(), []
        raise OptionError(f"chanload_load: no locustfile {text!r} (looked in {[str(c) for c in candidates]})")
    module, _, cls = text.rpartition(".")
    if not module or not cls.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise OptionError(
            f"chanload_load target={text!r}: give a locustfile path (ending in .py) or a user class by dotted path, "
            "e.g. myproject.loadtests.ChatUser"
        )
    folder.mkdir(parents=True, exist_ok=True)
    locustfile = folder / "chanload_target.py"
    locustfile.write_text(f'"""Written by chanload_load: runs {text}."""\n\nfrom {module} import {cls}  # noqa: F401\n')
    return locustfile, [cls]


def _option_list(name: str, value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return shlex.split(value) if name == "options" else [value]
    return [str(v) for v in value]


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the load's process group (chanload writes its artifacts, exit 4), then SIGKILL what is left."""
    stop_group(proc, 20.0, kill_timeout=5.0, group=True)


def _dies_with(parent: int) -> Callable[[], object] | None:
    """A preexec_fn: the load gets SIGTERM when the pytest process dies, even with no teardown (kill -9).

    Linux's PR_SET_PDEATHSIG, which fires when the parent *thread* that started the load exits: pytest runs
    tests, and so this, in its main thread. None (nothing to do) elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_prctl()  # looked up here: the child, between fork and exec, only calls it
    return functools.partial(die_with_parent, parent)


def run_load(
    target: str | os.PathLike,
    *,
    host: str,
    users: int,
    spawn_rate: float,
    run_time: str | float,
    options: str | Sequence[str] = (),
    slo: str | Sequence[str] = (),
    report_dir: Path,
    where: Sequence[Path] = (),
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> LoadResult:
    """One headless `locust` run in a subprocess, bounded by run_time + TIMEOUT_MARGIN; its LoadResult."""
    loopback_host(host)
    duration = seconds(run_time)
    if not isinstance(users, int) or isinstance(users, bool) or users < 1:
        raise OptionError(f"chanload_load users={users!r}: give a whole number of users, 1 or more")
    if not isinstance(spawn_rate, int | float) or isinstance(spawn_rate, bool) or spawn_rate <= 0:
        raise OptionError(f"chanload_load spawn_rate={spawn_rate!r}: give users started per second, above 0")
    locustfile, classes = locust_target(target, [*where, Path.cwd()], report_dir.parent / "locustfile")
    extra = _option_list("options", options)
    thresholds = [arg for expr in _option_list("slo", slo) for arg in ("--slo", expr)]
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), *classes, "--headless", "--host", host,
        "-u", str(users), "-r", f"{spawn_rate:g}", "-t", f"{duration:g}s", "--only-summary",
        "--report-dir", str(report_dir), "--ws-png-charts", "off", *extra, *thresholds,
    ]  # fmt: skip
    timeout = duration + TIMEOUT_MARGIN
    log = report_dir.parent / "locust-output.txt"
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env={**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole on a timeout
            preexec_fn=_dies_with(os.getpid()),
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            output = log.read_text(errors="replace")
            pytest.fail(
                f"chanload_load: the load did not end within {timeout:g} s (run_time {duration:g} s + "
                f"{TIMEOUT_MARGIN:g} s); it was stopped. Command: {shlex.join(command)}\nIts output ends:\n"
                f"{output[-3000:]}",
                pytrace=False,
            )
        finally:
            if proc.poll() is None:  # interrupted (KeyboardInterrupt): never leave the load running
                _stop_group(proc)
    output = log.read_text(errors="replace")
    summary_file = report_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return LoadResult(code, summary, report_dir, output, command)


@pytest.fixture
def chanload_load(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., LoadResult]]:
    """Run a headless load: `chanload_load(target, *, users, spawn_rate, run_time, options=(), slo=(), host=None)`.

    `target`: a locustfile path (relative to the test's folder or the rootdir) or a user class by dotted path.
    Without `host=`, the load goes to `channels_live_server` (started then). Returns a LoadResult; each
    run's artifacts stay under the test's tmp_path, and a failing test's report shows them.
    """
    runs = request.node.stash.setdefault(LOADS, [])
    count = 0

    def load(
        target: str | os.PathLike,
        *,
        users: int,
        spawn_rate: float,
        run_time: str | float,
        options: str | Sequence[str] = (),
        slo: str | Sequence[str] = (),
        host: str | None = None,
    ) -> LoadResult:
        nonlocal count
        if host is None:
            host = _live_server(request).url
        count += 1
        folder = tmp_path / f"chanload-load-{count}"
        where = [request.path.parent, request.config.rootpath]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(_import_path())}
        result = run_load(target, host=host, users=users, spawn_rate=spawn_rate, run_time=run_time, options=options,
                          slo=slo, report_dir=folder / "report", where=where, cwd=request.config.rootpath,
                          env=env)  # fmt: skip
        runs.append(result)
        return result

    yield load


def _live_server(request: pytest.FixtureRequest) -> LiveServer:
    """The plugin's channels_live_server, asked for now; with a Django database, this test's is transactional
    first (what it writes is committed, so that the server, another process, sees it), as for its other users."""
    if django_db(request.config):
        request.getfixturevalue("transactional_db")
    live: LiveServer = request.getfixturevalue("channels_live_server")
    log_from_now(request.node, live)  # a failing test's report shows the server's log during its loads
    return live


def _import_path() -> list[str]:
    """The test process's import path (the rootdir, pytest's `pythonpath`): the load imports what the test can."""
    seen: dict[str, None] = {}
    for entry in [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]:
        if entry and os.path.isdir(entry):
            seen.setdefault(os.path.abspath(entry), None)
    return list(seen)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test that ran loads gets a report section per load: its verdict, summary and artifacts."""
    report = yield
    if report.failed and call.when == "call":
        loads: list[LoadResult] = item.stash.get(LOADS, [])
        for i, result in enumerate(loads, 1):
            report.sections.append((f"chanload load {i}", result.describe()))
    return report
