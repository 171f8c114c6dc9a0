"""At the end of a distributed run, the master waits for every worker's last report before summing up.

Locust's `MasterRunner.quit()` sends `quit` to the workers, then waits a fixed 0.5 s for their final
stats before it stops listening (locust/runners.py; the delay is called arbitrary in
locustio/locust#1025, and reports lost to it in locustio/locust#1426). A worker that is busy stopping
its users can take longer. Its last seconds then miss Locust's stats and chanload's merged results,
and nothing says so. A test saw a master keep 43 of a worker's 150 messages.

Each worker marks the report it sends once it has stopped (`final` in chanload's part of the report,
set by the plugin: nothing it records later exists). The master's `quit` waits for that report from
every worker it still hears from, for at most `stop_timeout` + FINAL_REPORT_WAIT seconds. A worker
that has gone missing is not waited for (`chanload.recording.workers` names it as lost). The same wait,
with the same limit, serves a run stopped from the web UI (summed up when it stops) and a process told
to quit after such a stop: one rule, `chanload.run.policy.awaited_workers`.
"""

from __future__ import annotations

from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner

import time
import weakref

import gevent

from chanload.run import policy

_LOCUST_WAIT = 0.5  # what Locust's own quit() waits; the workers' reports cannot come sooner
_POLL = 0.05


class FinalReports:
    """A master's record of each worker's latest final report, and the one wait for them."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.finals: dict[str, float] = {}  # worker id -> when its latest final report arrived (monotonic)
        self.stopped_at = float("-inf")  # when the latest run stopped (monotonic)

    def collect(self, client_id, data, **_kw) -> None:
        if (data.get("chanload") or {}).get("final"):
            self.finals[str(client_id)] = time.monotonic()

    def stopped(self, **_kw) -> None:
        self.stopped_at = time.monotonic()

    def awaited(self, since: float) -> set[str]:
        """Connected workers (not missing) whose final report has not come since `since`."""
        runner = self.environment.runner
        connected = (str(c.id) for c in runner.clients.all if c.state != STATE_MISSING)
        return policy.awaited_workers(connected, self.finals, since)

    def wait(self, since: float | None = None) -> None:
        """Wait until every connected worker's final report has come since `since` (default: the last stop).

        Bounded by --stop-timeout plus `policy.FINAL_REPORT_WAIT`; a worker still silent then is
        named as lost when the run is summed up.
        """
        since = self.stopped_at if since is None else since
        until = policy.deadline(self.environment.stop_timeout, since if since > float("-inf") else None)
        while self.awaited(since) and time.monotonic() < until:
            gevent.sleep(_POLL)


_installed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def install(environment) -> FinalReports | None:
    """On a master: record final reports, and make `quit` wait for them. None for a worker or a local runner."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return None
    reports = _installed.get(environment)
    if reports is not None:
        return reports
    reports = _installed[environment] = FinalReports(environment)
    environment.events.worker_report.add_listener(reports.collect)
    environment.events.test_stop.add_listener(reports.stopped)
    # Locust's own quit waits a fixed 0.5 s for the last reports.
    runner.quit = waiting_quit(runner, reports)  # type: ignore[method-assign]
    return reports


def waiting_quit(runner: MasterRunner, reports: FinalReports):
    """MasterRunner.quit, waiting for the workers' last reports instead of a fixed 0.5 s."""

    def quit() -> None:
        runner.stop(send_stop_to_client=False)
        asked = time.monotonic()  # only reports sent after `quit` count
        for client in runner.clients.all:
            runner.server.send_to_client(Message("quit", None, client.id))
        gevent.sleep(_LOCUST_WAIT)
        reports.wait(asked)
        runner.greenlet.kill(block=True)

    return quit
