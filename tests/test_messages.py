"""Payload templates and expected replies."""

from __future__ import annotations

import json

import pytest

from chanload.messages import Expect, OptionError, Payload


def test_payload_fills_known_placeholders_and_leaves_json_braces():
    """Only {user} {seq} {group} {sent_ns} are replaced; JSON braces need no escaping."""
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
