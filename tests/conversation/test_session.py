"""The conversation layer in-process: matching, skipping, marks, named steps, counters (a scripted fake socket)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from chanload.conversation import marks
from chanload.conversation.groups import Groups
from chanload.conversation.messages import Payload
from chanload.conversation.session import CONNECT, DELIVERY, MESSAGE, RECEIVE, SEND, Session
from chanload.exceptions import ConnectionRefused, OptionError, ReplyTimeout, StepError, WrongReply
from chanload.testing import FakeServer


@pytest.fixture(autouse=True)
def _fresh():
    global SERVER
    SERVER = FakeServer(lambda text: [("OK", 0.0002)])


SERVER = FakeServer()


def make(other=None, **kw) -> Session:
    return SERVER.session("ws://127.0.0.1:9", groups=Groups.parse("3"), other=other or "fail", **kw)


def rows(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """(type, name) -> (samples, failures) as the HDR recorder holds them."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for piece in session.state.recorder.drain():
        count, failures = out.get(piece.key, (0, 0))
        out[piece.key] = (count + piece.histogram.get_total_count(), failures + piece.failures)
    return out


def only_sample_us(session: Session, key) -> int:
    pieces = [p for p in session.state.recorder.drain() if p.key == key]
    assert len(pieces) == 1 and pieces[0].histogram.get_total_count() == 1
    return pieces[0].histogram.get_max_value()


def test_a_round_trip_is_recorded_under_the_route_template_and_reconciles():
    """connect + request: one WS connect and one WS message under room/[group]; sent = ok."""
    ws = make()
    ws.connect()
    assert SERVER.clients[0].url.startswith("ws://127.0.0.1:9/room/g")
    assert ws.request() == "OK"
    ledger = ws.state.ledger
    assert (ledger.sent, ledger.ok, ledger.failed, ledger.connects) == (1, 1, 0, 1)
    assert rows(ws) == {(CONNECT, "room/[group]"): (1, 0), (MESSAGE, "room/[group]"): (1, 0)}


def test_skipped_frames_are_counted_and_the_round_trip_ends_at_the_matching_frame():
    """Two pushes arrive first: skipped and counted; the latency is the reply's arrival (5 ms), not the first push's."""
    SERVER.respond = lambda text: [("tick", 0.0001), ("tick", 0.0002), ("OK", 0.005)]
    ws = make(other="skip")
    ws.connect()
    ws.state.recorder.drain()
    ws.request()
    assert ws.state.ledger.other_frames == 2
    us = only_sample_us(ws, (MESSAGE, "room/[group]"))
    assert 4900 <= us <= 5500, us


def test_a_frame_that_does_not_match_fails_the_message_by_default():
    """--ws-other fail: the first frame that is not the reply fails the round trip; the connection stays."""
    SERVER.respond = lambda text: [("tick", 0.0001), ("OK", 0.0002)]
    ws = make()
    ws.connect()
    with pytest.raises(WrongReply, match="expected 'OK', got 'tick'"):
        ws.request()
    ledger = ws.state.ledger
    assert (ledger.sent, ledger.ok, ledger.failed) == (1, 0, 1)
    assert ledger.failure_kinds["wrong reply"] == 1
    assert ws.connected


def test_json_expect_matches_this_messages_id_among_other_replies():
    """json:{"op":"price","id":{seq}} skips a price for another id and takes this message's."""

    def respond(text):
        sent = json.loads(text)
        return [
            (json.dumps({"op": "tick", "p": 1}), 0.0001),
            (json.dumps({"op": "price", "id": sent["id"] + 100}), 0.0002),
            (json.dumps({"op": "price", "id": sent["id"], "px": 9.5, "nested": {"a": 1, "b": 2}}), 0.003),
        ]

    SERVER.respond = respond
    ws = make(other="skip")
    ws.connect()
    for _ in range(3):
        reply = ws.request('{"op": "quote", "id": {seq}}', 'json:{"op": "price", "id": {seq}, "nested": {"a": 1}}')
        assert json.loads(reply)["id"] == ws.seq - 1
    assert ws.state.ledger.other_frames == 6 and ws.state.ledger.ok == 3


def test_a_dict_expect_is_a_json_subset_and_a_predicate_works_too():
    """From Python: a dict is the json: form; a callable decides by itself."""
    SERVER.respond = lambda text: [('{"ok": true, "n": 3}', 0.0001)]
    ws = make()
    ws.connect()
    ws.request({"op": "x", "id": ws.seq}, {"ok": True})
    ws.request(b"raw", lambda frame: '"n": 3' in frame)
    assert SERVER.clients[0].sent[:2] == ['{"op": "x", "id": 0}', b"raw"]
    with pytest.raises(WrongReply):
        ws.request("x", {"ok": 1})  # JSON true is not 1


def test_named_steps_are_rows_of_their_own():
    """A join step and a quote step of one conversation are timed and counted separately."""
    ws = make()
    ws.connect(step="login")
    ws.request("join", step="join")
    ws.request("quote", step="quote")
    ws.request("quote", step="quote")
    assert rows(ws) == {(CONNECT, "login"): (1, 0), (MESSAGE, "join"): (1, 0), (MESSAGE, "quote"): (2, 0)}


def test_another_members_mark_is_a_delivery_never_the_reply():
    """A relayed message of another sender is measured as a delivery; the sender's own copy is the reply (own)."""
    other = marks.make("peer-1-1", 0, time.time_ns())

    def respond(text):
        return [(json.dumps({"message": other}), 0.0001), (json.dumps({"message": json.loads(text)["message"]}), 0.002)]

    SERVER.respond = respond
    ws = make(payload='{"message": "{mark}"}', expect="own", listen=False)
    ws.connect()
    ws.state.recorder.drain()
    ws.request()
    assert ws.state.ledger.other_frames == 0 and ws.state.ledger.ok == 1
    got = rows(ws)
    assert got[(DELIVERY, "room/[group]")] == (1, 0)
    assert got[(MESSAGE, "room/[group]")] == (1, 0)
    rooms = ws.state.delivery.snapshot()["rooms"]
    assert rooms[ws.group]["delivered"] == 1


def test_own_needs_this_messages_number_not_an_earlier_one():
    """Under `own`, a late copy of the previous message is passed over (not an other frame); this one's answers."""
    sent: list[str] = []

    def respond(text):
        sent.append(json.loads(text)["message"])
        copies = [sent[-2]] if len(sent) > 1 else []
        return [(json.dumps({"message": m}), 0.0001 * (i + 1)) for i, m in enumerate([*copies, sent[-1]])]

    SERVER.respond = respond
    ws = make(payload='{"message": "{mark}"}', expect="own", listen=False)
    ws.connect()
    replies = [json.loads(ws.request())["message"] for _ in range(3)]
    assert [marks.find(r)[0].seq for r in replies] == [0, 1, 2]
    assert ws.state.ledger.other_frames == 0 and ws.state.ledger.ok == 3


def test_a_reply_that_arrived_before_its_message_counts_as_0_and_is_noted():
    """A push read ahead and taken as the reply: never a negative latency, counted as an early reply."""
    SERVER.respond = lambda text: [("OK", -0.01)]
    ws = make()
    ws.connect()
    ws.state.recorder.drain()
    ws.request()
    assert ws.state.ledger.early_replies == 1
    assert only_sample_us(ws, (MESSAGE, "room/[group]")) == 0


def test_a_reply_timeout_drops_the_connection_and_reconciles():
    """Skipping only non-matching frames until the deadline: a reply timeout, fatal, and counted."""
    SERVER.respond = lambda text: [("tick", 0.0001)]
    ws = make(other="skip")
    ws.connect()
    assert ws.state.open_connections == 1
    with pytest.raises(ReplyTimeout):
        ws.request()
    ledger = ws.state.ledger
    assert not ws.connected and ws.state.open_connections == 0
    assert ledger.sent == ledger.ok + ledger.failed == 1 and ledger.other_frames == 1


def test_a_refused_connect_is_counted_and_logged_once_with_its_path(caplog):
    """The failure message names host:port only; the first occurrence is logged with the path tried."""
    SERVER.refuse = True
    ws = make()
    caplog.set_level(logging.WARNING, logger="chanload")
    for _ in range(3):
        with pytest.raises(ConnectionRefused) as caught:
            ws.connect("ws/prices/{group}/?token=secret", group="AAPL")
        assert "prices" not in str(caught.value)
    ledger = ws.state.ledger
    assert (ledger.connects, ledger.connect_failures) == (0, 3) and ledger.last_refused_at > 0
    assert ws.connect_failed
    logged = [r.getMessage() for r in caplog.records if "nothing listens" in r.getMessage()]
    assert len(logged) <= 1  # once per process (another test may have logged it first)
    assert all("/ws/prices/AAPL/" in line and "secret" not in line for line in logged)
    assert rows(ws) == {(CONNECT, "room/[group]"): (0, 3)}


def test_connect_takes_per_user_headers_cookies_and_subprotocols():
    """A logged-in user's own session cookie goes with its handshake, beside --ws-header's."""
    ws = SERVER.session("ws://127.0.0.1:9", headers=("X-Run: 1",))
    ws.connect("private/{group}", group="lobby", cookies={"sessionid": "abc"}, subprotocols=["v2.chat"])
    client = SERVER.clients[0]
    assert client.url == "ws://127.0.0.1:9/private/lobby"
    assert client.headers == ["X-Run: 1", "Cookie: sessionid=abc"]
    assert client.subprotocols == ["v2.chat"]


def test_the_sessions_subprotocols_go_with_every_handshake_after_the_calls_own():
    """--ws-subprotocol's names (the constructor's) follow a connect call's own; a name in both goes once."""
    ws = SERVER.session("ws://127.0.0.1:9", subprotocols=("graphql-transport-ws", "graphql-ws"))
    assert ws.subprotocols == ("graphql-transport-ws", "graphql-ws")
    ws.connect()
    ws.connect(subprotocols=["chat.v2", "graphql-ws"])
    ws.connect(subprotocols="chat.v3")  # one string is one name, not its letters
    assert [c.subprotocols for c in SERVER.clients] == [
        ["graphql-transport-ws", "graphql-ws"],
        ["chat.v2", "graphql-ws", "graphql-transport-ws"],
        ["chat.v3", "graphql-transport-ws", "graphql-ws"],
    ]
    assert SERVER.session("ws://127.0.0.1:9", subprotocols="chat").subprotocols == ("chat",)


def test_a_subprotocol_that_is_not_a_token_is_refused():
    """The constructor's: an OptionError at once; a connect call's: that step's recorded StepError."""
    for bad in ("chat v2", "a,b", "", "chat/2"):
        with pytest.raises(OptionError, match="subprotocols .*: a subprotocol is one token"):
            SERVER.session("ws://127.0.0.1:9", subprotocols=[bad])
    ws = make()
    with pytest.raises(StepError, match="connect raised OptionError: subprotocols 'a b'"):
        ws.connect(subprotocols=["a b"])
    assert ws.state.ledger.connect_failures == 1 and not ws.connected


def test_expect_waits_for_a_push_and_records_only_when_asked_or_failed():
    """expect() without a message: a welcome frame; a failed wait is a WS receive failure, not a message."""
    SERVER.respond = lambda text: [("welcome", 0.0001)]
    ws = make()
    ws.connect()
    ws.send("hello")
    assert ws.expect("welcome", step="welcome") == "welcome"
    with pytest.raises(ReplyTimeout):
        ws.expect("never")
    got = rows(ws)
    assert got[(RECEIVE, "welcome")] == (1, 0) and got[(RECEIVE, "room/[group]")] == (0, 1)
    assert ws.state.ledger.sent == 0  # not round trips: the message equation is untouched


def test_payload_placeholders_and_mark_are_filled_per_message():
    """{user} {seq} {group} {mark} take this connection's values; the mark carries the send time."""
    ws = make(payload='{"u": "{user}", "s": {seq}, "g": "{group}", "m": "{mark}"}')
    ws.connect(group="lobby")
    before = time.time_ns()
    ws.request()
    sent = json.loads(SERVER.clients[0].sent[0])
    assert (sent["u"], sent["s"], sent["g"]) == (ws.user, 0, "lobby")
    (mark,) = marks.find(sent["m"])
    assert mark.sender == ws.user and mark.seq == 0 and before <= mark.sent_ns <= time.time_ns()


def test_requests_on_a_closed_session_fail_and_are_counted():
    """A step after the connection was lost is a failure, not a crash."""
    ws = make()
    with pytest.raises(Exception, match="not connected"):
        ws.request()
    assert ws.state.ledger.sent == ws.state.ledger.failed == 1


def test_a_payload_object_can_be_passed_directly():
    """A prepared Payload is rendered with the session's values."""
    ws = make()
    ws.connect(group="g7")
    ws.request(Payload("room {group} #{seq}"))
    assert SERVER.clients[0].sent == ["room g7 #0"]


def test_counters_reconcile_at_any_moment_with_a_message_awaiting_its_reply():
    """While a reply is awaited, the message counts as in flight: a snapshot then still reconciles."""
    seen = {}
    ws = make()

    def respond(text):
        seen["during"] = ws.state.ledger.snapshot()
        return [("OK", 0.0001)]

    SERVER.respond = respond
    ws.connect()
    ws.request()
    during = seen["during"]
    assert (during["sent"], during["ok"], during["in_flight"]) == (1, 0, 1)
    ledger = ws.state.ledger
    assert (ledger.sent, ledger.ok, ledger.in_flight) == (1, 1, 0) and ledger.reconciles


# Any exception raised inside a step is a failure of that step (issue 16)


def assert_failed_step(ws: Session, kind: str = MESSAGE, *, sent: int = 1, ok: int = 0) -> None:
    """The step was recorded as one `step error` failure, the counters reconcile, and the connection is gone."""
    ledger = ws.state.ledger
    assert ledger.failure_kinds == {"step error": 1}, ledger.failure_kinds
    assert (ledger.sent, ledger.ok, ledger.failed, ledger.in_flight) == (sent, ok, sent - ok, 0)
    assert ledger.reconciles
    assert not ws.connected and ws.state.open_connections == 0
    assert all(client.closed for client in SERVER.clients)
    assert rows(ws)[(kind, "room/[group]")][1] == 1


def reconnects_and_works(ws: Session) -> None:
    ws.connect()
    assert ws.request() == "OK" and ws.connected


def test_a_bad_template_per_call_is_a_recorded_step_failure():
    """An unknown placeholder in a per-call text: StepError from the OptionError, counted as sent and failed."""
    ws = make()
    ws.connect()
    ws.request()
    with pytest.raises(StepError, match=r"^step error: request raised OptionError: .*placeholder \{nope\}") as caught:
        ws.request("hi {nope}")
    assert isinstance(caught.value.__cause__, OptionError) and caught.value.kind == "step error"
    assert_failed_step(ws, sent=2, ok=1)
    assert SERVER.clients[0].sent == ["hello"]  # the bad message never went out
    reconnects_and_works(ws)


def test_a_matcher_that_raises_is_a_recorded_step_failure_in_request_and_expect():
    """A predicate of the user's that raises: the round trip (or the wait) fails with a class, chained."""

    def strict(frame):
        return json.loads(frame)["id"] == 1  # "OK" is not JSON

    ws = make()
    ws.connect()
    with pytest.raises(StepError, match=r"^step error: request raised JSONDecodeError: Expecting value") as caught:
        ws.request("x", strict)
    assert isinstance(caught.value.__cause__, json.JSONDecodeError) and caught.value.step == "request"
    assert_failed_step(ws)
    reconnects_and_works(ws)

    SERVER.push("welcome")
    with pytest.raises(StepError, match="^step error: expect raised JSONDecodeError"):
        ws.expect(strict)
    ledger = ws.state.ledger
    assert ledger.failure_kinds == {"step error": 2} and ledger.reconciles and not ws.connected
    assert rows(ws)[(RECEIVE, "room/[group]")] == (0, 1)


def test_an_unserialisable_dict_is_a_recorded_step_failure_in_request_and_send():
    """json.dumps refuses a set: StepError from the TypeError, for a round trip and for a send alike."""
    ws = make()
    ws.connect()
    with pytest.raises(StepError, match="^step error: request raised TypeError: Object of type set") as caught:
        ws.request({"ids": {1, 2}})
    assert isinstance(caught.value.__cause__, TypeError)
    assert_failed_step(ws)
    reconnects_and_works(ws)
    with pytest.raises(StepError, match="^step error: send raised TypeError"):
        ws.send({"ids": {1, 2}})
    assert rows(ws).get((SEND, "room/[group]")) == (0, 1)
    assert ws.state.ledger.failure_kinds == {"step error": 2} and not ws.connected


def test_a_connect_that_raises_is_a_recorded_failed_connect():
    """An int room id where a str is needed: a failed WS connect of class `step error`; a good connect then works."""
    ws = make()
    with pytest.raises(StepError, match="^step error: connect raised TypeError"):
        ws.connect(group=7)  # type: ignore[arg-type]
    ledger = ws.state.ledger
    assert (ledger.connects, ledger.connect_failures) == (0, 1) and ws.connect_failed
    assert ledger.failure_kinds == {"step error": 1} and not ws.connected
    assert rows(ws) == {(CONNECT, "room/[group]"): (0, 1)}
    reconnects_and_works(ws)
    assert not ws.connect_failed


def test_a_step_errors_message_is_one_per_fault_not_one_per_message():
    """The connection id and the marks an exception's message may quote are written as placeholders."""

    def picky(frame):
        raise ValueError(f"no {ws.user} here, only {marks.make(ws.user, ws.seq, time.time_ns())}")

    ws = make()
    messages = set()
    for _ in range(3):
        ws.connect()
        with pytest.raises(StepError) as caught:
            ws.request("x", picky)
        messages.add(str(caught.value))
    assert messages == {"step error: request raised ValueError: no {user} here, only {mark}"}
    assert ws.state.ledger.failure_kinds == {"step error": 3} and ws.state.ledger.reconciles


# Marks from wherever they came: a per-call text or a dict message (issue 16)


def relay_with_a_peer(text):
    """A relay chat with one other member: the OK, then a copy of the peer's message number `n`."""
    relay_with_a_peer.n += 1
    peer = json.dumps({"text": marks.make("peer-1-1", relay_with_a_peer.n, time.time_ns())})
    return [("OK", 0.0001), (peer, 0.0002)]


def test_marks_sent_per_call_switch_delivery_counting_on():
    """A plain payload, then marked texts per call: the peer's copies are deliveries, not other frames."""
    relay_with_a_peer.n = -1
    SERVER.respond = relay_with_a_peer
    ws = make(other="skip")
    assert not ws.marks
    ws.connect()
    for _ in range(4):
        ws.request('{"text": "{mark}"}')
    assert ws.marks and ws.state.ledger.other_frames == 0
    assert rows(ws)[(DELIVERY, "room/[group]")] == (3, 0)  # the 4th copy is still queued
    room = ws.state.delivery.snapshot()["rooms"][ws.group]
    assert room["delivered"] == 3 and room["missing"] == 0


def test_dict_messages_have_their_string_values_filled_keys_untouched():
    """{user} {seq} {group} {sent_ns} {mark} in string values, nested too; keys and other values as they are."""
    ws = make()
    ws.connect(group="lobby")
    ws.request()
    message = {"u": "{user}", "s": "#{seq}", "{seq}": [{"m": "{mark}", "g": "{group}"}, 3, None], "t": "{sent_ns}"}
    before = time.time_ns()
    ws.request(message)
    sent = json.loads(SERVER.clients[0].sent[1])
    assert sent["u"] == ws.user and sent["s"] == "#1" and sent["{seq}"][1:] == [3, None]
    assert sent["{seq}"][0]["g"] == "lobby"
    (mark,) = marks.find(sent["{seq}"][0]["m"])
    # Message 1 ({seq}), and this connection's first marked message: its mark is number 0 (marks count apart).
    assert (mark.sender, mark.seq, mark.sent_ns) == (ws.user, 0, int(sent["t"]))
    assert before <= mark.sent_ns <= time.time_ns()
    assert message["u"] == "{user}"  # the caller's dict is not changed
    ws.request(["{seq}", {"k": 'json {"a": 1} stays'}])
    assert json.loads(SERVER.clients[0].sent[2]) == ["2", {"k": 'json {"a": 1} stays'}]
    ws.request({"{seq}": 1, "n": 2})  # a placeholder in a key only: sent as it is
    assert SERVER.clients[0].sent[3] == '{"{seq}": 1, "n": 2}'


def test_a_marked_dict_message_is_its_own_reply_and_others_copies_are_deliveries():
    """A relay chat by dicts per call: `own` finds this message's copy; the peer's are deliveries."""

    def relay(text):
        relay.n += 1
        peer = json.dumps({"message": marks.make("peer-1-1", relay.n, time.time_ns())})
        return [(peer, 0.0001), (json.dumps({"message": json.loads(text)["message"]}), 0.0002)]

    relay.n = -1
    SERVER.respond = relay
    ws = make()
    ws.connect()
    for _ in range(3):
        ws.request({"message": "{mark}"}, "own")
    ledger = ws.state.ledger
    assert (ledger.ok, ledger.other_frames) == (3, 0)
    assert rows(ws)[(DELIVERY, "room/[group]")] == (3, 0)


def test_a_bad_placeholder_in_a_dict_is_a_recorded_step_failure():
    """A dict's string value is a template: an unknown placeholder is an OptionError inside the step."""
    ws = make()
    ws.connect()
    with pytest.raises(StepError, match=r"OptionError: message: unknown placeholder \{nope\}") as caught:
        ws.request({"text": "{nope}"})
    assert isinstance(caught.value.__cause__, OptionError)
    assert_failed_step(ws)
    assert SERVER.clients[0].sent == []


def test_dict_values_are_json_escaped_and_every_message_is_filled_past_the_cache():
    """A room name with quotes, a backslash and non-ASCII stays valid JSON; 300 distinct dicts are all filled."""
    ws = make()
    room = 'a"b\\c é'
    ws.connect(group=room)
    ws.request({"g": "{group}", "u": "{user}"})
    ws.request({"{key}": "{group}"})  # a placeholder in a key: the values are filled all the same
    for n in range(300):
        ws.request({"n": n, "s": "{seq}"})
    sent = [json.loads(text) for text in SERVER.clients[0].sent]
    assert sent[0] == {"g": room, "u": ws.user} and sent[1] == {"{key}": room}
    assert all(message == {"n": n, "s": str(n + 2)} for n, message in enumerate(sent[2:]))


def test_locusts_control_flow_raised_in_a_step_is_recorded_then_passed_on():
    """A RescheduleTask-like exception from a user's matcher fails the step, and reaches Locust unchanged."""

    class RescheduleTask(Exception):  # stands in for locust.exception.RescheduleTask, without importing locust
        pass

    RescheduleTask.__module__ = "locust.exception"

    def matcher(frame):
        raise RescheduleTask()

    ws = make()
    ws.connect()
    with pytest.raises(RescheduleTask):
        ws.request("hello", matcher)
    ledger = ws.recording.ledger
    assert (ledger.sent, ledger.failed, ledger.in_flight) == (1, 1, 0) and ledger.reconciles
    assert not ws.connected


def test_marks_are_numbered_apart_from_seq_so_unmarked_messages_leave_no_gap():
    """A member sends marked, unmarked (a typing notice), marked, ...: its marks go 0, 1, 2 and a receiver that got
    them all counts no message missing; `own` finds each marked message's own copy by that number."""
    room = FakeServer(lambda text: [(text, 0.0001)])  # a relay: the sender's own copy comes back
    sender = room.session(groups=Groups.parse("lobby"), other="skip")
    receiver = room.session(
        groups=Groups.parse("lobby"), payload='{"text": "{mark}"}', recording=sender.recording, listen=False
    )  # a member: it looks for marks in what it reads
    sender.connect()
    receiver.connect()
    for _ in range(3):
        sender.request({"text": "{mark}", "i": "{seq}"}, "own")
        sender.send({"typing": True})  # no mark: numbered by {seq} only
        room.push(sender.client.sent[-2], client=1)  # the relay's copy of the marked one, to the receiver
    numbers = [m.seq for text in sender.client.sent for m in marks.find(text)]
    assert numbers == [0, 1, 2]
    assert [json.loads(t).get("i") for t in sender.client.sent] == ["0", None, "2", None, "4", None]
    with pytest.raises(ReplyTimeout):
        receiver.expect("never", timeout=0.05)  # reads (and sorts) the three copies, then times out
    counts = sender.recording.delivery.snapshot()["rooms"]["lobby"]
    assert counts["delivered"] == 3 and counts["missing"] == 0, counts


@pytest.mark.parametrize("payload", ["hello", '{"text": "hi", "mark": "{mark}"}'])
def test_a_session_keeps_few_enough_attributes_to_share_their_names(payload):
    """A held socket's session stays under the 30 attribute names Python shares among a class's instances.

    Past 29, each session keeps a dict of its own (1.3 KB more per socket): every setting at its default
    lives on the class, and the parsed payload, reply and rooms are one object for all sessions given the
    same text.
    """
    given = {"payload": payload, "headers": ["X-A: 1"], "subprotocols": ["chat"], "listen": False}
    sessions = [SERVER.session(groups="3", **given) for _ in "ab"]
    for ws in sessions:
        ws.connect()
        ws.request()
        ws.request({"text": "per-call {seq}"}, expect="OK")
        ws.close()
    first, second = sessions
    assert len(vars(first)) <= 29, sorted(vars(first))
    assert first.payload is second.payload and first.expected is second.expected and first.groups is second.groups
    assert first.other == "fail" and "other" not in vars(first) and first.headers == ("X-A: 1",)
