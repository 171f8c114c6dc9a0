"""A session's own messages: per-call texts, dicts and lists, and expectations, each parsed once.

`Session` sends its default payload itself (the common case, no lookup); anything else a step is given
goes through a `Composer`, which caches what it parsed (up to 256 of each kind) and notes whether any
message carried `{mark}`: from then on, what arrives may hold other members' copies of it. `marked`
says whether the last message made carried one (the session numbers its marked messages apart).
"""

from __future__ import annotations

import json
import time

from chanload.conversation.messages import (
    PAYLOAD_PLACEHOLDERS,
    Expect,
    JsonPayload,
    Payload,
    Template,
    Values,
    fill_strings,
    has_placeholder,
    keys_have_placeholder,
)
from chanload.wire.framing import Frame

_CACHE_LIMIT = 256


class Composer:
    """One session's per-call messages and expectations, parsed once; `marks` once one carried a mark."""

    def __init__(self) -> None:
        self.marks = False
        self.marked = False  # the last frame made carried a mark
        self._texts: dict[str, Payload] = {}
        self._json: dict[str, JsonPayload] = {}  # dict and list messages with placeholders, by JSON text
        self._values: dict[str, Template] = {}  # their string values, when their keys have placeholders too
        self._expects: dict[str, Expect] = {}

    def frame(
        self,
        message: Frame | dict | list | Payload,
        user: str,
        seq: int,
        group: str,
        username: str = "",
        *,
        sent_ns: int = 0,
        mark_seq: int = -1,
    ) -> Frame:
        """`message` as sent: text with its placeholders filled, bytes as they are, a dict or list as JSON.

        `sent_ns` (default: now) and `mark_seq` (default: `seq`) go into a `{mark}`; `marked` says if one did.

        A text that looks like JSON is checked with this connection's room (once per room): one that
        `{group}` breaks raises an `OptionError` here, inside the step, which records it as the step's failure.
        """
        self.marked = False
        sent_ns = sent_ns or time.time_ns()
        if isinstance(message, Payload):
            payload = message
            if payload.uses_mark:
                self.marks = True
        elif isinstance(message, bytes):
            return message
        elif isinstance(message, dict | list):
            return self._json_frame(message, user, seq, group, username, sent_ns, mark_seq)
        else:
            cached = self._texts.get(message)
            if cached is None:
                cached = Payload(message, "message")
                if cached.uses_mark:
                    self.marks = True  # new here: the one time a text's {mark} can switch marks on
                if len(self._texts) < _CACHE_LIMIT:
                    self._texts[message] = cached
            payload = cached
        payload.check_room(group)
        self.marked = payload.uses_mark
        return payload.render(user=user, seq=seq, group=group, sent_ns=sent_ns, username=username, mark_seq=mark_seq)

    def _json_frame(
        self, message: dict | list, user: str, seq: int, group: str, username: str, sent_ns: int, mark_seq: int
    ) -> str:
        """A dict or list message as JSON, the placeholders in its string values filled (keys untouched)."""
        text = json.dumps(message)
        if not has_placeholder(text):  # the common case: one search of the text that goes out anyway
            return text
        payload = self._json.get(text)
        if payload is None and len(self._json) < _CACHE_LIMIT and not keys_have_placeholder(message):
            payload = JsonPayload(text)
            if payload.uses_mark:
                self.marks = True  # new here: the one time a dict's {mark} can switch marks on
            self._json[text] = payload
        if payload is not None:
            self.marked = payload.uses_mark
            return payload.render(
                user=user, seq=seq, group=group, sent_ns=sent_ns, username=username, mark_seq=mark_seq
            )
        # Placeholders in keys too (or texts too many to cache): fill a copy of the message, value by value.
        values = Values(user=user, seq=seq, group=group, username=username, sent_ns=sent_ns)
        if mark_seq >= 0:
            values["mark_seq"] = mark_seq
        filled = fill_strings(message, self._value_template, values)
        self.marked = "mark" in values  # made on first use: a value held {mark}
        return text if filled is message else json.dumps(filled)

    def _value_template(self, text: str) -> Template:
        """The template of a string value in a dict or list message (a new one may switch marks on)."""
        cached = self._values.get(text)
        if cached is None:
            cached = Template(text, "message", PAYLOAD_PLACEHOLDERS)
            if "mark" in cached.names:
                self.marks = True
            if len(self._values) < _CACHE_LIMIT:
                self._values[text] = cached
        return cached

    def expect(self, expect) -> Expect:
        """An expected reply in any of `Expect.of`'s forms; texts parsed once."""
        if not isinstance(expect, str):
            return Expect.of(expect)
        parsed = self._expects.get(expect)
        if parsed is None:
            parsed = Expect.of(expect)
            if len(self._expects) < _CACHE_LIMIT:
                self._expects[expect] = parsed
        return parsed
