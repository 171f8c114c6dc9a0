"""Behaviour tests of tests/apps/foreign (apps written as their libraries' docs write them), with chanload's
pytest fixtures and nothing else: the plugin dogfooded.

Run in a pytest process of its own, which serves the app (tests/test_apps_behaviour.py runs it):

    pytest tests/behaviour --chanload-asgi foreign.asgi:application   (with tests/apps on PYTHONPATH)
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e

GRAPHQL = ["graphql-transport-ws"]
INIT = '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'


def test_the_tutorial_chat_relays_every_message_to_every_member_in_order(ws_factory):
    """The Channels tutorial's chat: {"message": X} to the room, no ack; 8 members, 4 messages each."""

    def member(ws, me):
        ws.connect("ws/chat/dogfood/")
        me.together()
        for _ in range(4):
            ws.send({"message": "{mark}"}, step="say")

    crowd = ws_factory.run(8, member)
    crowd.check()
    assert crowd.total["delivered"] == 8 * 7 * 4 and crowd.total["missing"] == 0
    assert all(len(m.heard) == 7 and all(n == [0, 1, 2, 3] for n in m.heard.values()) for m in crowd)


def test_a_quote_is_answered_by_its_id_among_pushed_ticks(ws_factory):
    ws = ws_factory(other="skip")  # ticks are pushed every few ms: skipped (and counted) while a reply is awaited
    ws.connect("ws/prices/7/")
    ws.request({"op": "subscribe", "symbol": "ACME"}, {"op": "subscribed", "symbol": "ACME", "room": 7}, step="sub")
    for n in range(3):
        price = json.loads(ws.request({"op": "quote", "id": n, "symbol": "ACME"}, {"op": "price", "id": n}))
        assert 100 <= price["px"] <= 101
    tick = json.loads(ws.expect({"op": "tick"}, step="tick"))
    assert tick["n"] >= 1
    assert ws.recording.ledger.other_frames > 0  # the ticks skipped while the quotes were awaited


def test_strawberry_graphql_answers_a_query_and_pushes_a_subscription_in_order(ws_factory):
    """strawberry's GraphQLWSConsumer: the init as an opening step, a query by id, then a subscription's pushes."""
    ws = ws_factory(subprotocols=GRAPHQL, opening=[INIT])
    ws.connect("ws/graphql/")  # runs the init step: connection_init answered by connection_ack
    query = {"id": "q", "type": "subscribe", "payload": {"query": "{ hello }"}}
    ws.request(query, {"id": "q", "type": "next", "payload": {"data": {"hello": "world"}}}, step="hello")
    ws.expect({"id": "q", "type": "complete"}, step="hello done")
    count = {"id": "c", "type": "subscribe", "payload": {"query": "subscription { count(target: 3) }"}}
    ws.send(count, step="count")
    for n in range(3):
        ws.expect({"id": "c", "type": "next", "payload": {"data": {"count": n}}}, step=f"count {n}")
    ws.expect({"id": "c", "type": "complete"}, step="count done")


def test_graphql_without_the_init_is_closed_4401_and_the_step_says_so(ws_factory):
    ws = ws_factory(subprotocols=GRAPHQL)
    ws.connect("ws/graphql/")
    with pytest.raises(Exception) as failed:
        ws.request({"id": "q", "type": "subscribe", "payload": {"query": "{ hello }"}}, {"type": "next"}, step="early")
    note = "\n".join(getattr(failed.value, "__notes__", []))
    assert "closed by server: code 4401" in str(failed.value)
    assert "chanload step 'early' (request)" in note and "expected:" in note


def test_the_price_feed_holds_a_short_load(chanload_load):
    result = chanload_load("loadtests/examples/prices.py", users=4, spawn_rate=4, run_time="4s",
                           slo=["message@quote:p99<1s", "fail_ratio<1%"])  # fmt: skip
    assert result.passed, result.thresholds
    quote = result.row("message", "quote")
    assert quote.count > 20 and quote.failures == 0 and quote.p50 >= 15_000  # the app's QUOTE_DELAY is 15 ms
    assert result.counters["other_frames"] > 0  # the ticks, skipped and counted
