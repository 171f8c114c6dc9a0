"""Payload templates and expected replies."""

from __future__ import annotations

import json

import pytest

from chanload.conversation import marks
from chanload.conversation.messages import Expect, Payload, subset
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
