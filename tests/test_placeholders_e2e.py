"""Placeholders that fit JSON and failure rows that stay templates, by options, against a Channels app under Daphne.

tests/apps/foreign's PriceConsumer sits on `ws/prices/<int:room_id>/` and answers
`{"op": "subscribe", "symbol": S}` with `{"op": "subscribed", "symbol": S, "room": <int>}` (issue 16).
"""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust
from tests.servers import foreign_app

pytestmark = pytest.mark.e2e

ROW = "ws/prices/[group]/"


@pytest.fixture(scope="module")
def foreign():
    # No ticks and no quote delay: every frame is the answer to a message, so each failure is a reply's.
    with foreign_app({"FOREIGN_QUOTE_DELAY": "0", "FOREIGN_TICK_INTERVAL": "3600"}) as server:
        yield server


def test_integer_rooms_fill_json_numbers_and_generated_values_by_options(tmp_path, foreign):
    """`"room": {group}` with --ws-groups 1-3 matches the app's integer room; {random:}, {choice:}, {uuid} go out."""
    run = run_locust(
        tmp_path, foreign.ws_url,
        "--ws-path", "ws/prices/{group}/", "--ws-groups", "1-3", "--ws-think", "0.01", "--ws-other", "skip",
        "--ws-payload", '{"op": "subscribe", "symbol": "{choice:ACME|INIT}", "n": {random:1-9}, "req": "{uuid}"}',
        "--ws-expect", 'json:{"op": "subscribed", "room": {group}}',
        users=3, run_time="3s",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    message = run.row("WS message", ROW)
    assert message["count"] > 30 and message["failures"] == 0, message
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["ok"] == message["count"] and counters["other_frames"] == 0, counters
    assert "--ws-groups 1-3: {group} takes 1..3 (3 integers)" in run.output


def test_a_json_template_that_names_break_is_refused_before_any_load_saying_what_to_give(tmp_path, foreign):
    """--ws-groups 3 is g0..g2: `"room": {group}` would not be JSON. Exit 2 at start-up, the fix in the message."""
    run = run_locust(
        tmp_path, foreign.ws_url,
        "--ws-path", "ws/prices/{group}/", "--ws-groups", "3",
        "--ws-payload", '{"op": "subscribe", "symbol": "X", "room": {group}}',
        users=1, run_time="2s",
    )  # fmt: skip
    assert run.code == 2, run.output[-3000:]
    assert "--ws-groups 3 gives the names g0..g2 (3 names), not integers" in run.output, run.output[-3000:]
    assert "give LOW-HIGH (e.g. --ws-groups 1-3)" in run.output and 'put it in quotes, "{group}"' in run.output
    assert "Traceback" not in run.output
    assert (tmp_path / "stats_stats.csv").read_text() == ""  # stopped before Locust's first line of stats


def test_hundreds_of_failing_request_ids_are_one_failure_row(tmp_path, foreign):
    """Every quote answered with its own id and a symbol the template does not want: one row, not one per id."""
    run = run_locust(
        tmp_path, foreign.ws_url,
        "--ws-path", "ws/prices/{group}/", "--ws-groups", "1-3", "--ws-think", "0",
        "--ws-payload", '{"op": "quote", "id": {seq}, "symbol": "ACME"}',
        "--ws-expect", 'json:{"op": "price", "id": {seq}, "symbol": "NOPE"}',
        users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 1, run.output[-3000:]
    counters = run.summary["counters"]
    # Hundreds in 3 s on an idle machine; more than 100 distinct ids is the point, whatever the machine's load.
    assert counters["failed"] > 100 and counters["failure_kinds"] == {"wrong reply": counters["failed"]}, counters
    failures = run.failures()
    assert len(failures) == 1, failures[:5]
    (failure,) = failures
    assert int(failure["Occurrences"]) > 100  # Locust's CSV, rewritten each second: it may miss the last one
    assert run.row("WS message", ROW)["failures"] == counters["failed"]
    assert failure["Error"] == (
        'wrong reply: expected json \'{"op": "price", "id": {seq}, "symbol": "NOPE"}\', got symbol: "ACME"'
    ), failure
