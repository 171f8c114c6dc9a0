"""What a user sends: a payload template (`Payload`, `JsonPayload`), filled per message from its `Values`.

Payloads know `{user}` (this connection's id), `{seq}` (0, 1, ... per connection), `{group}` (the room),
`{username}` (the account logged in with, else empty), `{sent_ns}` (time.time_ns() at sending), `{mark}` (a
token carrying sender, number and send time, see `chanload.conversation.marks`), and, new for each message,
`{random:LOW-HIGH}`, `{choice:A|B|C}` and `{uuid}`. A dict or list message has them filled in its string
values, keys untouched (`JsonPayload`, `fill_strings`). The grammar is `chanload.conversation.placeholders`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from chanload.conversation import marks
from chanload.conversation.groups import Groups
from chanload.conversation.placeholders import TOKEN, Template, check_json, generate

PAYLOAD_PLACEHOLDERS = ("user", "seq", "group", "username", "sent_ns", "mark", "random", "choice", "uuid")
_TOKEN = TOKEN
_NOT_JSON = "looks like JSON but is not valid JSON"
_CHECKED_LIMIT = 4096  # rooms remembered as checked, per template


class Payload:
    """A message template: literal text with placeholders filled per send.

    Only the known tokens are replaced, so JSON braces need no escaping: `{"seq": {seq}, "text": "hi"}`
    renders as `{"seq": 3, "text": "hi"}`. A template that starts with `{` or `[` must be valid JSON once
    filled in: checked here for every placeholder but `{group}`, and for `{group}` with the pool's values
    when `groups` is given (or by `check`, once the pool is known); an `OptionError` names the fix.
    """

    def __init__(
        self, template: str, option: str = "--ws-payload", groups: Groups | Iterable[str] | None = None
    ) -> None:
        self.template = template
        self.option = option
        self._text = Template(template, option, PAYLOAD_PLACEHOLDERS)
        self._static = self._text.static
        names = self._text.names
        self.uses_mark = "mark" in names
        self._generated = tuple(self._text.generated.items())
        self._extras = "username" in names or bool(self._generated)  # beyond the five the common case fills
        self.json_like = template.lstrip().startswith(("{", "["))
        self._group_checked = not (self.json_like and "group" in names)
        self._checked: set[str] = set()
        if self.json_like:
            check_json(self._text, option, _NOT_JSON)
        if groups is not None:
            self.check(groups)

    def check(self, groups: Groups | Iterable[str]) -> None:
        """Refuse (OptionError) a JSON template that `{group}` breaks, filled with the pool's `samples` or these."""
        if self._group_checked:
            return
        values = groups.samples if isinstance(groups, Groups) else tuple(groups)
        if all(value in self._checked for value in values):
            return
        check_json(self._text, self.option, _NOT_JSON, groups=groups if isinstance(groups, Groups) else values)
        if len(self._checked) < _CHECKED_LIMIT:
            self._checked.update(values)

    def check_room(self, group: str) -> None:
        """`check` for one connection's room, mid-run: a set lookup once it passed."""
        if not self._group_checked and group not in self._checked:
            self.check((group,))

    def render(self, *, user: str, seq: int, group: str, sent_ns: int, username: str = "", mark_seq: int = -1) -> str:
        """The message as sent; its `{mark}` numbered `mark_seq` (a session's count of marked messages), else `seq`."""
        if self._static is not None:
            return self._static
        values = {"user": user, "seq": seq, "group": group, "sent_ns": sent_ns}
        if self.uses_mark:
            values["mark"] = marks.make(user, seq if mark_seq < 0 else mark_seq, sent_ns)
        if self._extras:
            _extras(values, username, self._generated)
        return self._text.fill(values)


class JsonPayload:
    """A dict or list message with placeholders in its string values, as the JSON text it is sent as.

    Made once per distinct text (`json.dumps` of the message, keys free of placeholders): the values are
    filled into the text, each escaped as `json.dumps` writes a string, so that a message costs one
    `json.dumps` and no copy of the structure.
    """

    def __init__(self, text: str, option: str = "message") -> None:
        self._text = Template(text, option, PAYLOAD_PLACEHOLDERS)
        names = self._text.names
        self.uses_mark = "mark" in names
        self._generated = tuple(self._text.generated.items())
        self._extras = "username" in names or bool(self._generated)  # beyond the five the common case fills

    def render(self, *, user: str, seq: int, group: str, sent_ns: int, username: str = "", mark_seq: int = -1) -> str:
        values = {"user": user, "seq": seq, "group": group, "sent_ns": sent_ns}
        if self.uses_mark:
            values["mark"] = marks.make(user, seq if mark_seq < 0 else mark_seq, sent_ns)
        if self._extras:
            _extras(values, username, self._generated)
        return self._text.fill(values, _in_json_string)


def _extras(values: dict[str, Any], username: str, generated: tuple) -> None:
    """The values beyond the common case's: `{username}`, and a new one for each generated token."""
    values["username"] = username
    for key, make in generated:
        values[key] = make()


def _in_json_string(value: Any) -> str:
    return encode_basestring_ascii(value)[1:-1] if isinstance(value, str) else str(value)


class Values(dict):
    """A message's placeholder values: `user`, `seq`, `group` (and `username`) given; the others made on first use.

    `sent_ns` and `mark` once per message; a generated token (`uuid`, `random:1-9`) once per message too,
    so the same token twice in a message takes one value.
    """

    def __missing__(self, name: str) -> Any:
        if name == "sent_ns":
            value: Any = time.time_ns()
        elif name == "mark":
            value = marks.make(self["user"], self.get("mark_seq", self["seq"]), self["sent_ns"])
        elif name == "username":
            value = ""
        elif name == "uuid" or ":" in name:
            value = generate(name)
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
