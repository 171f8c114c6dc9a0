"""The run as of now, for watchers: one view that the web UI tab and the Prometheus exporter both read.

`view()` takes the live summary (`chanload.locust.plugin.snapshot`, merged from the workers on a master, or
the final summary once the run has finished) and adds what only a running process knows: users,
open connections, and every threshold judged on the data so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chanload.run import slo
from chanload.run.state import State

Snapshot = Callable[[], dict]


@dataclass
class View:
    """What a watcher sees: the summary so far, plus live gauges and threshold verdicts."""

    summary: dict
    users: int
    open_connections: int
    thresholds: list[dict]


def view(st: State, snapshot: Snapshot, users: int, master: bool) -> View:
    """The live view of a run; after it finished, its final summary (kept until the next run starts)."""
    summary = st.finished if st.finished is not None else snapshot()
    if st.finished is not None:
        thresholds = summary.get("thresholds") or []
    else:
        thresholds = slo.as_dicts(slo.evaluate(st.settings.thresholds, summary, st.baseline))
    return View(
        summary=summary,
        users=users,
        open_connections=st.timeline.latest_connections() if master else st.open_connections,
        thresholds=thresholds,
    )


def in_flight(counters: dict) -> int:
    """Messages sent and not answered yet: what `in_flight` will count if the users stop now."""
    return counters["sent"] - counters["ok"] - counters["failed"]
