"""Opening steps: what a conversation does after every connect, before its first message (`--ws-open`).

An app that wants an init frame (`graphql-transport-ws`'s `connection_init`), a join command or a
subscription before it answers anything is loaded by options alone with one step per such exchange:

    --ws-open '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'
    --ws-open '[join] {"command": "join", "room": {group}} => json:{"join": "{group}"}'

A step is `[NAME] SEND => EXPECT`. `SEND` takes `--ws-payload`'s forms and placeholders, `EXPECT`
`--ws-expect`'s. `[NAME]` is optional (default `open1`, `open2`, ... by position). A name is plain words
(letters, digits, spaces, `-`, `_`, `.`; no quotes, commas, colons or braces), so a `SEND` that is a JSON
array (`["join", {group}] => OK`) is sent, never read as a name; a text `SEND` that itself starts with
a `[word]` needs a name before it. A step with both is a round trip, its own `WS message NAME` row; one
with only `=> EXPECT` waits for a frame (a welcome), a `WS receive NAME` row; one with only `SEND` (no
`=>`) sends and goes on. The text is split at the first `=>` that stands apart (spaces around it), so
a `SEND` cannot hold one; an `EXPECT` can.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from chanload.conversation.messages import Expect, Payload
from chanload.exceptions import OptionError
from chanload.formatting import shorten

# A name in brackets: no quotes, commas, colons, braces or brackets, and at least one letter, so that a JSON
# array SEND (`["join", 1] => OK`, `[1, 2]`, `[{group}]`) is never taken for one.
_NAME = re.compile(r"\[([^\[\]\"',:{}]*[^\W\d][^\[\]\"',:{}]*)\]\s*")
_EMPTY_NAME = re.compile(r"\[\s*\]")
_ARROW = re.compile(r"(?:^|\s)=>(?:\s|$)")  # the first `=>` standing apart
FORM = "'[NAME] SEND => EXPECT'"


@dataclass(frozen=True)
class Opening:
    """One opening step: a name, what it sends (or None) and what it waits for (or None)."""

    name: str
    send: Payload | None
    expect: Expect | None
    spec: str = ""

    @classmethod
    def parse(cls, spec: str, position: int = 1, option: str = "--ws-open") -> Opening:
        """A step from its `[NAME] SEND => EXPECT` text; `position` (1, 2, ...) names an unnamed one."""
        if not isinstance(spec, str):
            raise OptionError(f"{option}: expected a text of the form {FORM}, not {type(spec).__name__}")
        text = spec.strip()
        name = f"open{position}"
        if _EMPTY_NAME.match(text):
            raise OptionError(f"{option} {shorten(spec)!r}: the step name in [...] is empty; e.g. {FORM}")
        head = _NAME.match(text)
        if head:
            name = head.group(1).strip()
            if any(c in name for c in "\n\r\t"):
                raise OptionError(f"{option} {shorten(spec)!r}: a step name is one line; e.g. {FORM}")
            text = text[head.end() :]
        arrow = _ARROW.search(text)
        send_text = (text[: arrow.start()] if arrow else text).strip()
        expect_text = text[arrow.end() :].strip() if arrow else ""
        if arrow and not expect_text:
            raise OptionError(f"{option} {shorten(spec)!r}: nothing after '=>': give the reply to wait for, {FORM}")
        if not send_text and not expect_text:
            raise OptionError(
                f"{option} {shorten(spec)!r}: a step sends something, waits for something, or both: {FORM}"
            )
        label = f"{option} [{name}]"
        send = Payload(send_text, label) if send_text else None
        expect = Expect.parse(expect_text, label) if expect_text else None
        return cls(name, send, expect, spec)

    @property
    def uses_mark(self) -> bool:
        return self.send is not None and self.send.uses_mark


def openings(steps: Iterable[Opening | str], option: str = "--ws-open") -> tuple[Opening, ...]:
    """Steps from texts or `Opening`s, unnamed ones named by position; two steps of one name are refused."""
    parsed = tuple(
        step if isinstance(step, Opening) else Opening.parse(step, position, option)
        for position, step in enumerate(steps, 1)
    )
    names = [step.name for step in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise OptionError(
            f"{option}: two steps are named {twice[0]!r}: each step is a row of its own, give it its own name"
        )
    return parsed
