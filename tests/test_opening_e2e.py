"""Opening steps (`--ws-open`) and reply matching (`--ws-match`) by options alone, against a real Daphne.

The foreign app's price feed (tests/apps/foreign, `ws/prices/<int:room_id>/`) answers a subscribe, then
quotes by id after a server-side delay, among ticks it pushes every few ms.
"""

from __future__ import annotations

import json

import pytest

from tests.locustrun import run_locust
from tests.servers import foreign_app

pytestmark = pytest.mark.e2e

QUOTE_DELAY_S = 0.015
ROUTE = ("--ws-path", "ws/prices/{group}/", "--ws-groups", "1-5", "--ws-think", "0.01", "--ws-other", "skip")
SUBSCRIBE = '[subscribe] {"op": "subscribe", "symbol": "ACME"} => json:{"op": "subscribed", "symbol": "ACME"}'
QUOTE = ("--ws-payload", '{"op": "quote", "id": {seq}, "symbol": "ACME"}')


@pytest.fixture(scope="module")
def prices():
    with foreign_app({"FOREIGN_QUOTE_DELAY": str(QUOTE_DELAY_S), "FOREIGN_TICK_INTERVAL": "0.002"}) as server:
        yield server


def test_an_opening_step_runs_once_per_connection_as_its_own_row(tmp_path, prices):
    """subscribe after every connect (5 per connection with --ws-messages 5), then quotes matched by id."""
    run = run_locust(
        tmp_path, prices.ws_url, *ROUTE, *QUOTE, "--ws-open", SUBSCRIBE, "--ws-messages", "5",
        "--ws-match", 'json:{"op": "price", "id": {seq}}', "--ws-expect", 'json:{"symbol": "ACME"}',
        users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    subscribe = run.row("WS message", "subscribe")
    quote = run.row("WS message", "ws/prices/[group]/")
    connect = run.row("WS connect", "ws/prices/[group]/")
    assert subscribe["failures"] == quote["failures"] == 0
    # A connection ended after its 5th message and another opened (its subscribe ran again); how many in 3 s is
    # the machine's.
    assert connect["count"] > 2 and quote["min"] >= QUOTE_DELAY_S * 1e6  # a tick taken for a price: ~2 ms
    # One subscribe per connection; a connection ends after its 5th message, the subscribe being the first.
    # When the run stops, each of the 2 users may be inside a connection: its subscribe or quotes unfinished.
    assert connect["count"] - 2 <= subscribe["count"] <= connect["count"]
    assert 4 * (subscribe["count"] - 2) <= quote["count"] <= 4 * subscribe["count"]
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["sent"] == subscribe["count"] + quote["count"] + counters["in_flight"]
    classes = run.summary["parameters"]["classes"]
    assert classes["RoomUser"]["opening"] == [SUBSCRIBE]


def test_steps_from_a_config_files_list_run_in_order_each_its_own_row(tmp_path, prices):
    """`ws-open = [...]` in a config file: two steps whose JSON holds commas and colons, run after every connect."""
    hello = '[hello] {"op": "subscribe", "symbol": "ZETA"} => json:{"op": "subscribed", "symbol": "ZETA"}'
    config = tmp_path / "steps.conf"
    config.write_text(f"ws-open = {json.dumps([hello, SUBSCRIBE])}\n")
    run = run_locust(
        tmp_path, prices.ws_url, "--config", str(config), *ROUTE, *QUOTE, "--ws-messages", "5",
        "--ws-match", 'json:{"op": "price", "id": {seq}}', "--ws-expect", 'json:{"symbol": "ACME"}',
        users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    hello_row, subscribe = run.row("WS message", "hello"), run.row("WS message", "subscribe")
    assert hello_row["failures"] == subscribe["failures"] == 0
    assert hello_row["count"] >= subscribe["count"] >= hello_row["count"] - 2 > 0  # in order: hello, then subscribe
    assert run.summary["parameters"]["classes"]["RoomUser"]["opening"] == [hello, SUBSCRIBE]


def test_a_matched_reply_that_fails_the_expectation_is_a_wrong_reply_at_once_in_one_row(tmp_path, prices):
    """--ws-match finds the price by id; --ws-expect wants another symbol: wrong replies, no timeouts, one row."""
    run = run_locust(
        tmp_path, prices.ws_url, *ROUTE, *QUOTE,
        "--ws-match", 'json:{"op": "price", "id": {seq}}', "--ws-expect", 'json:{"symbol": "NOPE"}',
        users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 1, run.output[-3000:]
    quote = run.row("WS message", "ws/prices/[group]/")
    assert quote["count"] == 0 and quote["failures"] > 20  # a timeout each would allow 2 in 3 s
    kinds = run.summary["counters"]["failure_kinds"]
    assert kinds == {"wrong reply": quote["failures"]}, kinds
    errors = {f["Error"] for f in run.failures() if f["Name"] == "ws/prices/[group]/"}
    assert len(errors) == 1, errors  # one row, whatever the id: the template, not the filled value


def test_a_failed_opening_step_closes_the_connection_and_the_next_turn_runs_it_again(tmp_path, prices):
    """An opening step the app cannot pass: its failures, reconnects paced (no hot loop), no message sent after it."""
    run = run_locust(
        tmp_path, prices.ws_url, *ROUTE, *QUOTE,
        "--ws-open", '[subscribe] {"op": "subscribe", "symbol": "ACME"} => json:{"op": "subscribed", "symbol": "X"}',
        "--ws-reply-timeout", "0.3", users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 1, run.output[-3000:]
    subscribe = run.row("WS message", "subscribe")
    connect = run.row("WS connect", "ws/prices/[group]/")
    # Each connection's subscribe waits out its 0.3 s (the reply is skipped as another frame), fails, closes;
    # the user pauses 0.2 s and reconnects: about 6 turns per user in 3 s, never a hot loop.
    assert subscribe["count"] == 0 and connect["count"] - 2 <= subscribe["failures"] <= connect["count"]
    assert 4 <= connect["count"] <= 2 * 3 / 0.3 + 2
    assert run.summary["counters"]["failure_kinds"] == {"reply timeout": subscribe["failures"]}
    assert ("WS message", "ws/prices/[group]/") not in run.stats()  # no quote went out after a failed opening
