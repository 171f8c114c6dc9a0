"""Behaviour tests of tests/apps/foreign (apps written as their libraries' docs write them), with chanload's
pytest fixtures and nothing else: the plugin dogfooded.

Run in a pytest process of its own, which serves the app named by the settings' ASGI_APPLICATION, on
pytest-django's test database (tests/test_apps_behaviour.py runs it):

    pytest tests/behaviour --ds tests.behaviour.settings   (with tests/apps on PYTHONPATH)

What a test writes (users, tokens, items) it makes itself: every test that uses the server runs with a
transactional database, flushed after it (the rows the app's migrations seed are gone after the first).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from chanload import LoginRefused, WrongReply

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
    # p99 under 10 s, above the reply timeout: only a failing run breaks it, not a loaded machine.
    result = chanload_load("loadtests/examples/prices.py", users=4, spawn_rate=4, run_time="4s",
                           slo=["message@quote:p99<10s", "fail_ratio<1%"])  # fmt: skip
    assert result.passed, result.thresholds
    quote = result.row("message", "quote")
    assert quote.count > 0 and quote.failures == 0 and quote.p50 >= 15_000  # the app's QUOTE_DELAY is 15 ms
    assert result.counters["other_frames"] > 0  # the ticks, skipped and counted


# Logins: Django's LoginView, then the lobby behind AuthMiddlewareStack; a DRF token, then the API lobby.


def test_a_login_through_djangos_form_opens_the_lobby(ws, django_user_model):
    django_user_model.objects.create_user("alice", password="alice-secret-pw")
    ws.login("/accounts/login/", "alice", "alice-secret-pw")
    ws.connect("ws/lobby/")
    ws.request({"command": "join", "room": 1}, {"join": "1"}, step="join")
    said = ws.request({"command": "send", "room": 1, "message": "hi"}, {"room": "1", "message": "hi"}, step="say")
    assert json.loads(said)["username"] == "alice"  # the server knows who logged in
    assert "alice-secret-pw" not in "\n".join(ws.last_frames)


def test_wrong_credentials_are_a_refused_login_that_names_the_step(ws, django_user_model):
    django_user_model.objects.create_user("bob", password="bob-secret-pw")
    with pytest.raises(LoginRefused) as refused:
        ws.login("/accounts/login/", "bob", "not-the-password", step="sign in")
    note = "\n".join(refused.value.__notes__)
    assert "chanload step 'sign in' (login) failed" in note and "a session cookie from the login form" in note
    assert "not-the-password" not in note + str(refused.value)


def test_without_a_login_the_lobby_refuses_the_handshake(ws):
    with pytest.raises(Exception) as refused:
        ws.connect("ws/lobby/")
    assert "handshake rejected: HTTP 403" in str(refused.value)
    note = "\n".join(refused.value.__notes__)
    assert "chanload step 'ws/lobby/' (connect)" in note and "expected: the handshake accepted (HTTP 101)" in note


def test_a_lobby_of_five_logged_in_members_hears_every_message_in_order(ws_factory, django_user_model):
    for i in range(5):
        django_user_model.objects.create_user(f"u{i}", password="member-secret-pw")

    def member(ws, me):
        ws.login("/accounts/login/", f"u{me.index}", "member-secret-pw")
        ws.connect("ws/lobby/")
        ws.request({"command": "join", "room": 7}, {"join": "7"}, step="join")
        me.together()
        for _ in range(2):
            ws.send({"command": "send", "room": 7, "message": "{mark}"}, step="say")

    crowd = ws_factory.run(5, member)
    crowd.check()
    assert crowd.total["delivered"] == 5 * 4 * 2, crowd.total
    assert all(n == [0, 1] for m in crowd for n in m.heard.values())


def test_an_opening_step_joins_and_a_failing_one_is_explained_once(ws_factory, django_user_model):
    django_user_model.objects.create_user("carol", password="carol-secret-pw")
    ws = ws_factory(opening=['[join] {"command": "join", "room": 3} => json:{"join": "3"}'])
    ws.login("/accounts/login/", "carol", "carol-secret-pw")
    ws.connect("ws/lobby/")  # runs the join
    ws.request({"command": "send", "room": 3, "message": "hi"}, {"message": "hi", "username": "carol"}, step="say")
    bad = ws_factory(opening=['[join] {"command": "join", "room": "x"} => json:{"join": "x"}'])
    bad.login("/accounts/login/", "carol", "carol-secret-pw")
    with pytest.raises(WrongReply) as failed:
        bad.connect("ws/lobby/")
    notes = " | ".join(failed.value.__notes__)
    assert "chanload step 'join' (request)" in notes and "ROOM_INVALID" in notes, notes
    assert notes.count("chanload step") == 1, notes  # the opening step's note, not the connect's as well


def test_a_drf_token_opens_the_api_lobby(ws, django_user_model):
    django_user_model.objects.create_user("dave", password="dave-secret-pw")
    token = ws.login_token("/api-token-auth/", {"username": "dave", "password": "dave-secret-pw"})
    assert token and len(token) == 40  # DRF's key
    ws.connect("ws/api/lobby/")  # the token in an Authorization header
    ws.request({"command": "join", "room": 2}, {"join": "2"}, step="join")
    said = ws.request({"command": "send", "room": 2, "message": "yo"}, {"username": "dave", "message": "yo"})
    assert json.loads(said)["room"] == "2"
    assert token not in "\n".join(ws.last_frames)


def test_a_wrong_password_gets_no_token(ws, django_user_model):
    django_user_model.objects.create_user("erin", password="erin-secret-pw")
    with pytest.raises(LoginRefused) as refused:
        ws.login_token("/api-token-auth/", {"username": "erin", "password": "wrong-pw"}, step="token")
    assert "400" in str(refused.value) or refused.value.status == 400
    assert "chanload step 'token' (login_token)" in "\n".join(refused.value.__notes__)


# djangochannelsrestframework: replies matched to requests by request_id


def test_the_dcrf_api_answers_each_request_by_its_id(ws):
    from foreign.models import Item  # the project's own model: rows are made in the test, as users are

    apple = Item.objects.create(name="apple", price=Decimal("0.50"))
    Item.objects.create(name="bread", price=Decimal("2.20"))
    ws.connect("ws/api/items/")
    listed = ws.request({"action": "list", "request_id": 1}, {"response_status": 200}, match={"request_id": 1})
    assert [i["name"] for i in json.loads(listed)["data"]] == ["apple", "bread"]
    got = ws.request(
        {"action": "retrieve", "pk": apple.pk, "request_id": 2},
        {"data": {"name": "apple", "price": "0.50"}, "response_status": 200},
        match={"request_id": 2},
        step="retrieve",
    )
    assert json.loads(got)["action"] == "retrieve"
    priced = ws.request({"action": "price", "pk": apple.pk, "request_id": 3}, {"data": {"price": "0.50"}},
                        match={"request_id": 3}, step="price")  # fmt: skip
    assert json.loads(priced)["response_status"] == 200


def test_a_dcrf_404_is_a_failed_step_naming_what_was_expected_and_what_arrived(ws):
    ws.connect("ws/api/items/")
    with pytest.raises(WrongReply) as failed:
        ws.request({"action": "retrieve", "pk": 99, "request_id": 9}, {"response_status": 200},
                   match={"request_id": 9}, step="retrieve 99")  # fmt: skip
    note = "\n".join(failed.value.__notes__)
    assert "chanload step 'retrieve 99' (request) failed" in note
    assert "expected: json '{\"response_status\": 200}' (the frame matching json '{\"request_id\": 9}')" in note
    arrived = next(line for line in note.splitlines() if line.strip().startswith("arrived:"))
    assert "1 frame" in arrived and '"response_status": 404' in arrived and "Not found" in arrived, arrived
