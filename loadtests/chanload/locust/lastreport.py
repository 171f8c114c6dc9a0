"""At the end of a distributed run, the master waits for every worker's last report before summing up.

Locust's `MasterRunner.quit()` sends `quit` to the workers, then waits a fixed 0.5 s for their final
stats before it stops listening (locust/runners.py; the delay is called arbitrary in
locustio/locust#1025, and reports lost to it in locustio/locust#1426). A worker that is busy stopping
its users can take longer. Its last seconds then miss Locust's stats and chanload's merged results,
and nothing says so. A test saw a master keep 43 of a worker's 150 messages.

Each worker marks the report it sends once it has stopped (`final` in chanload's part of the report,
set by the plugin: nothing it records later exists). The master's `quit` waits for that report from
every worker it still hears from, for at most `stop_timeout` + FINAL_REPORT_WAIT seconds. A worker
that has gone missing is not waited for (`chanload.recording.workers` names it as lost).
"""

from __future__ import annotations

from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner

import time
from collections.abc import Callable

import gevent

FINAL_REPORT_WAIT = 10.0  # seconds beyond --stop-timeout; Locust itself waits 0.5 s
_LOCUST_WAIT = 0.5


def install(environment) -> None:
    """Make a master wait for the workers' last reports; nothing for a worker or a local runner."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        finals: set[str] = set()

        def collect(client_id, data, **_kw) -> None:
            if (data.get("chanload") or {}).get("final"):
                finals.add(client_id)

        environment.events.worker_report.add_listener(collect)
        timeout = float(environment.stop_timeout or 0) + FINAL_REPORT_WAIT
        runner.quit = waiting_quit(runner, finals, timeout)


def pending(runner: MasterRunner, finals: set[str]) -> set[str]:
    """Workers still connected and heard from whose last report has not arrived."""
    return {c.id for c in runner.clients.all if c.state != STATE_MISSING} - finals


def waiting_quit(runner: MasterRunner, finals: set[str], timeout: float) -> Callable[[], None]:
    """MasterRunner.quit, waiting for the workers' last reports instead of a fixed 0.5 s."""

    def quit() -> None:
        runner.stop(send_stop_to_client=False)
        finals.clear()  # only reports sent after `quit` count
        for client in runner.clients.all:
            runner.server.send_to_client(Message("quit", None, client.id))
        deadline = time.monotonic() + timeout
        gevent.sleep(_LOCUST_WAIT)
        while pending(runner, finals) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        runner.greenlet.kill(block=True)

    return quit
