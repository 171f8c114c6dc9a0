"""What a user accepts back: an expected reply (`Expect`) and the `Matcher` it builds for one message.

Expected replies know `{user}`, `{seq}`, `{group}` and `{username}`, filled with the values of the message
being answered; the grammar is `chanload.conversation.placeholders`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chanload.conversation import marks, replies
from chanload.conversation.groups import Groups
from chanload.conversation.placeholders import Template, check_json
from chanload.conversation.replies import subset
from chanload.exceptions import OptionError, WrongReply
from chanload.formatting import shorten
from chanload.wire.framing import Frame

EXPECT_PLACEHOLDERS = ("user", "seq", "group", "username")
EXPECT_FORMS = "exact text, 're:PATTERN', 'json:TEMPLATE' or 'own'"
_CHECKED_LIMIT = 4096  # rooms remembered as checked, per template

Matcher = Callable[[Frame], bool]


@dataclass(frozen=True, eq=False)
class Expect:
    """The reply a message must get.

    Forms: exact text; `re:PATTERN` matching the whole reply; `json:TEMPLATE`, a reply that parses as
    JSON and holds the template's fields with equal values (nested objects too; other fields ignored);
    `own`, the frame that carries this message's own mark back (relay apps such as the Channels
    tutorial's chat); or, from Python, a predicate. `{user}`, `{seq}`, `{group}` and `{username}` are
    filled with the values of the message being answered (regex-escaped under `re:`; under `json:`,
    raw, so `"room": {group}` is a number with integer rooms and `"room": "{group}"` a string).
    A reply that fails is described by `wrong_reply`, the same for every message (one failure row).
    """

    spec: str
    form: str = "text"  # text | re | json | own | predicate
    _template: Template | None = field(default=None, repr=False)
    _static: Matcher | None = field(default=None, repr=False)
    _predicate: Matcher | None = field(default=None, repr=False)
    _option: str = field(default="--ws-expect", repr=False)
    _checked: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def parse(cls, spec: str, option: str = "--ws-expect", groups: Groups | Iterable[str] | None = None) -> Expect:
        if spec == "own":
            return cls(spec, "own")
        form, body = "text", spec
        for prefix in ("re:", "json:"):
            if spec.startswith(prefix):
                form, body = prefix[:-1], spec[len(prefix) :]
        template = Template(body, option, EXPECT_PLACEHOLDERS)
        if form == "re":
            try:
                re.compile(template.fill(_SAMPLE, _re_value), re.DOTALL)
            except re.error as exc:
                raise OptionError(f"{option}: bad regular expression {shorten(body)}: {exc}") from None
        elif form == "json":
            check_json(template, option, _JSON_TEMPLATE, _json_value)
        expect = cls(spec, form, template, _option=option)
        if template.static is not None:
            object.__setattr__(expect, "_static", expect._build(template.static))
        if groups is not None:
            expect.check(groups)
        return expect

    @classmethod
    def of(cls, value: Expect | str | dict | list | Matcher) -> Expect:
        """An Expect from Python: an Expect, a --ws-expect string, a dict/list (JSON subset) or a predicate."""
        if isinstance(value, Expect):
            return value
        if isinstance(value, str):
            return cls.parse(value, option="expect")
        if isinstance(value, dict | list):
            return cls.parse("json:" + json.dumps(value), option="expect")
        if callable(value):
            return cls(getattr(value, "__name__", "predicate"), "predicate", _predicate=value)
        raise TypeError(f"expect: a str, dict, list, callable or Expect, not {type(value).__name__}")

    def check(self, groups: Groups | Iterable[str]) -> None:
        """Refuse (OptionError) a `json:` template that `{group}` would break, filled with the pool's values."""
        if self.form != "json" or self._template is None or "group" not in self._template.names:
            return
        values = groups.samples if isinstance(groups, Groups) else tuple(groups)
        if all(value in self._checked for value in values):
            return
        pool = groups if isinstance(groups, Groups) else values
        check_json(self._template, self._option, _JSON_TEMPLATE, _json_value, pool)
        if len(self._checked) < _CHECKED_LIMIT:
            self._checked.update(values)

    @property
    def templated(self) -> bool:
        """Whether the matcher depends on the message answered (placeholders, or `own`)."""
        return self._static is None and self.form != "predicate"

    def matcher(self, user: str = "", seq: int = 0, group: str = "", username: str = "", mark_seq: int = -1) -> Matcher:
        """The test one reply must pass, for the message (`user`, `seq`, `group`) it answers.

        `own` looks for the message's mark, numbered `mark_seq` (the session's count of marked messages), else `seq`.
        """
        if self._static is not None:
            return self._static
        if self.form == "predicate":
            assert self._predicate is not None
            return self._predicate
        if self.form == "own":
            return _contains(f"{marks.PREFIX}{user}.{seq if mark_seq < 0 else mark_seq}.")
        assert self._template is not None
        values = {"user": user, "seq": seq, "group": group, "username": username}
        convert = _re_value if self.form == "re" else _json_value if self.form == "json" else str
        try:
            return self._build(self._template.fill(values, convert))
        except ValueError:
            if self.form == "json":
                self.check((group,))  # this room makes the template invalid JSON: say so (OptionError)
            raise

    def matches(self, reply: Frame, user: str = "", seq: int = 0, group: str = "", username: str = "") -> bool:
        return self.matcher(user, seq, group, username)(reply)

    def describe(self, *_ignored: object) -> str:
        """The expectation as written, placeholders kept (`json '{"id": {seq}}'`): one failure row for all messages.

        Arguments (a message's values, as older callers passed them) are ignored.
        """
        if self.form == "own":
            return "its own message back (the frame carrying its {mark})"
        if self.form == "predicate" or self._template is None:
            return self.spec
        body = self._template.text
        if self.form == "re":
            return f"/{body if len(body) <= 100 else body[:97] + '...'}/"
        return f"json {shorten(body, 100)}" if self.form == "json" else shorten(body)

    def wrong_reply(
        self, frame: Frame, user: str = "", seq: int = 0, group: str = "", username: str = ""
    ) -> WrongReply:
        """The failure for `frame`, which did not pass: the template, and the part of the reply that differs.

        Under `json:`, the fields the template names whose values differ (`response_status: 404`), a value
        equal to one of this message's written back as its placeholder (`{seq}`); otherwise the reply
        cut short. Marks and this connection's id are written as placeholders: the message is one per fault.
        """
        values = {"user": user, "seq": seq, "group": group, "username": username}
        if self.form == "json" and self._template is not None:
            detail = replies.json_detail(self._template, self._want(values), frame, values)
        else:
            names = self._template.names if self._template is not None else ()
            detail = replies.shown(frame, user, values, names)
        return WrongReply(self.describe(), frame, detail)

    def _want(self, values: Mapping[str, Any]) -> Any:
        assert self._template is not None
        try:
            return json.loads(self._template.fill(values, _json_value))
        except ValueError:
            return None

    def _build(self, text: str) -> Matcher:
        if self.form == "re":
            return _regex(re.compile(text, re.DOTALL))
        if self.form == "json":
            return _json_subset(json.loads(text))
        return _exact(text)


_JSON_TEMPLATE = "json: template is not valid JSON"
_SAMPLE = {"user": "u0", "seq": 0, "group": "g0", "username": "alice"}


def _re_value(value: Any) -> str:
    return re.escape(str(value))


def _json_value(value: Any) -> str:
    # Inside a JSON string: escaped as JSON string content. Numbers ({seq}) stay bare digits.
    return json.dumps(str(value))[1:-1] if isinstance(value, str) else str(value)


def _text(frame: Frame) -> str | None:
    if isinstance(frame, bytes):
        try:
            return frame.decode()
        except UnicodeDecodeError:
            return None
    return frame


def _exact(text: str) -> Matcher:
    data = text.encode()

    def match(frame: Frame) -> bool:
        return frame == (data if isinstance(frame, bytes) else text)

    return match


def _regex(pattern: re.Pattern[str]) -> Matcher:
    def match(frame: Frame) -> bool:
        text = _text(frame)
        return text is not None and pattern.fullmatch(text) is not None

    return match


def _contains(token: str) -> Matcher:
    data = token.encode()

    def match(frame: Frame) -> bool:
        return data in frame if isinstance(frame, bytes) else token in frame

    return match


def _json_subset(want: Any) -> Matcher:
    def match(frame: Frame) -> bool:
        text = _text(frame)
        if text is None:
            return False
        try:
            got = json.loads(text)
        except (ValueError, RecursionError):
            return False
        return subset(want, got)

    return match
