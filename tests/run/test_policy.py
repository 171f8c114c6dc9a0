"""The run's rules in-process: status, exit code, the worker payload, and whom a master still awaits."""

from __future__ import annotations

import pytest

from chanload.recording.counters import Ledger
from chanload.recording.latency import Aggregate
from chanload.reporting.html import render_html
from chanload.reporting.junit import render_junit
from chanload.run import policy
from chanload.run.settings import Settings
from chanload.run.state import State


def ledger(**fields) -> Ledger:
    led = Ledger()
    for key, value in fields.items():
        setattr(led, key, value)
    return led


def test_status_names_the_first_cause():
    """A stop before the end outranks an abort, which outranks the target, which outranks a lost worker."""
    refused = ledger(connects=0, last_refused_at=1.0)
    assert policy.run_status(interrupted=True, aborted_by="x", ledger=refused, lost=True) == "interrupted"
    assert policy.run_status(interrupted=False, aborted_by="x", ledger=refused, lost=True) == "aborted"
    assert policy.run_status(interrupted=False, aborted_by=None, ledger=refused, lost=True) == "target_unreachable"
    assert policy.run_status(interrupted=False, aborted_by=None, ledger=ledger(), lost=True) == "worker_lost"
    assert policy.run_status(interrupted=False, aborted_by=None, ledger=ledger(), lost=False) == "completed"


def test_a_target_that_answered_then_refused_is_down_not_unreachable():
    """Connections refused after the last OK reply: target_down; with connects, never target_unreachable."""
    down = ledger(connects=5, last_ok_at=10.0, last_refused_at=11.0)
    assert down.target_down
    assert policy.run_status(interrupted=False, aborted_by=None, ledger=down, lost=False) == "target_down"
    up = ledger(connects=5, last_ok_at=12.0, last_refused_at=11.0)
    assert policy.run_status(interrupted=False, aborted_by=None, ledger=up, lost=False) == "completed"


@pytest.mark.parametrize(
    ("status", "thresholds", "code"),
    [
        ("interrupted", [{"passed": True}], policy.EXIT_INTERRUPTED),
        ("target_unreachable", [], policy.EXIT_TARGET_DOWN),
        ("target_down", [{"passed": False}], policy.EXIT_TARGET_DOWN),
        ("worker_lost", [], policy.EXIT_WORKER_LOST),
        ("aborted", [{"passed": False}], policy.EXIT_THRESHOLDS),
        ("completed", [{"passed": True}, {"passed": False}], policy.EXIT_THRESHOLDS),
        ("completed", [{"passed": True}], 0),
        ("completed", [], None),  # no verdict of ours: Locust's rule
    ],
)
def test_exit_code_follows_the_status_then_the_thresholds(status, thresholds, code):
    """Statuses that lose results have their own codes; otherwise thresholds are the gate, if any."""
    assert policy.exit_code({"status": status, "thresholds": thresholds}) == code


def test_exit_codes_are_distinct_and_clear_of_locusts_own():
    """0 and 1 stay Locust's (success, failures); ours do not collide with each other."""
    ours = [policy.EXIT_THRESHOLDS, policy.EXIT_INTERRUPTED, policy.EXIT_TARGET_DOWN, policy.EXIT_ARTIFACTS,
            policy.EXIT_WORKER_LOST]  # fmt: skip
    assert len(set(ours)) == len(ours) and not {0, 1} & set(ours)


def test_locusts_rule_for_a_run_without_our_verdict():
    """Failures give --exit-code-on-error (1 by default); an unhandled greenlet exception gives 2."""
    assert policy.locust_exit_code(failures=True, exit_code_on_error=1, unhandled_exception=True) == 1
    assert policy.locust_exit_code(failures=True, exit_code_on_error=9, unhandled_exception=False) == 9
    assert policy.locust_exit_code(failures=False, exit_code_on_error=1, unhandled_exception=True) == 2
    assert policy.locust_exit_code(failures=False, exit_code_on_error=1, unhandled_exception=False) == 0


def test_every_status_is_spoken_for_in_the_report_and_junit():
    """Each status but completed has a banner, a JUnit failure message and a colour; completed has none."""
    summary = {"status": "completed", "parameters": {"host": "ws://127.0.0.1:9"}, "latency": [], "thresholds": []}
    for name, status in policy.STATUSES.items():
        summary["status"] = name
        html, junit = render_html(summary), render_junit(summary)
        if name == "completed":
            assert not status.banner and not status.junit and 'role="alert"' not in html
            assert "<failure" not in junit
            continue
        assert status.banner and status.junit and status.severity in ("warn", "fail")
        shown = status.banner.replace("{host}", "ws://127.0.0.1:9")
        assert shown.split(":")[0] in html and f'class="banner status-{status.severity}"' in html
        assert status.junit in junit and f'type="{name}"' in junit


def test_an_unknown_status_is_never_shown_as_passing():
    """A status this version does not know (a newer summary) fails JUnit and gets a generic banner."""
    unknown = policy.status_of("melted")
    assert unknown.severity == "fail" and "melted" in unknown.banner and "melted" in unknown.junit
    assert policy.exit_code({"status": "melted", "thresholds": []}) is None


def test_worker_payload_ships_each_sample_once_and_absolute_counters():
    """Slices and gauges are drained into the payload; a master merging it holds the same counts."""
    worker = State(Settings(host="ws://127.0.0.1:9"))
    for _ in range(3):
        worker.recorder.record("WS message", "room/[group]", 0.0005)
    worker.recorder.fail("WS message", "room/[group]")
    worker.ledger.sent, worker.ledger.ok, worker.ledger.failed = 4, 3, 1
    worker.gauges.append((100, 7))

    payload = policy.worker_payload(worker, final=True)
    assert payload["final"] is True and payload["gauges"] == [(100, 7)] and not worker.gauges
    assert policy.worker_payload(worker, final=False)["slices"] == []  # drained: never shipped twice

    master = State(Settings(host="ws://127.0.0.1:9"))
    policy.take_worker_payload(master, "w1", payload, now=200.0, hold_seconds=5)
    assert master.worker_ledgers["w1"]["sent"] == 4 and master.worker_ledgers["w1"]["ok"] == 3
    key = ("WS message", "room/[group]")
    assert master.aggregate.histogram(key).get_total_count() == 3 and master.aggregate.failures[key] == 1
    assert master.workers.lost() == []  # its final report came
    assert isinstance(master.aggregate, Aggregate)


def test_a_workers_cpu_per_second_reaches_the_master_once_under_its_id(caplog):
    """Each second of a worker's CPU is shipped once; the master keeps it as that worker's series and peak,
    and warns on its console the first time the worker passes 90% of a core."""
    caplog.set_level("WARNING", logger="chanload")
    worker, master = State(Settings(host="ws://127.0.0.1:9")), State(Settings(host="ws://127.0.0.1:9"))
    worker.cpu(0.4, 100)
    worker.cpu(0.97, 101)
    first = policy.worker_payload(worker, final=False)
    assert first["cpu"] == [(100, 0.4), (101, 0.97)] and first["peak_cpu"] == 0.97
    worker.cpu(0.5, 102)
    second = policy.worker_payload(worker, final=True)
    assert second["cpu"] == [(102, 0.5)]  # not the seconds shipped before
    caplog.clear()
    for payload in (first, second):
        policy.take_worker_payload(master, "w1", payload, now=200.0, hold_seconds=5)
    series = master.resources.to_dict()["generator"]["w1"]["series"]
    assert [(s["second"], s["cpu"]) for s in series] == [(100, 0.4), (101, 0.97), (102, 0.5)]
    assert master.generator_peak_cpu == 0.97
    busy = [r.getMessage() for r in caplog.records if "generator busy" in r.getMessage()]
    assert busy == ["generator busy: w1 used 97% of a core in one second (over 90%): the latency may then be the "
                    "generator's own; add workers"]  # fmt: skip


def test_a_worker_without_its_final_report_is_lost():
    """A worker whose last report was not final is named as lost by the master's roll."""
    master = State(Settings(host="ws://127.0.0.1:9"))
    worker = State(Settings(host="ws://127.0.0.1:9"))
    policy.take_worker_payload(master, "w2", policy.worker_payload(worker, final=False), now=200.0, hold_seconds=5)
    assert [w["worker"] for w in master.workers.lost()] == ["w2"]


def test_a_master_awaits_connected_workers_without_a_final_report_since_the_stop():
    """Only final reports that came after `since` count; a worker not connected is not awaited."""
    finals = {"a": 10.0, "b": 4.0}
    assert policy.awaited_workers(["a", "b", "c"], finals, since=5.0) == {"b", "c"}
    assert policy.awaited_workers(["a"], finals, since=5.0) == set()
    assert policy.awaited_workers([], finals, since=5.0) == set()


def test_the_wait_for_final_reports_has_one_limit():
    """--stop-timeout plus FINAL_REPORT_WAIT, from the moment given."""
    assert policy.deadline(None, now=100.0) == 100.0 + policy.FINAL_REPORT_WAIT
    assert policy.deadline(4, now=100.0) == 104.0 + policy.FINAL_REPORT_WAIT
