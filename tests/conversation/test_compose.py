"""Per-call messages in a Session: placeholders that fit JSON, checked with the connection's room (issue 16)."""

from __future__ import annotations

import json

import pytest

from chanload.conversation.session import MESSAGE
from chanload.exceptions import OptionError, StepError, WrongReply
from chanload.testing import FakeServer


def echo_ok(text):
    return [("OK", 0.0001)]


def test_a_per_call_json_text_with_integer_rooms_goes_out_as_a_number():
    """`"room": {group}` per call, rooms 1-3: never refused with a made-up g0; the room is a JSON number."""
    server = FakeServer(echo_ok)
    ws = server.session(groups="1-3")
    ws.connect()
    for _ in range(3):
        assert ws.request('{"command": "join", "room": {group}, "n": {random:1-9}}') == "OK"
    sent = [json.loads(text) for text in server.clients[0].sent]
    assert {m["room"] for m in sent} == {int(ws.group)} and all(1 <= m["n"] <= 9 for m in sent)
    assert ws.state.ledger.failed == 0


def test_a_per_call_json_text_that_the_rooms_break_is_a_recorded_step_failure_one_message_for_all_rooms():
    """Rooms A,B,C and `"room": {group}`: a StepError inside the step (counted, connection dropped), nothing sent,
    and the same message whichever room the connection has."""
    server = FakeServer(echo_ok)
    ws = server.session(groups="A,B,C")
    messages = set()
    for room in ("A", "B", "C"):
        ws.connect(group=room)
        with pytest.raises(StepError) as caught:
            ws.request('{"command": "join", "room": {group}}')
        assert isinstance(caught.value.__cause__, OptionError)
        assert not ws.connected
        messages.add(str(caught.value))
    assert len(messages) == 1, messages
    assert "this connection's room" in messages.pop()
    ledger = ws.state.ledger
    assert (ledger.sent, ledger.failed, ledger.failure_kinds["step error"]) == (3, 3, 3) and ledger.reconciles
    assert all(client.sent == [] for client in server.clients)


def test_a_session_refuses_a_payload_its_own_rooms_break_before_any_connect():
    """The session's default payload and expectation are checked with its pool when it is made."""
    with pytest.raises(OptionError, match="groups 5 gives the names g0..g4"):
        FakeServer().session(groups="5", payload='{"room": {group}}')
    with pytest.raises(OptionError, match="groups 5 gives the names"):
        FakeServer().session(groups="5", expect='json:{"room": {group}}')
    FakeServer().session(groups="1-5", payload='{"room": {group}}', expect='json:{"room": {group}}')


def test_username_is_filled_from_the_session():
    """{username} in the payload, a per-call text and a dict: the session's username ('' before a login)."""
    server = FakeServer(echo_ok)
    ws = server.session(payload="p {username}")
    ws.connect()
    ws.request()
    ws.username = "alice"
    ws.request()
    ws.request("t {username}")
    ws.request({"who": "{username}"})
    assert server.clients[0].sent == ["p ", "p alice", "t alice", '{"who": "alice"}']


def test_wrong_replies_to_many_request_ids_are_one_failure_row_showing_the_status():
    """A DCRF-style 404 for every request id: one failure message, the template's, with the 404 in it."""
    server = FakeServer(
        lambda text: [(json.dumps({"response_status": 404, "request_id": json.loads(text)["id"]}), 0.0001)]
    )
    ws = server.session(
        payload='{"action": "retrieve", "pk": 99, "id": {seq}}',
        expect='json:{"request_id": {seq}, "response_status": 200}',
    )
    ws.connect()
    messages = set()
    for _ in range(50):
        with pytest.raises(WrongReply) as caught:
            ws.request()
        messages.add(str(caught.value))
    assert messages == {
        'wrong reply: expected json \'{"request_id": {seq}, "response_status": 200}\', got response_status: 404'
    }
    pieces = [p for p in ws.state.recorder.drain() if p.key[0] == MESSAGE]
    assert sum(p.failures for p in pieces) == 50 and ws.connected  # a wrong reply keeps the conversation in step


def test_opening_steps_are_checked_with_the_sessions_rooms_too():
    """An opening step's JSON SEND or EXPECT that the rooms break is refused when the session is made."""
    step = '[join] {"command": "join", "room": {group}} => json:{"join": "{group}"}'
    with pytest.raises(OptionError, match="groups 3 gives the names g0..g2"):
        FakeServer().session(groups="3", opening=[step])
    FakeServer().session(groups="1-3", opening=[step])
    with pytest.raises(OptionError, match="json: template .* filled in with 'A' from groups A,B"):
        FakeServer().session(groups="A,B", opening=['[join] {"room": "{group}"} => json:{"room": {group}}'])
