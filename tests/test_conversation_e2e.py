"""The conversation API against a real Daphne: a step that raises is a counted failure, marks sent per call count.

Locust runs tests/apps/conversation_steps.py (users written with `from chanload import WsUser`) against
the reference target: `room/{group}` answers OK, `chat/{group}` answers OK and relays to the room.
"""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust
from tests.servers import ROOT

pytestmark = pytest.mark.e2e

LOCUSTFILE = ROOT / "tests" / "apps" / "conversation_steps.py"


def test_a_step_that_raises_is_a_failure_with_its_class_and_the_user_goes_on(tmp_path, target):
    """A bad per-call template and a matcher that raises: failure rows of class `step error`, reconciled counters,
    and the next turns reconnect and run (no stale socket left to wait out 5 s reply timeouts)."""
    run = run_locust(tmp_path, target.ws_url, "StepFaultUser", users=2, run_time="3s", locustfile=LOCUSTFILE)
    assert run.code == 1, run.output[-3000:]  # failures, and nothing worse
    # Each fault is logged once with its traceback; no other traceback (Locust's, of an exception let out of a task).
    assert run.output.count("Traceback") == run.output.count("its traceback follows") == 2, run.output[-3000:]
    failures = {(f["Method"], f["Name"]): f["Error"] for f in run.failures()}
    assert failures[("WS message", "template")].startswith(
        "step error: request raised OptionError: message: unknown placeholder {nope} in 'hi {nope}'"
    )
    assert (
        failures[("WS message", "matcher")]
        == "step error: request raised TypeError: string indices must be integers, not 'str'"
    )
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["failure_kinds"] == {"step error": counters["failed"]}, counters
    assert counters["connect_failures"] == 0 and counters["in_flight"] <= 2
    good = run.row("WS message", "good")
    assert good["failures"] == 0 and good["count"] >= 10  # a hang in reply timeouts would allow 2 at most
    raised = run.row("WS message", "template")["failures"] + run.row("WS message", "matcher")["failures"]
    assert raised == counters["failed"] and good["count"] - 2 <= raised <= good["count"]
    assert counters["sent"] == good["count"] + raised + counters["in_flight"]


def test_a_relay_chat_by_marked_dicts_per_call_measures_deliveries(tmp_path, target):
    """Members send {"mark": "{mark}"} dicts per call with a plain payload: others' copies are deliveries."""
    run = run_locust(tmp_path, target.ws_url, "RelayDictUser", users=3, run_time="3s", locustfile=LOCUSTFILE)
    assert run.code == 0, run.output[-3000:]
    talk = run.row("WS message", "talk")
    assert talk["count"] > 0 and talk["failures"] == 0
    delivery = run.row("WS delivery", "chat/[group]")
    assert delivery["count"] > 0 and delivery["failures"] == 0
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["failed"] == 0 and counters["other_frames"] == 0
    total = run.summary["delivery"]["total"]
    assert total["delivered"] == delivery["count"] and 0 < total["ratio"] <= 1
    assert "broadcast delivery:" in run.output


def test_messages_without_a_mark_between_marked_ones_leave_no_gap(tmp_path, target):
    """Members alternate a marked message and an unmarked one: marks are numbered apart from {seq}, so receivers
    count every marked message delivered and none missing (numbered by {seq}, every other one would be a gap)."""
    run = run_locust(tmp_path, target.ws_url, "RelayMixedUser", users=3, run_time="3s", locustfile=LOCUSTFILE)
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "typing")["count"] > 0
    total = run.summary["delivery"]["total"]
    assert total["delivered"] > 0 and total["missing"] == 0 and total["ratio"] == 1, total
