"""Opening steps (`--ws-open`) and reply matching apart from validation (`--ws-match`), in-process."""

from __future__ import annotations

import json

import pytest

from chanload.conversation.groups import Groups
from chanload.conversation.opening import Opening, openings
from chanload.conversation.session import MESSAGE, RECEIVE, Session
from chanload.exceptions import OptionError, ReplyTimeout, WrongReply
from chanload.testing import FakeServer


def rows(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for piece in session.recording.recorder.drain():
        count, failures = out.get(piece.key, (0, 0))
        out[piece.key] = (count + piece.histogram.get_total_count(), failures + piece.failures)
    return out


# Parsing


def test_a_step_has_a_name_a_message_and_a_reply():
    step = Opening.parse('[init] {"type": "connection_init"} => json:{"type": "connection_ack"}')
    assert step.name == "init"
    assert step.send is not None and step.send.template == '{"type": "connection_init"}'
    assert step.expect is not None and step.expect.form == "json"


def test_unnamed_steps_are_named_by_position_and_may_only_send_or_only_wait():
    send_only, wait_only = openings(['{"type": "hello"}', "=> re:welcome.*"])
    assert (send_only.name, send_only.expect, wait_only.name, wait_only.send) == ("open1", None, "open2", None)
    assert wait_only.expect is not None and wait_only.expect.matches("welcome, u1")


def test_the_first_arrow_splits_so_a_regex_reply_may_hold_one():
    step = Opening.parse("[x] ping => re:a => b")
    assert step.send is not None and step.send.template == "ping"
    assert step.expect is not None and step.expect.matches("a => b")


@pytest.mark.parametrize(
    ("spec", "sent"),
    [
        ('["join", 1] => OK', '["join", 1]'),
        ("[1, 2]", "[1, 2]"),
        ('[{"room": {group}}] => OK', '[{"room": {group}}]'),
        ("[7] => OK", "[7]"),
    ],
)
def test_a_json_array_send_is_sent_never_read_as_a_name(spec, sent):
    step = Opening.parse(spec)
    assert step.name == "open1"
    assert step.send is not None and step.send.template == sent


@pytest.mark.parametrize(
    ("spec", "name", "sent"),
    [("[step 2.b] hi => OK", "step 2.b", "hi"), ("[join][1, 2]", "join", "[1, 2]"), ("[x] say [y]", "x", "say [y]")],
)
def test_a_name_is_plain_words_and_what_follows_is_sent(spec, name, sent):
    step = Opening.parse(spec)
    assert step.name == name
    assert step.send is not None and step.send.template == sent


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "sends something, waits for something"),
        ("[] hello => OK", "step name in [...] is empty"),
        ("[ ] hello => OK", "step name in [...] is empty"),
        ("[a] hello =>", "nothing after '=>'"),
        ('[a] {"room": } => OK', "not valid JSON"),
        ("[a] hi => re:(", "bad regular expression"),
        ("[a] {nope} => OK", "unknown placeholder {nope}"),
    ],
)
def test_a_bad_step_is_refused_with_what_to_fix(spec, says):
    with pytest.raises(OptionError, match=r"--ws-open") as info:
        openings([spec])
    assert says in str(info.value)


def test_two_steps_of_one_name_are_refused():
    with pytest.raises(OptionError, match="two steps are named 'join'"):
        openings(["[join] a => OK", "[join] b => OK"])


# Running


def graphql_like(text):
    """connection_init is acked; a query with an id gets `next` then `complete`, a push between them."""
    msg = json.loads(text)
    if msg["type"] == "connection_init":
        return [('{"type": "connection_ack"}', 0.0001)]
    reply = {"id": msg["id"], "type": "next", "payload": {"data": {"hello": msg.get("answer", "world")}}}
    return [('{"type": "next", "id": "sub"}', 0.0001), (json.dumps(reply), 0.0002), ('{"type": "complete"}', 0.0003)]


def test_opening_steps_run_after_every_connect_each_its_own_row():
    server = FakeServer(graphql_like)
    ws = server.session(
        groups=Groups.parse("1"),
        opening=['[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'],
        payload='{"id": "{seq}", "type": "subscribe"}',
        match='json:{"id": "{seq}", "type": "next"}',
        expect='json:{"payload": {"data": {"hello": "world"}}}',
        other="skip",
    )
    for _ in range(2):
        ws.connect()
        ws.request()
        ws.request()
    recorded = rows(ws)
    assert recorded[(MESSAGE, "init")] == (2, 0)
    assert recorded[(MESSAGE, "room/[group]")] == (4, 0)
    # The init step was message 0 on each connection: the requests answered ids 1 and 2.
    assert [json.loads(t).get("id") for t in server.clients[1].sent] == [None, "1", "2"]
    ledger = ws.recording.ledger
    assert (ledger.sent, ledger.ok, ledger.failed) == (6, 6, 0)


def test_a_failed_opening_step_is_its_failure_and_closes_the_connection():
    server = FakeServer(lambda text: [('{"type": "error"}', 0.0001)])
    ws = server.session(opening=['[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'])
    with pytest.raises(WrongReply):
        ws.connect()
    assert not ws.connected and ws.connect_failed and server.clients[0].closed
    assert rows(ws) == {("WS connect", "room/[group]"): (1, 0), (MESSAGE, "init"): (0, 1)}  # (samples, failures)
    ledger = ws.recording.ledger
    assert (ledger.sent, ledger.ok, ledger.failed, ws.recording.open_connections) == (1, 0, 1, 0)


def test_a_wait_only_step_is_a_receive_row_and_connect_can_skip_the_steps():
    server = FakeServer()
    ws = server.session(opening=["[welcome] => welcome"])
    with pytest.raises(ReplyTimeout):
        ws.connect()  # nothing pushed: the fake times out at once
    ws.connect(opening=False)
    assert ws.connected
    server.push("welcome")
    ws.close()
    ws2 = FakeServer()
    session = ws2.session(opening=["[welcome] => welcome"])
    original = ws2.connect

    def connect_and_welcome(url, **options):
        client = original(url, **options)
        client.inbox.append(("welcome", 0.0))
        return client

    session._new_client = connect_and_welcome
    session.connect()
    assert rows(session)[(RECEIVE, "welcome")] == (1, 0)


# Matching apart from validation


def dcrf_like(status):
    def respond(text):
        msg = json.loads(text)
        return [
            ('{"action": "update", "pk": 3}', 0.0001),  # a push: not ours
            (json.dumps({"request_id": msg["request_id"], "response_status": status, "data": None}), 0.0002),
        ]

    return respond


def test_a_matched_reply_that_fails_the_expectation_is_a_wrong_reply_at_once():
    server = FakeServer(dcrf_like(404))
    ws = server.session(
        payload='{"action": "retrieve", "pk": 7, "request_id": {seq}}',
        match='json:{"request_id": {seq}}',
        expect='json:{"response_status": 200}',
        other="skip",
    )
    ws.connect()
    with pytest.raises(WrongReply) as info:
        ws.request()
    assert "404" in str(info.value)
    assert ws.connected  # the reply was consumed: the conversation stays in step
    ledger = ws.recording.ledger
    assert (ledger.failed, ledger.other_frames, ledger.failure_kinds["wrong reply"]) == (1, 1, 1)


def test_a_matched_reply_that_passes_is_ok_and_others_are_skipped():
    server = FakeServer(dcrf_like(200))
    ws = server.session(
        payload='{"action": "retrieve", "pk": 7, "request_id": {seq}}',
        match='json:{"request_id": {seq}}',
        expect='json:{"response_status": 200}',
        other="skip",
    )
    ws.connect()
    assert json.loads(ws.request())["request_id"] == 0
    # Per call: a match given to request() wins over the session's.
    reply = ws.request({"action": "list", "request_id": 41}, {"response_status": 200}, match={"request_id": 41})
    assert json.loads(reply)["request_id"] == 41
    assert ws.recording.ledger.ok == 2
