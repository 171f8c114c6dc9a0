"""Wires chanload into Locust: options, recording, worker shipping, and the end-of-run summary.

Importing this module registers its listeners on `locust.events` (the locustfile does it);
`attach(environment, settings)` does the same for an Environment built in code (tests).
"""

from __future__ import annotations

from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

import logging
import sys
import time

import gevent

from chanload import bucketing, report, slo, summary, tally
from chanload.counters import Ledger
from chanload.delivery import merge_rooms
from chanload.latency import Slice
from chanload.messages import OptionError
from chanload.options import Settings, add_arguments, settings_from
from chanload.state import State, bind, state
from chanload.timeline import HOLD_SECONDS

log = logging.getLogger("chanload")

# Exit codes. Locust's own: 0 success, 1 failed requests (without thresholds), 2 its errors.
EXIT_BAD_OPTION = 2  # as argparse: a wrong option, before any load starts
EXIT_THRESHOLDS = 3  # a --slo threshold failed (or aborted the run)
EXIT_INTERRUPTED = 4  # SIGINT / SIGTERM before the end; artifacts are written, marked interrupted
EXIT_TARGET_DOWN = 5  # the target was unreachable, or went down during the run


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

    def on_report_to_master(client_id, data, **_kw):
        data["chanload"] = {
            "slices": [piece.encode() for piece in st.recorder.drain()],
            "gauges": st.gauges[:],
            "ledger": st.ledger.snapshot(),
            "delivery": st.delivery.snapshot(),
            "clamped": st.recorder.clamped,
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
                print(f"chanload: artifacts in {st.settings.report_dir}", flush=True)

    # Requests reach Locust's stats and the recorder without an event per message while nobody else
    # listens to `request` (chanload.tally); with another listener, every message fires the event.
    st.fire = reporter = tally.Reporter(environment, st, on_request)
    reporter.attach(ev)
    ev.request.add_listener(on_request)
    ev.quit.add_listener(on_quit)
    ev.test_start.add_listener(on_test_start)
    ev.report_to_master.add_listener(on_report_to_master)
    ev.worker_report.add_listener(on_worker_report)
    ev.quitting.add_listener(on_quitting)
    gevent.spawn(tick)
    if settings.slo_abort and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(watch_thresholds, environment)
    return st


def finish(environment) -> dict:
    """End the run if it still runs (SIGTERM, Ctrl-C), then sum up, judge and write artifacts, once."""
    st = state(environment)
    if st.finished is not None:
        return st.finished
    runner = environment.runner
    interrupted = runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING)
    if interrupted:
        # Stop the users (in-flight messages are counted) and, on a master, collect the workers'
        # final reports, before anything is summed up.
        runner.quit()
    result = snapshot(environment, status="completed")
    ledger = Ledger.total([result["counters"]])
    if interrupted:
        result["status"] = "interrupted"
    elif st.aborted_by:
        result["status"] = "aborted"
    elif ledger.connects == 0 and ledger.last_refused_at > 0:
        result["status"] = "target_unreachable"
    elif ledger.target_down:
        result["status"] = "target_down"
    results = slo.evaluate(st.settings.thresholds, result)
    result["thresholds"] = slo.as_dicts(results)
    result["exit_code"] = exit_code(result)
    if result["exit_code"] is not None:
        environment.process_exit_code = result["exit_code"]
    st.finished = result
    if st.settings.report_dir:
        report.write_all(st.settings.report_dir, result)
    return result


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
    except OptionError as exc:
        sys.stderr.write(f"chanload: error: {exc}\n")
        sys.exit(EXIT_BAD_OPTION)
    attach(environment, settings)


def check_user_classes(environment, settings: Settings) -> None:
    """Let each user class refuse option values it cannot run with (its `check` classmethod), before load."""
    for user_class in environment.user_classes or ():
        check = getattr(user_class, "check", None)
        if callable(check):
            check(settings)
