"""The live view: thresholds judged on the data so far, the finished run kept, open connections by role."""

from __future__ import annotations

from chanload.run import slo
from chanload.run.live import in_flight, view
from chanload.run.settings import Settings
from chanload.run.state import State


def summary(ok: int, status: str = "running") -> dict:
    counters = {"sent": ok + 2, "ok": ok, "failed": 1, "in_flight": 0, "connects": 1, "connect_failures": 0}
    row = {"type": "WS message", "name": "room/[group]", "metric": "message", "count": ok, "failures": 1}
    row |= {"p50": 400, "p90": 800, "p95": 900, "p99": 2000, "p99_9": 3000, "min": 100, "max": 5000, "mean": 500.0}
    return {"status": status, "latency": [row], "counters": counters, "delivery": None, "duration_s": 10.0}


def test_thresholds_are_judged_on_the_snapshot():
    """A running view evaluates every --slo threshold on the current summary."""
    st = State(Settings(host="ws://x", thresholds=tuple(slo.parse_all(["message:p99<1ms", "message:count>5"]))))
    live = view(st, lambda: summary(10), users=3, master=False)
    assert [(t["expr"], t["passed"]) for t in live.thresholds] == [
        ("message:p99<1ms", False),
        ("message:count>5", True),
    ]
    assert live.users == 3


def test_a_finished_run_is_shown_as_it_ended():
    """Once finished, the view is the final summary (its own threshold results); the snapshot is not taken."""
    st = State(Settings(host="ws://x"))
    st.finished = {**summary(7, "completed"), "thresholds": [{"expr": "x", "passed": True}]}

    def never():
        raise AssertionError("a finished run must not be re-summed")

    live = view(st, never, users=0, master=False)
    assert live.summary is st.finished and live.thresholds == [{"expr": "x", "passed": True}]


def test_open_connections_local_or_summed_over_workers():
    """Standalone: this process's count; master: each worker's latest reading, summed."""
    st = State(Settings(host="ws://x"))
    st.open_connections = 4
    assert view(st, lambda: summary(1), users=0, master=False).open_connections == 4
    st.timeline.gauge(100, "w1", 3)
    st.timeline.gauge(101, "w1", 5)
    st.timeline.gauge(100, "w2", 2)
    assert view(st, lambda: summary(1), users=0, master=True).open_connections == 7


def test_in_flight_is_what_is_not_answered_yet():
    """sent - ok - failed."""
    assert in_flight(summary(10)["counters"]) == 1
