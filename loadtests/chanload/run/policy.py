"""The run's rules as plain functions: its status, the process exit code, what a worker ships, whom a master awaits.

`chanload.locust.plugin` only wires Locust's events to these; each is unit-tested in-process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chanload.recording.counters import Ledger
from chanload.recording.latency import Slice
from chanload.run.state import State

# Exit codes. Locust's own: 0 success, 1 failed requests (without thresholds), 2 its errors.
EXIT_BAD_OPTION = 2  # as argparse: a wrong option, before any load starts
EXIT_THRESHOLDS = 3  # a --slo threshold failed (or aborted the run)
EXIT_INTERRUPTED = 4  # SIGINT / SIGTERM before the end; artifacts are written, marked interrupted
EXIT_TARGET_DOWN = 5  # the target was unreachable, or went down during the run
EXIT_ARTIFACTS = 6  # the artifacts could not all be written (a full disk), or a third signal aborted the writing
EXIT_WORKER_LOST = 7  # a worker died mid-run: its results after its last report are missing

# How long a master waits for every worker's last report, beyond --stop-timeout (Locust itself waits a fixed
# 0.5 s). A worker ships its last samples with the report it sends once its users have stopped, which
# comes with its next periodic report (every 3 s) at the latest.
FINAL_REPORT_WAIT = 10.0


@dataclass(frozen=True)
class Status:
    """One run status: its name in summary.json, the report's banner, and why JUnit's `run completed` fails."""

    name: str
    banner: str  # report.html; {host} is filled in
    junit: str  # the failure message of JUnit's `run completed` case ("" when it passes)
    exit_code: int | None  # None: thresholds decide, else Locust's rule (1 on failures)
    severity: str  # "ok", "warn" or "fail": the colour it is shown in


STATUSES: dict[str, Status] = {
    s.name: s
    for s in (
        Status("completed", "", "", None, "ok"),
        Status(
            "interrupted",
            "Interrupted: the run was stopped before its planned end (a signal or a stop request). Everything "
            "below covers only the part that ran.",
            "run interrupted before its end (SIGINT, SIGTERM or a stop); results cover only part of it",
            EXIT_INTERRUPTED,
            "warn",
        ),
        Status(
            "aborted",
            "Aborted: a threshold was certain to fail, so the run was stopped early (--slo-abort). Everything "
            "below covers only the part that ran.",
            "run aborted early: a threshold was certain to fail (--slo-abort)",
            None,  # the failed threshold sets the exit code (3)
            "fail",
        ),
        Status(
            "target_unreachable",
            "Target unreachable: the suite could not connect to {host}, so no load reached the system under "
            "test. Check that the target is up and that --host is right.",
            "target unreachable: every connection was refused",
            EXIT_TARGET_DOWN,
            "fail",
        ),
        Status(
            "target_down",
            "Target down: connections to {host} were refused after its last OK reply, so the target went down "
            "during the run. The results after that moment are failures.",
            "target went down during the run: connections were refused after its last OK reply",
            EXIT_TARGET_DOWN,
            "fail",
        ),
        Status(
            "worker_lost",
            "Worker lost: a worker stopped reporting before the end of the run. What it did after its last "
            "report is missing, so the counters below are not reconciled (see not_reconciled).",
            "a worker was lost mid-run",
            EXIT_WORKER_LOST,
            "fail",
        ),
    )
}
RUNNING = "running"  # a live view's status, before the run is summed up


def status_of(name: str) -> Status:
    """The Status called `name`; an unknown one (a newer summary) is shown as a failure, never as passing."""
    known = STATUSES.get(name)
    if known is not None:
        return known
    return Status(name, f"Run status: {name}. The results below may be incomplete.", f"run ended with status {name!r}",
                  None, "fail")  # fmt: skip


def run_status(*, interrupted: bool, aborted_by: str | None, ledger: Ledger, lost: bool) -> str:
    """How the run ended, first cause first: a stop before the end, an abort, the target, a lost worker."""
    if interrupted:
        return "interrupted"
    if aborted_by:
        return "aborted"
    if ledger.connects == 0 and ledger.last_refused_at > 0:
        return "target_unreachable"
    if ledger.target_down:
        return "target_down"
    if lost:
        return "worker_lost"
    return "completed"


def exit_code(result: Mapping) -> int | None:
    """The process exit code chanload sets for a summed-up run, or None to leave it to Locust's rule."""
    code = status_of(str(result["status"])).exit_code
    if code is not None:
        return code
    if result["thresholds"]:
        # With thresholds, they are the gate: failed requests count through fail_ratio thresholds.
        return EXIT_THRESHOLDS if not all(t["passed"] for t in result["thresholds"]) else 0
    return None


def locust_exit_code(*, failures: bool, exit_code_on_error: int, unhandled_exception: bool) -> int:
    """Locust's own rule (its `shutdown()`), for a run chanload has no verdict on: 1 on failures, else 0."""
    if failures:
        return exit_code_on_error
    return 2 if unhandled_exception else 0


def worker_payload(st: State, *, final: bool) -> dict:
    """What a worker adds to each report to the master; `final` once its users have stopped.

    Slices, gauges and the per-second CPU are shipped once each; the counters are absolute snapshots, so a
    lost report costs nothing but time.
    """
    cpu = [(s["second"], s["cpu"]) for s in st.resources.source("generator", "local").since(st.cpu_shipped)]
    if cpu:
        st.cpu_shipped = cpu[-1][0]
    payload = {
        "slices": [piece.encode() for piece in st.recorder.drain()],
        "gauges": st.gauges[:],
        "ledger": st.ledger.snapshot(),
        "delivery": st.delivery.snapshot(),
        "clamped": st.recorder.clamped,
        "peak_cpu": st.peak_cpu,
        "cpu": cpu,
        "final": final,
    }
    st.gauges.clear()
    return payload


def take_worker_payload(st: State, client_id: str, shipped: Mapping, now: float, hold_seconds: int) -> None:
    """A master merges a worker's payload: slices into the run, gauges into the timeline, the latest snapshots."""
    st.take([Slice.decode(row) for row in shipped["slices"]])
    for second, value in shipped["gauges"]:
        st.timeline.gauge(second, client_id, value)
    st.worker_ledgers[client_id] = {**shipped["ledger"], "clamped": shipped["clamped"]}
    st.worker_delivery[client_id] = shipped["delivery"]
    st.worker_cpu[client_id] = max(st.worker_cpu.get(client_id, 0.0), float(shipped.get("peak_cpu", 0.0)))
    for second, share in shipped.get("cpu", ()):
        st.generator_cpu(client_id, int(second), float(share))
    st.timeline.seal(int(now) - hold_seconds)
    st.workers.reported(client_id, now, bool(shipped.get("final", False)))


def awaited_workers(connected: Iterable[str], finals: Mapping[str, float], since: float) -> set[str]:
    """Workers still connected whose final report (the one sent after their users stopped) came before `since`.

    `finals`: worker id -> when its latest final report arrived (time.monotonic()).
    """
    return {w for w in connected if finals.get(w, float("-inf")) < since}


def deadline(stop_timeout: float | None, now: float | None = None) -> float:
    """When a master stops waiting for final reports: --stop-timeout, then FINAL_REPORT_WAIT, from `now`."""
    start = time.monotonic() if now is None else now
    return start + float(stop_timeout or 0) + FINAL_REPORT_WAIT
