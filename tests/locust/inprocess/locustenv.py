"""Run chanload's users in this process: a Locust Environment with a local runner, as Locust's own tests do.

`run_users` does what `locust --headless -u N -r N -t S` does between start and exit, minus the process:
the suite's options parsed and validated as on the command line, chanload attached to the Environment,
the users started at once, stopped after `seconds` (Locust's --run-time stop), then Locust's quitting and
quit events (chanload sums up, judges and prints its table). The Locust statistics it reads are the ones
the process would write: `--json-file` is `serialize_stats()`, the CSV files are `StatsCSV`'s.
"""

from __future__ import annotations

from locust import User
from locust import log as locust_log
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

import argparse
import contextlib
import csv
import io
import time
from dataclasses import dataclass

import gevent

from chanload.locust import plugin
from chanload.locust.options import add_arguments
from chanload.run.settings import Settings, settings_from
from tests.locustrun import latency_row


def parse(host: str, *args: str) -> Settings:
    """The suite's --ws-* options as the command line gives them, validated (OptionError names a wrong one)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(list(args)), host)


@dataclass
class InProcessRun:
    environment: Environment
    summary: dict  # what summary.json holds
    code: int  # the exit code the locust process would have
    output: str  # what chanload printed at the end (its table, the messages line)
    stop_seconds: float  # how long stopping the users took
    stats: dict[tuple[str, str], dict]  # --json-file, keyed by (type, name)
    csv: dict[str, str]  # the CSV files' content: requests_csv, failures_csv

    def row(self, kind: str, name: str) -> dict:
        return latency_row(self.summary, kind, name)

    def csv_stats(self) -> dict[tuple[str, str], dict]:
        """Locust's stats CSV (--csv PREFIX, PREFIX_stats.csv) as of the end of the run."""
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(io.StringIO(self.csv["requests_csv"]))}

    def failures(self) -> list[dict]:
        """Locust's failures CSV (PREFIX_failures.csv)."""
        return list(csv.DictReader(io.StringIO(self.csv["failures_csv"])))


def run_users(
    host: str,
    *args: str,
    user_classes: tuple[type[User], ...] | None = None,
    users: int = 5,
    seconds: float = 1.0,
    stop_timeout: float | None = None,
) -> InProcessRun:
    """Users of `user_classes` (RoomUser) against `host` for `seconds`; `args` are --ws-* options."""
    if user_classes is None:
        from ws import RoomUser  # loadtests/ws.py, as `locust -f loadtests/ws.py` runs it

        user_classes = (RoomUser,)
    settings = parse(host, *args)
    env = Environment(user_classes=list(user_classes), host=host, stop_timeout=stop_timeout)
    env.create_local_runner()
    st = plugin.attach(env, settings)
    plugin.check_user_classes(env, settings)
    locust_log.unhandled_greenlet_exception = False
    env.runner.start(users, spawn_rate=users * 100)  # at once: the run's length is the users' time
    gevent.sleep(seconds)
    started = time.monotonic()
    env.runner.quit()  # what --run-time does when it expires
    stop_seconds = time.monotonic() - started
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        env.events.quitting.fire(environment=env, reverse=True)
        code = _exit_code(env)
        env.events.quit.fire(exit_code=code)
    tables = {}
    for table in ("requests_csv", "failures_csv"):
        buffer = io.StringIO()
        getattr(StatsCSV(env, PERCENTILES_TO_REPORT), table)(csv.writer(buffer))
        tables[table] = buffer.getvalue()
    # Last: Locust's --json-file content (serialize_stats() clears the rows it reports, as Locust does at exit).
    stats = {(e["method"], e["name"]): e for e in env.stats.serialize_stats()}
    return InProcessRun(env, st.finished, code, out.getvalue(), stop_seconds, stats, tables)


def _exit_code(env: Environment) -> int:
    # Locust's main(): the code an extension set, else 1 on failures, 2 on an unhandled greenlet exception.
    if env.process_exit_code is not None:
        return env.process_exit_code
    if env.runner.errors or env.runner.exceptions:
        return 1
    return 2 if locust_log.unhandled_greenlet_exception else 0
