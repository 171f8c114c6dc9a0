"""Drills (`--drill 'AT COMMAND'`) run at their time into each run, on the master or a standalone process only.

A drill runs a command on this machine, so it is taken only from the command line or a config file: `read` takes
the option out of the parsed options once it is read, so that a master never ships it to its workers (Locust sends
every parsed option with each spawn message), a worker given one ignores it, and the web UI's form may not set it
(`chanload.locust.webui` refuses a start form that names it).

Each command runs in a shell of its own process group, its output (stdout and stderr) into a temporary file of
which the last `TAIL_BYTES` are kept; the run waits for the shell to exit, not for its output to close, so a
command that starts a server in the background (`... &`) returns at once. One still running after
--drill-timeout, or when the run ends, is stopped with its group. What each did goes into summary.json's `drills`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import time

import gevent
import gevent.subprocess

from chanload.processes import stop_group
from chanload.run import drills as plan
from chanload.run.state import State

log = logging.getLogger("chanload")

# The options a drill is made of: never from the web UI's form, never shipped to a worker.
OPTIONS = ("drill", "drill_timeout")


def add_arguments(group, add) -> None:
    """Register --drill and --drill-timeout in `group` with `add` (chanload.locust.options': kept off the form)."""
    add(
        group,
        "--drill",
        action="append",
        default=[],
        metavar="'AT COMMAND'",
        web_ui=False,
        help="Run COMMAND in a local shell AT seconds into the run, repeatable, e.g. --drill '20s kill -TERM 4321' "
        "(AT: 20, 20s, 1.5s, 2m, 1m30s). Its time, exit code and output's last 2 KB go into the summary and "
        "report; a command that fails is reported and the run goes on. Command line or config file only: the web "
        "UI's form refuses it, and workers never run it (the master does).",
    )
    add(
        group,
        "--drill-timeout",
        type=float,
        default=60.0,
        web_ui=False,
        help="Seconds a --drill command may run before it and its process group are stopped (reported as timed "
        "out). Default: 60.",
    )


def read(options, worker: bool) -> tuple[tuple[plan.Drill, ...], float]:
    """The drills and their timeout from the parsed options (OptionError for a wrong one), then taken out of them.

    On a worker: none, whatever it was given (the master runs them), with a warning when it was given some.
    """
    given = list(getattr(options, "drill", None) or [])
    timeout = plan.timeout(getattr(options, "drill_timeout", plan.TIMEOUT))
    if options is not None and hasattr(options, "drill"):
        options.drill = []  # Locust ships vars(parsed_options) to workers with every spawn message
    if worker:
        if given:
            log.warning("--drill is run by the master only: this worker ignores its %d drill(s)", len(given))
        return (), timeout
    return plan.parse_all(given), timeout


class Runs:
    """Runs the drills of each run of one environment (a web UI starts several), from its test_start."""

    def __init__(self, st: State, drills: tuple[plan.Drill, ...], timeout: float) -> None:
        self.st = st
        self.drills = drills
        self.timeout = timeout
        self.entries: list[dict] = []
        self._greenlets: list[gevent.Greenlet] = []

    def start(self, **_kw) -> None:
        """Schedule every drill of the run that starts now (after the plugin's test_start has reset the state)."""
        self.stop()
        self.entries = [plan.pending(d) for d in self.drills]
        self.st.sections["drills"] = self.entries  # summary.json's `drills`, filled in as they run
        started = self.st.started
        for i, drill in enumerate(self.drills):
            delay = max(0.0, started + drill.at - time.time())
            self._greenlets.append(gevent.spawn_later(delay, self.run, i, drill, started))

    def stop(self, **_kw) -> None:
        """The run ended: drills not yet run stay "not run"; one still running is stopped with its group."""
        greenlets, self._greenlets = self._greenlets, []
        gevent.killall(greenlets, block=True, timeout=15)

    def run(self, i: int, drill: plan.Drill, run_started: float) -> None:
        begun = time.time()
        log.warning("drill at %gs: running %s", drill.at, drill.command)
        code: int | None = None
        with tempfile.TemporaryFile() as out:
            try:
                proc = gevent.subprocess.Popen(
                    drill.command,
                    shell=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: a timeout stops what it started too
                )
            except OSError as exc:  # no shell to run it in, say
                self._done(i, drill, run_started, begun, None, f"could not start: {exc}", "failed")
                return
            try:
                code = proc.wait(self.timeout)
                outcome = plan.outcome_of(code)
            except subprocess.TimeoutExpired:
                outcome = "timed out"
                code = stop_group(proc, 2.0, group=True)
            except gevent.GreenletExit:  # the run ended while it ran
                self._done(i, drill, run_started, begun, stop_group(proc, 2.0, group=True), _tail(out), "stopped")
                raise
            self._done(i, drill, run_started, begun, code, _tail(out), outcome)

    def _done(
        self, i: int, drill: plan.Drill, run_started: float, begun: float, code: int | None, output: str, outcome: str
    ) -> None:
        seconds = time.time() - begun
        self.entries[i] = plan.record(drill, begun - run_started, seconds, code, output, outcome)
        level = logging.INFO if outcome == "ok" else logging.ERROR
        log.log(
            level, "drill at %gs: %s (exit code %s) after %.2fs: %s", drill.at, outcome, code, seconds, drill.command
        )


def _tail(out) -> str:
    out.flush()
    size = os.fstat(out.fileno()).st_size
    out.seek(max(0, size - plan.TAIL_BYTES))
    return plan.tail(out.read())


def install(environment, st: State, drills: tuple[plan.Drill, ...], timeout: float) -> Runs | None:
    """Run `drills` in every run of `environment` (none: nothing is installed)."""
    if not drills:
        return None
    runs = Runs(st, drills, timeout)
    environment.events.test_start.add_listener(runs.start)
    environment.events.test_stop.add_listener(runs.stop)
    environment.events.quitting.add_listener(runs.stop)
    return runs
