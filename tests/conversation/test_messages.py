"""Payload templates and expected replies."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from chanload.conversation import marks
from chanload.conversation.groups import Groups
from chanload.conversation.messages import (
    PAYLOAD_PLACEHOLDERS,
    Expect,
    JsonPayload,
    Payload,
    Template,
    Values,
    fill_strings,
    subset,
)
from chanload.exceptions import OptionError


def test_payload_fills_known_placeholders_and_leaves_json_braces():
    """Only the known placeholders are replaced; JSON braces need no escaping."""
    p = Payload('{"sender": "{user}", "seq": {seq}, "room": "{group}", "t": {sent_ns}}')
    out = json.loads(p.render(user="u1", seq=7, group="g3", sent_ns=123))
    assert out == {"sender": "u1", "seq": 7, "room": "g3", "t": 123}


def test_static_payload_renders_as_is():
    """A text with no placeholders is sent unchanged."""
    assert Payload("hello").render(user="u", seq=1, group="g", sent_ns=0) == "hello"


def test_unknown_placeholder_is_an_option_error():
    """{oops} names itself and the known placeholders."""
    with pytest.raises(OptionError, match=r"unknown placeholder \{oops\}.*\{seq\}"):
        Payload("x {oops}")


def test_payload_that_looks_like_json_must_parse():
    """A broken JSON template fails at startup, not per message."""
    with pytest.raises(OptionError, match="looks like JSON"):
        Payload('{"seq": {seq}')


def test_exact_expect_matches_text_and_utf8_bytes():
    """OK matches 'OK' and b'OK', nothing else."""
    e = Expect.parse("OK")
    assert e.matches("OK") and e.matches(b"OK")
    assert not e.matches("OK ") and not e.matches(b"\xff")


def test_regex_expect_must_match_the_whole_reply():
    """re: patterns are full matches."""
    e = Expect.parse(r're:\{"ok": true.*\}')
    assert e.matches('{"ok": true, "x": 1}')
    assert not e.matches('xx{"ok": true}')


def test_bad_regex_is_an_option_error():
    """An invalid pattern is reported with the option name."""
    with pytest.raises(OptionError, match="--ws-expect: bad regular expression"):
        Expect.parse("re:(")


def test_expect_placeholders_take_the_values_of_the_message_answered():
    """Exact text with {user} {seq} {group}: filled per message."""
    e = Expect.parse("ack {user} {seq} {group}")
    assert e.matches("ack u1 7 lobby", user="u1", seq=7, group="lobby")
    assert not e.matches("ack u1 8 lobby", user="u1", seq=7, group="lobby")


def test_regex_expect_escapes_the_filled_values():
    """Under re:, a value with regex characters matches only itself."""
    e = Expect.parse(r"re:ack \d+ for {user}")
    assert e.matches("ack 12 for a.b+", user="a.b+")
    assert not e.matches("ack 12 for aXbbb", user="a.b+")


def test_json_expect_is_a_subset_match_with_nested_objects():
    """json: the reply holds the template's fields with equal values; others are ignored."""
    e = Expect.parse('json:{"op": "price", "id": {seq}, "meta": {"room": "{group}"}}')
    reply = json.dumps({"op": "price", "id": 7, "px": 1.5, "meta": {"room": "g1", "ts": 3}})
    assert e.matches(reply, seq=7, group="g1")
    assert not e.matches(reply, seq=8, group="g1")
    assert not e.matches(reply, seq=7, group="g2")
    assert not e.matches("not json", seq=7)
    assert not e.matches("[" * 100_000, seq=7)  # too deep for json.loads: not a match, not a crash


def test_json_subset_is_strict_about_types():
    """true is not 1, "7" is not 7, lists compare whole; 7 and 7.0 are the same number."""
    assert subset({"a": True}, {"a": True}) and not subset({"a": True}, {"a": 1})
    assert not subset({"id": 7}, {"id": "7"}) and subset({"id": 7}, {"id": 7.0})
    assert subset({"l": [1, {"x": 1}]}, {"l": [1, {"x": 1, "y": 2}]}) and not subset({"l": [1]}, {"l": [1, 2]})
    assert subset(None, None) and not subset({"a": None}, {})


def test_own_matches_only_this_connections_mark_for_this_number():
    """own: the frame carries cl1.<user>.<seq>. -- not seq 10 for seq 1, not another user's."""
    e = Expect.parse("own")
    frame = json.dumps({"message": marks.make("u-1-1", 1, 123)})
    assert e.matches(frame, user="u-1-1", seq=1)
    assert not e.matches(frame, user="u-1-1", seq=10) and not e.matches(frame, user="u-1-11", seq=1)
    assert not e.matches(json.dumps({"message": marks.make("u-1-1", 10, 123)}), user="u-1-1", seq=1)
    assert e.matches(frame.encode(), user="u-1-1", seq=1)


def test_mark_in_a_payload_carries_sender_number_and_send_time():
    """{mark} renders as a token marks.find() reads back, inside JSON or inside a longer text."""
    p = Payload('{"message": "hi {mark} there"}')
    text = p.render(user="ab-3-1", seq=12, group="g", sent_ns=1_700_000_000_123_456_789)
    assert marks.find(text) == [marks.Mark("ab-3-1", 12, 1_700_000_000_123_456_789)]
    assert marks.find(text.encode()) == marks.find(text)
    nested = json.dumps({"event": {"body": json.loads(text)}})
    assert marks.find(nested) == marks.find(text)


def test_connection_ids_are_valid_mark_senders():
    """The per-process part of a connection id has no dots, so a mark parses back unambiguously."""
    assert marks.valid_sender(f"{marks.process_id()}-12-3")


# Placeholders that fit JSON (issue 16)


def filled(payload: Payload, **kw) -> str:
    values = {"user": "u-1-1", "seq": 3, "group": "12", "sent_ns": 5, **kw}
    return payload.render(**values)


def test_placeholders_are_filled_raw_so_integer_rooms_are_json_numbers():
    """`"room": {group}` with an integer pool is a JSON number; quoted, a string; {seq} a number either way."""
    p = Payload('{"room": {group}, "name": "{group}", "seq": {seq}}', groups=Groups.parse("1-500"))
    assert json.loads(filled(p)) == {"room": 12, "name": "12", "seq": 3}


@pytest.mark.parametrize(
    ("spec", "needed"),
    [
        ("1", [r"--ws-groups 1 gives the names g0\.\.g0 \(1 name\), not integers", "LOW-HIGH", '"{group}"']),
        ("10", [r"'\{\"room\": g0\}'", r"e\.g\. --ws-groups 1-10"]),
        ("A,B", [r"filled in with 'A' from --ws-groups A,B", 'put it in quotes, "{group}"']),
        ("g0-g9", [r"with 'g0' from --ws-groups g0-g9"]),
    ],
)
def test_a_json_payload_that_a_pool_of_names_breaks_is_refused_saying_what_to_change(spec, needed):
    """The start-up check fills {group} with the pool's own values, not a fixed g0: names outside quotes are refused."""
    with pytest.raises(OptionError) as caught:
        Payload('{"room": {group}}', groups=Groups.parse(spec))
    for pattern in needed:
        assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))


def test_the_check_uses_the_pools_real_values_integers_pass_and_quoting_always_does(tmp_path):
    """1-3 passes unquoted; a names file mixing 7 and x is caught by x; quoted, every pool passes."""
    Payload('{"room": {group}}', groups=Groups.parse("1-3"))
    Payload('{"room": {group}}', groups=Groups.parse("-5-5"))
    rooms = tmp_path / "rooms.txt"
    rooms.write_text("7\n8\nx\n9\n")
    mixed = Groups.parse(f"@{rooms}")
    assert set(mixed.samples) == {"7", "9", "x"}
    with pytest.raises(OptionError, match="filled in with 'x'"):
        Payload('{"room": {group}}', groups=mixed)
    for spec in ("3", "A,B", f"@{rooms}", "1-3"):
        Payload('{"room": "{group}"}', groups=Groups.parse(spec))


def test_without_a_pool_group_is_left_for_later_and_check_refuses_then():
    """Payload() alone cannot know the rooms: it checks every other placeholder, and check(groups) the rooms."""
    p = Payload('{"room": {group}}')
    p.check(Groups.parse("1-9"))
    p.check(("5",))
    with pytest.raises(OptionError, match="this connection's room"):
        p.check(("lobby",))  # a room given in use: the message names none, so it is one per fault
    with pytest.raises(OptionError, match="whatever fills its placeholders"):
        Payload('{"room": {group}')  # broken for any room: refused at once


def test_text_placeholders_outside_quotes_are_refused_naming_the_culprit():
    """{user}, {uuid}, {username} or a {choice:...} of names outside quotes: not JSON, and the message says so."""
    for name in ("{user}", "{uuid}", "{username}", "{choice:a|1}", "{mark}"):
        with pytest.raises(OptionError, match=re.escape(f"once {name} is filled in") + ".*" + re.escape(f'"{name}"')):
            Payload('{"x": ' + name + "}")
    Payload('{"x": {choice:1|2|3}, "y": {random:1-9}, "z": "{uuid}"}')


def test_random_is_an_integer_in_range_inclusive_and_new_per_message():
    """{random:1-3}: every value of 1..3 shows up, nothing else, as a JSON number."""
    p = Payload('{"n": {random:1-3}}')
    seen = {json.loads(filled(p))["n"] for _ in range(300)}
    assert seen == {1, 2, 3}
    assert json.loads(filled(Payload('{"n": {random:-2--2}}')))["n"] == -2


def test_choice_and_uuid_are_new_per_message_and_one_token_twice_takes_one_value():
    """{choice:A|B|C} picks among them; {uuid} is a fresh UUID4; the same token twice in a message agrees."""
    p = Payload('{"side": "{choice:buy|sell}", "id": "{uuid}", "again": "{uuid}"}')
    out = [json.loads(filled(p)) for _ in range(200)]
    assert {o["side"] for o in out} == {"buy", "sell"}
    ids = [o["id"] for o in out]
    assert len(set(ids)) == 200 and all(uuid.UUID(i).version == 4 for i in ids)
    assert all(o["id"] == o["again"] for o in out)
    assert {filled(Payload("pick {choice: a | b }")) for _ in range(100)} == {"pick a", "pick b"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{random:5-1}", r"\{random:5-1\}: LOW must not be above HIGH, e\.g\. \{random:1-5\}"),
        ("{random:x}", r"\{random:x\}: expected \{random:LOW-HIGH\} with integers, e\.g\. \{random:1-100\}"),
        ("{random}", r"expected \{random:LOW-HIGH\}"),
        ("{choice:}", r"\{choice:\}: expected \{choice:A\|B\|C\}"),
        ("{choice:a||b}", r"none empty"),
        ("{uuid:4}", r"\{uuid\} takes no argument"),
        ("{seq:2}", r"\{seq\} takes no argument"),
        ("{rand:1-2}", r"unknown placeholder \{rand:1-2\}.*\{random:LOW-HIGH\} \{choice:A\|B\|C\} \{uuid\}"),
    ],
)
def test_a_bad_generated_placeholder_is_an_option_error_naming_the_fix(template, message):
    """Arguments are checked when the template is parsed, never per message."""
    with pytest.raises(OptionError, match=message):
        Payload(template)


def test_username_is_filled_and_empty_without_a_login():
    """{username}: the account the session logged in with; '' when it did not."""
    p = Payload('{"who": "{username}", "seq": {seq}}')
    assert json.loads(filled(p, username="alice")) == {"who": "alice", "seq": 3}
    assert json.loads(filled(p)) == {"who": "", "seq": 3}


def test_generated_values_and_username_fill_dict_values_too():
    """A dict message's string values (keys with placeholders too: the copying path) get the new tokens."""
    values = Values(user="u", seq=1, group="g", username="bob")
    out = fill_strings(
        {"{group}": "{random:4-4} {username} {uuid}"}, lambda t: Template(t, "m", PAYLOAD_PLACEHOLDERS), values
    )
    n, who, ident = out["{group}"].split(" ")
    assert (n, who) == ("4", "bob") and uuid.UUID(ident)
    assert JsonPayload('{"a": "{choice:x|y}"}').render(user="u", seq=0, group="g", sent_ns=0) in (
        '{"a": "x"}',
        '{"a": "y"}',
    )


def test_a_json_expect_with_group_outside_quotes_matches_an_integer_room():
    """json:{"room": {group}} matches room 12 (a number) for room '12', not "12"; quoted, the reverse."""
    bare = Expect.parse('json:{"op": "subscribed", "room": {group}}', groups=Groups.parse("1-20"))
    assert bare.matches('{"op": "subscribed", "room": 12}', group="12")
    assert not bare.matches('{"op": "subscribed", "room": "12"}', group="12")
    quoted = Expect.parse('json:{"room": "{group}"}')
    assert quoted.matches('{"room": "12"}', group="12") and not quoted.matches('{"room": 12}', group="12")
    with pytest.raises(OptionError, match="--ws-groups 3 gives the names g0..g2"):
        Expect.parse('json:{"room": {group}}', groups=Groups.parse("3"))
    with pytest.raises(OptionError, match="this connection's room"):
        bare.matcher(group="lobby")  # mid-run, a room given by hand: an OptionError, which the step records


# Failure rows stay templates (issue 16)

DCRF = 'json:{"request_id": {seq}, "response_status": 200}'


def dcrf_404(request_id: int) -> str:
    return json.dumps(
        {"errors": ["Not found."], "data": None, "action": "retrieve", "response_status": 404, "request_id": request_id}
    )


def test_a_wrong_reply_names_the_template_and_the_differing_field_one_message_for_all():
    """400 request ids answered 404: one message, the template as written, and the 404 in it."""
    e = Expect.parse(DCRF)
    messages = {str(e.wrong_reply(dcrf_404(seq), "u-1-1", seq, "g0")) for seq in range(400)}
    assert messages == {
        'wrong reply: expected json \'{"request_id": {seq}, "response_status": 200}\', got response_status: 404'
    }


def test_a_templated_field_never_shows_another_messages_value():
    """A reply to another request: `request_id: not {seq}`, whatever the ids; equal values are written back."""
    e = Expect.parse(DCRF)
    shown = {
        str(e.wrong_reply(json.dumps({"request_id": s - 1, "response_status": 200}), "u", s, "g")) for s in range(1, 50)
    }
    assert shown == {
        'wrong reply: expected json \'{"request_id": {seq}, "response_status": 200}\', got request_id: not {seq}'
    }
    text = str(e.wrong_reply(json.dumps({"request_id": "7"}), "u", 7, "g"))
    assert text.endswith('got request_id: "{seq}"; no response_status'), text  # the id came back as a string
    room = Expect.parse('json:{"room": {group}}')
    assert str(room.wrong_reply('{"room": "12"}', "u", 0, "12")).endswith('got room: "{group}"')


def test_other_forms_show_the_reply_short_with_marks_and_this_connections_id_as_placeholders():
    """Text, re:, own and a non-JSON reply under json: the reply cut short, one message for every sender and number."""
    messages = set()
    for seq in range(20):
        user = f"abc-{seq}-1"
        frame = f"nack from {user}: {marks.make(user, seq, 1_700_000_000_000_000_000 + seq)}"
        for expect in (Expect.parse("ack {seq}"), Expect.parse(r"re:ack \d+"), Expect.parse("own"), Expect.parse(DCRF)):
            messages.add(str(expect.wrong_reply(frame, user, seq, "g0")))
    assert messages == {
        "wrong reply: expected 'ack {seq}', got 'nack from {user}: {mark}'",
        "wrong reply: expected /ack \\d+/, got 'nack from {user}: {mark}'",
        "wrong reply: expected its own message back (the frame carrying its {mark}), got 'nack from {user}: {mark}'",
        'wrong reply: expected json \'{"request_id": {seq}, "response_status": 200}\', got a reply that is not JSON: '
        "'nack from {user}: {mark}'",
    }


def test_a_text_reply_writes_back_this_messages_values_of_the_expectations_placeholders():
    """`pong {seq} in {group}` answered `pang 17 in room-3`: one message for every seq and room, the typo kept."""
    expect = Expect.parse("pong {seq} in {group}")
    shown = {str(expect.wrong_reply(f"pang {s} in room-{s % 5}", "u", s, f"room-{s % 5}")) for s in range(300)}
    assert shown == {"wrong reply: expected 'pong {seq} in {group}', got 'pang {seq} in {group}'"}
    # Only whole words: seq 7 in `pang 170` is not this message's value; and a value the expectation does not
    # name is shown as it is (`ERR 404` at seq 404 stays 404).
    assert str(expect.wrong_reply("pang 170 in g", "u", 7, "g")).endswith("got 'pang 170 in {group}'")
    assert str(Expect.parse("OK").wrong_reply("ERR 404", "u", 404, "g")).endswith("got 'ERR 404'")


def test_nested_and_many_differences_are_named_by_path_and_capped():
    """a.b: nested fields by path; a missing field as `no x`; more than three differences end with ..."""
    e = Expect.parse('json:{"a": {"b": 1}, "c": 2, "d": 3, "e": 4}')
    text = str(e.wrong_reply('{"a": {"b": 9}, "d": 0, "e": 0}', "u", 0, "g"))
    assert text.endswith("got a.b: 9; no c; d: 0; ..."), text


def test_a_reply_of_another_shape_says_its_kind_and_a_templated_field_never_its_value():
    """An array for an object: its kind only; an object where `{seq}` was due: `not {seq}`, not the object."""
    e = Expect.parse(DCRF)
    assert str(e.wrong_reply("[7, 8]", "u", 7, "g")).endswith("got a JSON array, not object")
    got = json.dumps({"request_id": {"n": 7}, "response_status": 200})
    assert str(e.wrong_reply(got, "u", 7, "g")).endswith("got request_id: not {seq}")
