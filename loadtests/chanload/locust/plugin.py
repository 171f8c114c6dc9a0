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
from chanload.locust import bucketing, drills, lastreport, leakwatch, preflight, shutdown, spawnargs, tally, webui
from chanload.locust.options import add_arguments
from chanload.recording import hlog, workers
from chanload.recording.counters import Ledger
from chanload.recording.delivery import merge_rooms
from chanload.recording.timeline import HOLD_SECONDS
from chanload.reporting import artifacts as report
from chanload.reporting import fingerprint, summary
from chanload.run import live, policy, recovery, slo
from chanload.run.settings import Settings, load_baseline, settings_from
from chanload.run.state import State, bind, state
from chanload.watch import metrics, resources

log = logging.getLogger("chanload")

# After the signal that stops a run, the next one is ignored and the one after aborts (chanload.locust.shutdown).
_guard = shutdown.Guard(policy.EXIT_ARTIFACTS, report.remove_pending)
spawnargs.install()  # a worker's spawn message no longer rebuilds Locust's parser once per option


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
                st.settings = settings_from(environment.parsed_options, environment.host or own_host(environment))
                check_user_classes(environment, st.settings)
            except OptionError as exc:
                log.error("%s", exc)
                gevent.spawn(environment.runner.quit)
        st.reset()
        if isinstance(environment.runner, MasterRunner):
            st.workers.joined(client.id for client in environment.runner.clients.ready)

    def on_report_to_master(client_id, data, **_kw):
        # Final once the worker has stopped its users: nothing of this run comes after it.
        final = environment.runner is not None and environment.runner.state == STATE_STOPPED
        data["chanload"] = policy.worker_payload(st, final=final)

    def on_worker_report(client_id, data, **_kw):
        shipped = data.get("chanload")
        if not shipped:
            return
        policy.take_worker_payload(st, client_id, shipped, time.time(), HOLD_SECONDS)

    def tick():
        # Once a second: sample open connections and this process's CPU, and (locally) fold finished slices
        # into the totals.
        cpu, wall = time.process_time(), time.monotonic()
        while True:
            gevent.sleep(1.0 - time.time() % 1.0)
            second = int(time.time())
            cpu_now, wall_now = time.process_time(), time.monotonic()
            runner = environment.runner
            if wall_now - wall >= 0.5:  # a shorter window (a clock step) would overstate one second's share
                source = "master" if isinstance(runner, MasterRunner) else "local"
                st.cpu((cpu_now - cpu) / (wall_now - wall), second - 1, source)  # the second it covers
            cpu, wall = cpu_now, wall_now
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
    finals = lastreport.install(environment)  # a master waits for each worker's last report before summing up
    if settings.slo_abort and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(watch_thresholds, environment)
    if not isinstance(environment.runner, WorkerRunner):
        watch(environment, st, finals)
    return st


def watch(environment, st: State, finals: lastreport.FinalReports | None = None) -> None:
    """The live views of a master or standalone process: the web UI's WebSockets tab, /metrics, and the watched
    resources (--watch, --watch-redis: opened now, OptionError if one cannot be)."""
    for w in resources.open_watches(st.settings):
        gevent.spawn(sample_resources, st, w)  # one greenlet each: a Redis slow to answer delays no other watch

    def read() -> live.View:
        master = isinstance(environment.runner, MasterRunner)
        users = environment.runner.user_count if environment.runner else 0
        return live.view(st, lambda: snapshot(environment), users, master)

    webui.attach(environment, st, read, lambda: finish(environment), finals)
    if st.settings.metrics_port:
        metrics.serve(lambda: (read(), st.aggregate), st.settings.metrics_host, st.settings.metrics_port)


def sample_resources(st: State, watch: resources.Watch) -> None:
    """Once a second, just after the second turns: one sample of `watch`, labelled with the second it covers."""
    gevent.sleep(1.0 - time.time() % 1.0 + resources.SAMPLE_OFFSET)
    resources.sample(watch, 0)  # the window since the watch opened is part of a second: a baseline only
    while True:
        gevent.sleep(1.0 - time.time() % 1.0 + resources.SAMPLE_OFFSET)
        second = int(time.time()) - 1
        st.resources.declare(watch.group, watch.name, watch.info)
        st.resources.add(watch.group, watch.name, resources.sample(watch, second))


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
    running = runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING)
    # A signal stopped it (a shape's run: Locust has stopped its runner before it quits, on Ctrl-C too).
    interrupted = running or _guard.signalled is not None
    if running:
        # Stop the users (in-flight messages are counted) and, on a master, collect the workers'
        # final reports, before anything is summed up.
        runner.quit()
    elif isinstance(runner, MasterRunner):
        finals = lastreport.install(environment)
        if finals is not None:
            finals.wait()  # a run stopped just before (web UI): its workers' last samples
    leakwatch.cool_down(environment, st)  # --watch-cooldown: the watched processes after the load
    result = snapshot(environment, status="completed")
    result.update(st.sections)  # e.g. the capacity finder's "capacity"
    recovery.attach(result, st.started, st.settings.thresholds)  # after drills: chanload.run.recovery
    leakwatch.attach(result, st)  # RSS growth of each --watch process: chanload.run.leaks
    ledger = Ledger.total([result["counters"]])
    lost = st.workers.lost(c.id for c in runner.clients.missing) if isinstance(runner, MasterRunner) else []
    if lost:
        result["workers_lost"] = lost
        result["counters"]["reconciles"] = False
        result["counters"]["not_reconciled"] = workers.describe(lost)
    result["status"] = policy.run_status(
        interrupted=interrupted, aborted_by=st.aborted_by, ledger=ledger, lost=bool(lost)
    )
    result["fingerprint"] = fingerprint.build(result["parameters"], st.generator_peak_cpu)
    results = slo.evaluate(
        st.settings.thresholds, result, st.baseline, lambda: hlog.parse(st.timeline.hlog.text(), "this run")
    )
    if st.baseline is not None:
        result["baseline"] = str(st.baseline.path)
    result["thresholds"] = slo.as_dicts(results)
    code = policy.exit_code(result)
    result["exit_code"] = code if code is not None else _locust_exit_code(environment)
    environment.process_exit_code = result["exit_code"]
    st.finished = result
    if st.settings.report_dir:
        outcome = report.write_all(
            st.settings.report_dir,
            result,
            failed_code=policy.EXIT_ARTIFACTS,
            png_charts=st.settings.png_charts,
            hlog=st.timeline.hlog,
        )
        _guard.written = outcome.complete
        if not outcome.complete:
            environment.process_exit_code = result["exit_code"] = policy.EXIT_ARTIFACTS
    return result


def _locust_exit_code(environment) -> int:
    """The code Locust gives a run chanload has no verdict on (its shutdown() rule): 1 on failures, else 0."""
    runner = environment.runner
    return policy.locust_exit_code(
        failures=runner is not None and bool(runner.errors or runner.exceptions),
        exit_code_on_error=int(getattr(environment.parsed_options, "exit_code_on_error", 1)),
        unhandled_exception=bool(locust_log.unhandled_greenlet_exception),
    )


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
        histograms=status != "running",
        resources=st.resources.to_dict(series=status != "running"),
    )


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
    # What each class really ran with: the command line's values over the class's, and its own pacing
    # (a class with its own wait_time does not run --ws-think: then `think` is null).
    classes = {
        u.__name__: u.describe(settings)
        for u in sorted(environment.user_classes, key=lambda u: u.__name__)
        if callable(getattr(u, "describe", None))
    }
    thinks = any(c["pacing"].startswith("think") for c in classes.values())
    return {
        "host": settings.host,
        "path": settings.path,
        "groups": settings.groups.spec if settings.groups else None,
        "payload": settings.payload.template if settings.payload else None,
        "expect": settings.expect.spec if settings.expect else None,
        "other": settings.other,
        "connect_timeout": settings.connect_timeout,
        "reply_timeout": settings.reply_timeout,
        "think": list(settings.think) if thinks else None,
        "rate": settings.rate,
        "arrivals": settings.arrivals if settings.rate else None,
        "messages_per_connection": settings.messages_per_connection,
        "reconnect": settings.reconnect.spec,  # --ws-reconnect; --ws-lifetime [MIN, MAX] s, or None
        "lifetime": list(settings.lifetime) if settings.lifetime else None,
        "users": getattr(opts, "num_users", None),
        "spawn_rate": getattr(opts, "spawn_rate", None),
        "run_time": getattr(opts, "run_time", None),
        "user_classes": sorted(u.__name__ for u in environment.user_classes),
        # The login's path and where its accounts came from: never a password, a cookie or a token.
        "login_url": settings.login_url,
        "login_cookie": settings.login_cookie if settings.login_url else None,
        "credentials": {"file": settings.accounts.source, "accounts": len(settings.accounts)}
        if settings.accounts
        else None,
        "classes": classes,
        "tls": summary.tls_parameters(settings.host, settings.ca_file, settings.insecure),
    }


@events.init_command_line_parser.add_listener
def _add_options(parser) -> None:
    add_arguments(parser)
    preflight.install(parser)


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    if environment.parsed_options is None:
        return
    host = environment.host or own_host(environment)
    if isinstance(environment.runner, WorkerRunner) and not host:
        host = "ws://placeholder"  # a worker gets --host from the master at test start
    try:
        settings = settings_from(environment.parsed_options, host)
        check_user_classes(environment, settings)
        worker = isinstance(environment.runner, WorkerRunner)
        baseline = None if worker else load_baseline(settings)
        # wss://: a certificate the users would all refuse stops the run now (a master or a local process:
        # a worker's host is the master's, checked there).
        refusal = None if worker else preflight.certificate_refusal(
            settings.host, settings.ca_file, settings.insecure, settings.connect_timeout
        )  # fmt: skip
        if refusal:
            raise OptionError(refusal)
        planned, drill_timeout = drills.read(environment.parsed_options, worker)  # taken out: never shipped
        st = attach(environment, settings)  # may bind --ws-metrics-port
        st.baseline = baseline
        drills.install(environment, st, planned, drill_timeout)
        if not worker:
            leakwatch.install(environment, st)  # watch:NAME thresholds need their --watch; --watch-cooldown
    except OptionError as exc:
        sys.stderr.write(f"chanload: error: {exc}\n")
        sys.exit(policy.EXIT_BAD_OPTION)
    if not isinstance(environment.runner, WorkerRunner):
        if settings.insecure:
            sys.stderr.write(f"chanload: {summary.INSECURE}\n")
        # A headless shape (the capacity finder) runs inside Locust's start, before Locust takes SIGTERM: take it now.
        _guard.install(sigterm=bool(environment.shape_class and getattr(environment.parsed_options, "headless", False)))
    # gevent's loop reads the clock only when it runs, and it has not run since Locust started: after a
    # startup slower than -t (a loaded machine), the run-time timer Locust starts next would be due at once.
    gevent.get_hub().loop.update_now()


def own_host(environment) -> str | None:
    """Without --host: the user classes' own `host` when every one has one (the first, for the summary).

    Locust gives --host to every class when it is given; otherwise each class keeps its own, and each user's
    session connects to its class's (WsUser.make_session).
    """
    classes = [c for c in environment.user_classes or () if not getattr(c, "abstract", False)]
    hosts = [getattr(c, "host", None) for c in classes]
    return hosts[0] if hosts and all(hosts) else None


def check_user_classes(environment, settings: Settings) -> None:
    """Let each user class refuse option values it cannot run with (its `check` classmethod), before load."""
    for user_class in environment.user_classes or ():
        check = getattr(user_class, "check", None)
        if callable(check):
            check(settings)
