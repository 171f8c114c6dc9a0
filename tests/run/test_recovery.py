"""Recovery after a drill, from a made-up per-second timeline; its thresholds in the --slo grammar."""

from __future__ import annotations

import pytest

from chanload.exceptions import OptionError
from chanload.run import slo
from chanload.run.recovery import attach, drill_times, missed_ratio, recovery

T0 = 1_000  # the run's start, wall clock


def timeline(opened: dict[int, int], p99: dict[int, int], failures: dict[int, int] | None = None) -> dict:
    return {
        "connections": [{"second": T0 + s, "open": n} for s, n in sorted(opened.items())],
        "latency": [
            {"second": T0 + s, "kind": "WS message", "name": "chat/[group]", "count": 10 if v else 0,
             "failures": (failures or {}).get(s, 0), "p50": v, "p90": v, "p99": v, "max": v}
            for s, v in sorted(p99.items())
        ],
    }  # fmt: skip


def test_users_and_latency_back_after_a_drill():
    opened = {s: 20 for s in range(0, 10)} | {10: 12, 11: 15, 12: 19, 13: 20, 14: 20, 15: 20, 16: 20, 17: 20}
    p99 = {s: 1000 for s in range(0, 10)} | {10: 9000, 11: 4000, 12: 1400, 13: 1600, 14: 1200, 15: 1000, 16: 1000}
    out = recovery(timeline(opened, p99, {10: 3, 11: 1}), T0 + 9.5)
    assert out["users_before"] == 20 and out["users_lowest"] == 12
    assert out["users_back_s"] == 13 + 1 - 9.5  # the end of the first second at 20 again
    # 1.5x the pre-drill median (1000 us): 13 (1600) is out; 14, 15, 16 are in: back at the start of 14
    assert out["criterion"].startswith("1.5x pre-drill p99")
    assert out["latency_back_s"] == 14 - 9.5
    assert out["recovery_s"] == 4.5 and out["failed_messages"] == 4


def test_a_threshold_is_the_latency_criterion_when_given_and_never_back_is_none():
    opened = {s: 5 for s in range(0, 12)}
    p99 = {s: 1000 for s in range(0, 5)} | {s: 5000 for s in range(5, 12)}
    out = recovery(timeline(opened, p99), T0 + 5.0, limit_us=2000.0)
    assert out["users_back_s"] == 0.0  # nobody dropped
    assert out["criterion"] == "threshold message:p99 < 2000us"
    assert out["latency_back_s"] is None and out["recovery_s"] is None


def test_attach_and_the_recovery_thresholds():
    opened = {s: 20 for s in range(0, 10)} | {10: 10, 11: 20, 12: 20, 13: 20, 14: 20}
    p99 = {s: 1000 for s in range(0, 15)}
    summary = {"timeline": timeline(opened, p99), "delivery": {"total": {"expected": 90, "away": 10}}, "latency": []}
    summary["drills"] = [ran(9.5)]
    attach(summary, T0, ())
    block = summary["recovery"]
    assert block["slowest_s"] == 2.5 and block["missed_while_away"] == 10 and "hook" not in block
    assert block["drills"][0]["command"] == "kill -TERM 4321" and block["drills"][0]["at"] == 9.5
    passed = slo.evaluate(slo.parse_all(["recovery<10s", "recovery<2s", "missed_ratio<=10%"]), summary)
    assert [r.passed for r in passed] == [True, False, True]
    assert "slowest of 1 drill" in passed[0].detail
    assert missed_ratio({"total": {"expected": 90, "away": 10}}) == 0.1
    nothing = slo.evaluate(slo.parse_all(["recovery<10s"]), {"latency": []})
    assert not nothing[0].passed and "no data" in nothing[0].detail


def test_the_grammar_takes_reconnect_and_recovery():
    t = slo.parse("reconnect:p99<2s")
    assert (t.metric, t.stat, t.limit) == ("reconnect", "p99", 2_000_000.0)
    assert slo.parse("recovery<10s").limit == 10_000_000.0
    with pytest.raises(OptionError, match="add a unit"):
        slo.parse("recovery<10")
    with pytest.raises(OptionError, match="takes no ':STAT'"):
        slo.parse("recovery:p99<10s")


def test_the_console_prints_each_drills_recovery():
    from chanload.reporting.summary import render

    opened = {s: 20 for s in range(0, 10)} | {10: 10, 11: 20, 12: 20, 13: 20, 14: 20}
    summary = {"timeline": timeline(opened, {s: 1000 for s in range(0, 15)}), "latency": [], "drills": [ran(9.5)]}
    attach(summary, T0, ())
    summary |= {"counters": {"sent": 0, "ok": 0, "failed": 0, "in_flight": 0}, "status": "completed"}
    assert "recovery after the drill at 9.5 s: 2.5 s (users back 2.5 s, latency back 0 s" in render(summary)


def test_drill_times_are_when_each_drill_ran_and_a_drill_not_run_has_none():
    """--drill's entries: recovery counts from when the command ran (`started`), not from its `at`; one the run
    ended before has no recovery, and a run with no drill that ran has none at all (there is no other source of
    drill times: the environment is not read)."""
    late = {"at": 99.0, "command": "echo late", "started": None, "exit_code": None}
    assert drill_times({"drills": [ran(5.004, at=5.0), late]}) == [5.004]
    assert drill_times({"drills": [late]}) == [] and drill_times({}) == []
    opened = {s: 20 for s in range(0, 15)}
    summary = {"timeline": timeline(opened, {s: 1000 for s in range(0, 15)}), "latency": [], "drills": [late]}
    attach(summary, T0, ())
    assert "recovery" not in summary
    summary["drills"] = [ran(5.004, at=5.0), late]
    attach(summary, T0, ())
    assert [d["at"] for d in summary["recovery"]["drills"]] == [5.004]


def ran(started: float, at: float | None = None) -> dict:
    """summary.json's entry for a drill that ran at `started` s into the run."""
    return {"at": started if at is None else at, "command": "kill -TERM 4321", "started": started, "seconds": 0.01,
            "exit_code": 0, "output_tail": "", "outcome": "ok"}  # fmt: skip
