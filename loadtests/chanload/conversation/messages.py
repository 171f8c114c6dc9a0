"""What a user sends (a payload template) and what it accepts back (an expected reply).

One placeholder grammar serves both: `{name}` for a known name is filled per message, any other text
(JSON braces included) is literal. Payloads know `{user}` (this connection's id), `{seq}` (0, 1, ...
per connection), `{group}` (the room), `{sent_ns}` (time.time_ns() at sending) and `{mark}` (a token
carrying all three, see `chanload.conversation.marks`). Expected replies know `{user}`, `{seq}` and `{group}`, filled
with the values of the message being answered. A dict or list message has the payload's placeholders
filled in its string values, keys untouched (`JsonPayload`, `fill_strings`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from chanload.conversation import marks
from chanload.exceptions import OptionError
from chanload.formatting import shorten
from chanload.wire.framing import Frame

PAYLOAD_PLACEHOLDERS = ("user", "seq", "group", "sent_ns", "mark")
EXPECT_PLACEHOLDERS = ("user", "seq", "group")
EXPECT_FORMS = "exact text, 're:PATTERN', 'json:TEMPLATE' or 'own'"
_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SAMPLE = {"user": "u0", "seq": 0, "group": "g0", "sent_ns": 0, "mark": marks.make("u0", 0, 0)}

Matcher = Callable[[Frame], bool]


class Template:
    """Text with placeholders: `{name}` for a name in `allowed` is filled per message, the rest is literal."""

    def __init__(self, text: str, option: str, allowed: tuple[str, ...]) -> None:
        self.text = text
        self.parts: list[tuple[bool, str]] = []
        pos = 0
        for match in _TOKEN.finditer(text):
            name = match.group(1)
            if name not in allowed:
                known = " ".join(f"{{{p}}}" for p in allowed)
                raise OptionError(f"{option}: unknown placeholder {{{name}}} in {shorten(text)}; known: {known}")
            self.parts.append((False, text[pos : match.start()]))
            self.parts.append((True, name))
            pos = match.end()
        self.parts.append((False, text[pos:]))
        self.names = frozenset(name for is_token, name in self.parts if is_token)
        self.static = None if self.names else text

    def fill(self, values: Mapping[str, Any], convert: Callable[[Any], str] = str) -> str:
        if self.static is not None:
            return self.static
        return "".join(convert(values[text]) if is_token else text for is_token, text in self.parts)


class Payload:
    """A message template: literal text with `{user}`, `{seq}`, `{group}`, `{sent_ns}`, `{mark}` filled per send.

    Only those tokens are replaced, so JSON braces need no escaping:
    `{"seq": {seq}, "text": "hi"}` renders as `{"seq": 3, "text": "hi"}`.
    """

    def __init__(self, template: str, option: str = "--ws-payload") -> None:
        self.template = template
        self._text = Template(template, option, PAYLOAD_PLACEHOLDERS)
        self._static = self._text.static
        self.uses_mark = "mark" in self._text.names
        if template.lstrip().startswith(("{", "[")):
            sample = self._text.fill(_SAMPLE)
            try:
                json.loads(sample)
            except ValueError as exc:
                raise OptionError(
                    f"{option} looks like JSON but is not valid JSON once filled in ({exc}): {shorten(sample)}"
                ) from None

    def render(self, *, user: str, seq: int, group: str, sent_ns: int) -> str:
        if self._static is not None:
            return self._static
        values = {"user": user, "seq": seq, "group": group, "sent_ns": sent_ns}
        if self.uses_mark:
            values["mark"] = marks.make(user, seq, sent_ns)
        return self._text.fill(values)


class JsonPayload:
    """A dict or list message with placeholders in its string values, as the JSON text it is sent as.

    Made once per distinct text (`json.dumps` of the message, keys free of placeholders): the values are
    filled into the text, each escaped as `json.dumps` writes a string, so that a message costs one
    `json.dumps` and no copy of the structure.
    """

    def __init__(self, text: str, option: str = "message") -> None:
        self._text = Template(text, option, PAYLOAD_PLACEHOLDERS)
        self.uses_mark = "mark" in self._text.names

    def render(self, *, user: str, seq: int, group: str, sent_ns: int) -> str:
        values = {"user": user, "seq": seq, "group": group, "sent_ns": sent_ns}
        if self.uses_mark:
            values["mark"] = marks.make(user, seq, sent_ns)
        return self._text.fill(values, _in_json_string)


def _in_json_string(value: Any) -> str:
    return encode_basestring_ascii(value)[1:-1] if isinstance(value, str) else str(value)


class Values(dict):
    """A message's placeholder values: `user`, `seq` and `group` given; `sent_ns` and `mark` made on first use."""

    def __missing__(self, name: str) -> Any:
        if name == "sent_ns":
            value: Any = time.time_ns()
        elif name == "mark":
            value = marks.make(self["user"], self["seq"], self["sent_ns"])
        else:
            raise KeyError(name)
        self[name] = value
        return value


def has_placeholder(text: str) -> bool:
    """Whether `text` holds a `{name}` token.

    In `json.dumps` output only a string can: a brace outside strings is followed by `"` or `}`.
    """
    return _TOKEN.search(text) is not None


def keys_have_placeholder(value: Any) -> bool:
    """Whether a key of a dict in `value` (a message, nested) holds a `{name}` token."""
    if isinstance(value, dict):
        return any(
            (isinstance(key, str) and _TOKEN.search(key) is not None) or keys_have_placeholder(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return any(keys_have_placeholder(item) for item in value)
    return False


def fill_strings(value: Any, template: Callable[[str], Template], values: Mapping[str, Any]) -> Any:
    """A dict or list message with the placeholders in its string values filled (keys untouched, recursively).

    `template(text)` gives the parsed `Template` of a string (a cache; it raises `OptionError` for an
    unknown placeholder). Copies only what changes: a message without placeholders comes back as it is.
    """
    if isinstance(value, str):
        if "{" not in value:
            return value
        parsed = template(value)
        return value if parsed.static is not None else parsed.fill(values)
    if isinstance(value, dict):
        out = None
        for key, item in value.items():
            filled = fill_strings(item, template, values)
            if filled is not item:
                if out is None:
                    out = dict(value)
                out[key] = filled
        return value if out is None else out
    if isinstance(value, list | tuple):
        items = [fill_strings(item, template, values) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


@dataclass(frozen=True, eq=False)
class Expect:
    """The reply a message must get.

    Forms: exact text; `re:PATTERN` matching the whole reply; `json:TEMPLATE`, a reply that parses as
    JSON and holds the template's fields with equal values (nested objects too; other fields ignored);
    `own`, the frame that carries this message's own mark back (relay apps such as the Channels
    tutorial's chat); or, from Python, a predicate. `{user}`, `{seq}` and `{group}` are filled with the
    values of the message being answered (regex-escaped under `re:`, JSON-encoded in strings under `json:`).
    """

    spec: str
    form: str = "text"  # text | re | json | own | predicate
    _template: Template | None = field(default=None, repr=False)
    _static: Matcher | None = field(default=None, repr=False)
    _predicate: Matcher | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, spec: str, option: str = "--ws-expect") -> Expect:
        if spec == "own":
            return cls(spec, "own")
        form, body = "text", spec
        for prefix in ("re:", "json:"):
            if spec.startswith(prefix):
                form, body = prefix[:-1], spec[len(prefix) :]
        template = Template(body, option, EXPECT_PLACEHOLDERS)
        sample = {"user": "u0", "seq": 0, "group": "g0"}
        if form == "re":
            try:
                re.compile(template.fill(sample, _re_value), re.DOTALL)
            except re.error as exc:
                raise OptionError(f"{option}: bad regular expression {shorten(body)}: {exc}") from None
        elif form == "json":
            try:
                json.loads(template.fill(sample, _json_value))
            except ValueError as exc:
                raise OptionError(f"{option}: json: template is not valid JSON once filled in ({exc})") from None
        expect = cls(spec, form, template)
        if template.static is not None:
            object.__setattr__(expect, "_static", expect._build(template.static))
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

    @property
    def templated(self) -> bool:
        """Whether the matcher depends on the message answered (placeholders, or `own`)."""
        return self._static is None and self.form != "predicate"

    def matcher(self, user: str = "", seq: int = 0, group: str = "") -> Matcher:
        """The test one reply must pass, for the message (`user`, `seq`, `group`) it answers."""
        if self._static is not None:
            return self._static
        if self.form == "predicate":
            assert self._predicate is not None
            return self._predicate
        if self.form == "own":
            return _contains(f"{marks.PREFIX}{user}.{seq}.")
        assert self._template is not None
        values = {"user": user, "seq": seq, "group": group}
        convert = _re_value if self.form == "re" else _json_value if self.form == "json" else str
        return self._build(self._template.fill(values, convert))

    def matches(self, reply: Frame, user: str = "", seq: int = 0, group: str = "") -> bool:
        return self.matcher(user, seq, group)(reply)

    def describe(self, user: str = "", seq: int = 0, group: str = "") -> str:
        if self.form == "own":
            return f"its own message back ({marks.PREFIX}{user}.{seq}...)"
        if self.form == "predicate" or self._template is None:
            return self.spec
        text = self._template.fill({"user": user, "seq": seq, "group": group})
        return {"re": f"/{text}/", "json": f"json {shorten(text)}"}.get(self.form, shorten(text))

    def _build(self, text: str) -> Matcher:
        if self.form == "re":
            return _regex(re.compile(text, re.DOTALL))
        if self.form == "json":
            return _json_subset(json.loads(text))
        return _exact(text)


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


def subset(want: Any, got: Any) -> bool:
    """Whether `got` holds every field of `want` with an equal value (objects recursively; lists whole)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(map(subset, want, got))
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got  # JSON true is not 1
    if isinstance(want, int | float) and isinstance(got, int | float):
        return want == got  # 7 matches 7.0
    return type(want) is type(got) and want == got
