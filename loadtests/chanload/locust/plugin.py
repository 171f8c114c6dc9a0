"""Wires chanload into Locust: options, recording, worker shipping, and the end-of-run summary.

Importing this module registers its listeners on `locust.events` (the locustfile does it);
`attach(environment, settings)` does the same for an Environment built in code (tests).
"""

from __future__ import annotations

from locust import events
from locust import log as locust_log
from locust.runners import STATE_RUNNING, STATE_SPAWNING, STATE_STOPPED, MasterRunner, WorkerRunner

import logging
import sys
import time

import gevent

from chanload.exceptions import OptionError
from chanload.locust import bucketing, lastreport, preflight, shutdown, tally, webui
from chanload.locust.options import add_arguments
from chanload.recording import workers
from chanload.recording.counters import Ledger
from chanload.recording.delivery import merge_rooms
from chanload.recording.latency import Slice
from chanload.recording.timeline import HOLD_SECONDS
from chanload.reporting import artifacts as report
from chanload.reporting import summary
from chanload.run import live, slo
from chanload.run.settings import Settings, settings_from
from chanload.run.state import State, bind, state
from chanload.watch import metrics

log = logging.getLogger("chanload")

# Exit codes. Locust's own: 0 success, 1 failed requests (without thresholds), 2 its errors.
EXIT_BAD_OPTION = 2  # as argparse: a wrong option, before any load starts
EXIT_THRESHOLDS = 3  # a --slo threshold failed (or aborted the run)
EXIT_INTERRUPTED = 4  # SIGINT / SIGTERM before the end; artifacts are written, marked interrupted
EXIT_TARGET_DOWN = 5  # the target was unreachable, or went down during the run
EXIT_ARTIFACTS = 6  # the artifacts could not all be written (a full disk), or a third signal aborted the writing
EXIT_WORKER_LOST = 7  # a worker died mid-run: its results after its last report are missing

# After the signal that stops a run, the next one is ignored and the one after aborts (chanload.locust.shutdown).
_guard = shutdown.Guard(EXIT_ARTIFACTS, report.remove_pending)


def attach(environment, settings: Settings) -> State:
    """Set chanload up on `environment`: listeners on its events, a 1 s ticker, the summary at the end."""
    st, new = bind(environment, settings)
    if not new:
        return st
    bucketing.install()
    ev = environment.events

    def on_request(request_type, name, response_time, exception=None, **_kw):
        if exception is None and response_time is not None:
            st.recorder.record(request_type, name, response_time / 1000.0)
        elif exception is not None:
            st.recorder.fail(request_type, name)

    def on_test_start(environment, **_kw):
        if environment.parsed_options is not None:
            try:  # options may have changed since init (web UI form, or the master's on a worker)
                st.settings = settings_from(environment.parsed_options, environment.host)
                check_user_classes(environment, st.settings)
            except OptionError as exc:
                log.error("%s", exc)
                gevent.spawn(environment.runner.quit)
        st.reset()
        if isinstance(environment.runner, MasterRunner):
            st.workers.joined(client.id for client in environment.runner.clients.ready)

    def on_report_to_master(client_id, data, **_kw):
        data["chanload"] = {
            "slices": [piece.encode() for piece in st.recorder.drain()],
            "gauges": st.gauges[:],
            "ledger": st.ledger.snapshot(),
            "delivery": st.delivery.snapshot(),
            "clamped": st.recorder.clamped,
            # Sent after the worker stopped its users: nothing of this run comes after it.
            "final": environment.runner is not None and environment.runner.state == STATE_STOPPED,
        }
        st.gauges.clear()

    def on_worker_report(client_id, data, **_kw):
        shipped = data.get("chanload")
        if not shipped:
            return
        st.take([Slice.decode(row) for row in shipped["slices"]])
        for second, value in shipped["gauges"]:
            st.timeline.gauge(second, client_id, value)
        st.worker_ledgers[client_id] = {**shipped["ledger"], "clamped": shipped["clamped"]}
        st.worker_delivery[client_id] = shipped["delivery"]
        st.timeline.seal(int(time.time()) - HOLD_SECONDS)
        st.workers.reported(client_id, time.time(), shipped.get("final", False))

    def tick():
        # Once a second: sample open connections, and (locally) fold finished slices into the totals.
        while True:
            gevent.sleep(1.0 - time.time() % 1.0)
            second = int(time.time())
            runner = environment.runner
            if isinstance(runner, WorkerRunner):
                st.gauges.append((second, st.open_connections))
            elif not isinstance(runner, MasterRunner):
                st.timeline.gauge(second, "local", st.open_connections)
                st.take(st.recorder.drain())
                st.timeline.seal(second - 1)

    def on_quitting(environment, **_kw):
        if not isinstance(environment.runner, WorkerRunner):
            finish(environment)

    def on_quit(**_kw):
        # After Locust's own tables, so ours is the last thing on screen.
        if st.finished is not None:
            print(summary.render(st.finished), flush=True)
            if st.settings.report_dir:
                print(report.status_line(st.settings.report_dir, st.finished.get("artifacts")), flush=True)

    # Requests reach Locust's stats and the recorder without an event per message while nobody else
    # listens to `request` (chanload.locust.tally); with another listener, every message fires the event.
    st.fire = reporter = tally.Reporter(environment, st, on_request)
    reporter.attach(ev)
    ev.request.add_listener(on_request)
    ev.quit.add_listener(on_quit)
    ev.test_start.add_listener(on_test_start)
    ev.report_to_master.add_listener(on_report_to_master)
    ev.worker_report.add_listener(on_worker_report)
    ev.quitting.add_listener(on_quitting)
    gevent.spawn(tick)
    lastreport.install(environment)  # a master waits for each worker's last report before summing up
    if settings.slo_abort and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(watch_thresholds, environment)
    if not isinstance(environment.runner, WorkerRunner):
        watch(environment, st)
    return st


def watch(environment, st: State) -> None:
    """The live views of a master or standalone process: the web UI's WebSockets tab, and /metrics."""

    def read() -> live.View:
        master = isinstance(environment.runner, MasterRunner)
        users = environment.runner.user_count if environment.runner else 0
        return live.view(st, lambda: snapshot(environment), users, master)

    webui.attach(environment, st, read, lambda: finish(environment), isinstance(environment.runner, MasterRunner))
    if st.settings.metrics_port:
        metrics.serve(lambda: (read(), st.aggregate), st.settings.metrics_host, st.settings.metrics_port)


def finish(environment) -> dict:
    """End the run if it still runs (SIGTERM, Ctrl-C), then sum up, judge and write artifacts, once."""
    st = state(environment)
    if st.finished is not None:
        return st.finished
    if environment.parsed_options is None:  # an Environment driven from code: leave its signals alone
        return _finish(environment, st)
    with _guard.ending(f"the artifacts in {st.settings.report_dir}" if st.settings.report_dir else "the summary"):
        return _finish(environment, st)


def _finish(environment, st: State) -> dict:
    runner = environment.runner
    interrupted = runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING)
    if interrupted:
        # Stop the users (in-flight messages are counted) and, on a master, collect the workers'
        # final reports, before anything is summed up.
        runner.quit()
    elif isinstance(runner, MasterRunner):
        _await_final_reports(runner, st)  # a run stopped just before (web UI): its workers' last samples
    result = snapshot(environment, status="completed")
    result.update(st.sections)  # e.g. the capacity finder's "capacity"
    ledger = Ledger.total([result["counters"]])
    lost = st.workers.lost(c.id for c in runner.clients.missing) if isinstance(runner, MasterRunner) else []
    if lost:
        result["workers_lost"] = lost
        result["counters"]["reconciles"] = False
        result["counters"]["not_reconciled"] = workers.describe(lost)
    if interrupted:
        result["status"] = "interrupted"
    elif st.aborted_by:
        result["status"] = "aborted"
    elif ledger.connects == 0 and ledger.last_refused_at > 0:
        result["status"] = "target_unreachable"
    elif ledger.target_down:
        result["status"] = "target_down"
    elif lost:
        result["status"] = "worker_lost"
    results = slo.evaluate(st.settings.thresholds, result)
    result["thresholds"] = slo.as_dicts(results)
    code = exit_code(result)
    result["exit_code"] = code if code is not None else _locust_exit_code(environment)
    environment.process_exit_code = result["exit_code"]
    st.finished = result
    if st.settings.report_dir:
        outcome = report.write_all(st.settings.report_dir, result, failed_code=EXIT_ARTIFACTS)
        _guard.written = outcome.complete
        if not outcome.complete:
            environment.process_exit_code = result["exit_code"] = EXIT_ARTIFACTS
    return result


def _locust_exit_code(environment) -> int:
    """The code Locust gives a run chanload has no verdict on (its shutdown() rule): 1 on failures, else 0."""
    runner = environment.runner
    if runner is not None and (runner.errors or runner.exceptions):
        return int(getattr(environment.parsed_options, "exit_code_on_error", 1))
    return 2 if locust_log.unhandled_greenlet_exception else 0


def _await_final_reports(runner: MasterRunner, st: State, timeout: float = 9.0) -> None:
    """Wait (bounded) until every worker still connected has sent its final report.

    A worker ships its last samples with its next periodic report (every 3 s) after its users stop;
    a master told to quit right after a stop would otherwise sum up without them and take the
    workers for lost.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = {c.id for c in runner.clients.missing}
        if all(w["worker"] in missing for w in st.workers.lost(missing)):
            return
        gevent.sleep(0.1)


def snapshot(environment, status: str = "running") -> dict:
    """The run's summary as of now (the aggregate holds what has been drained or reported)."""
    st = state(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        ledger = Ledger.total(list(st.worker_ledgers.values()))
        rooms = merge_rooms(list(st.worker_delivery.values()))
        clamped = sum(int(s.get("clamped", 0)) for s in st.worker_ledgers.values())
    else:
        st.take(st.recorder.drain())
        ledger = st.ledger
        rooms = merge_rooms([st.delivery.snapshot()])
        clamped = st.recorder.clamped
    return summary.build(
        aggregate=st.aggregate,
        ledger=ledger,
        rooms=rooms,
        timeline=st.timeline.to_dict() if status != "running" else {},
        parameters=_parameters(environment, st.settings),
        status=status,
        started=st.started,
        clamped=clamped,
    )


def exit_code(result: dict) -> int | None:
    """The process exit code chanload sets, or None to leave it to Locust (1 on any failure, else 0)."""
    if result["status"] == "interrupted":
        return EXIT_INTERRUPTED
    if result["status"] in ("target_unreachable", "target_down"):
        return EXIT_TARGET_DOWN
    if result["status"] == "worker_lost":
        return EXIT_WORKER_LOST
    if result["thresholds"]:
        # With thresholds, they are the gate: failed requests count through fail_ratio thresholds.
        return EXIT_THRESHOLDS if not all(t["passed"] for t in result["thresholds"]) else 0
    return None


def watch_thresholds(environment) -> None:
    """--slo-abort: every 2 s, stop the run once a threshold can no longer pass."""
    st = state(environment)
    while True:
        gevent.sleep(2.0)
        runner = environment.runner
        if runner is None or runner.state not in (STATE_SPAWNING, STATE_RUNNING):
            continue
        current = snapshot(environment)
        doomed = [t for t in st.settings.thresholds if slo.certain_to_fail(t, current)]
        if doomed:
            st.aborted_by = doomed[0].expr
            log.error("threshold %s is certain to fail: stopping the run (--slo-abort)", doomed[0].expr)
            runner.quit()
            return


def _parameters(environment, settings: Settings) -> dict:
    opts = environment.parsed_options
    return {
        "host": settings.host,
        "path": settings.path,
        "groups": settings.groups.spec if settings.groups else None,
        "payload": settings.payload.template if settings.payload else None,
        "expect": settings.expect.spec if settings.expect else None,
        "other": settings.other,
        "connect_timeout": settings.connect_timeout,
        "reply_timeout": settings.reply_timeout,
        "think": list(settings.think),
        "rate": settings.rate,
        "messages_per_connection": settings.messages_per_connection,
        "users": getattr(opts, "num_users", None),
        "spawn_rate": getattr(opts, "spawn_rate", None),
        "run_time": getattr(opts, "run_time", None),
        "user_classes": sorted(u.__name__ for u in environment.user_classes),
    }


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    add_arguments(parser)
    preflight.install(parser)


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    if environment.parsed_options is None:
        return
    host = environment.host
    if isinstance(environment.runner, WorkerRunner) and not host:
        host = "ws://placeholder"  # a worker gets --host from the master at test start
    try:
        settings = settings_from(environment.parsed_options, host)
        check_user_classes(environment, settings)
        attach(environment, settings)  # may bind --ws-metrics-port
    except OptionError as exc:
        sys.stderr.write(f"chanload: error: {exc}\n")
        sys.exit(EXIT_BAD_OPTION)
    if not isinstance(environment.runner, WorkerRunner):
        _guard.install()


def check_user_classes(environment, settings: Settings) -> None:
    """Let each user class refuse option values it cannot run with (its `check` classmethod), before load."""
    for user_class in environment.user_classes or ():
        check = getattr(user_class, "check", None)
        if callable(check):
            check(settings)
