"""What a user sends (a payload template) and what it accepts back (an expected reply)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PLACEHOLDERS = ("user", "seq", "group", "sent_ns")
_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SHOW = 60


class OptionError(ValueError):
    """An option's value is wrong; the message names the option and what to change."""


def shorten(value: str | bytes, limit: int = _SHOW) -> str:
    """repr() of value, cut to about `limit` characters so failure messages stay readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Payload:
    """A message template: literal text with `{user}`, `{seq}`, `{group}`, `{sent_ns}` filled per send.

    Only those four tokens are replaced, so JSON braces need no escaping:
    `{"seq": {seq}, "text": "hi"}` renders as `{"seq": 3, "text": "hi"}`.
    """

    def __init__(self, template: str, option: str = "--ws-payload") -> None:
        self.template = template
        self._parts: list[tuple[bool, str]] = []
        pos = 0
        for match in _TOKEN.finditer(template):
            name = match.group(1)
            if name not in PLACEHOLDERS:
                known = " ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise OptionError(f"{option}: unknown placeholder {{{name}}} in {shorten(template)}; known: {known}")
            self._parts.append((False, template[pos : match.start()]))
            self._parts.append((True, name))
            pos = match.end()
        self._parts.append((False, template[pos:]))
        self._static = None if any(is_token for is_token, _ in self._parts) else template
        if template.lstrip().startswith(("{", "[")):
            sample = self.render(user="u0", seq=0, group="g0", sent_ns=0)
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
        return "".join(str(values[text]) if is_token else text for is_token, text in self._parts)


@dataclass(frozen=True)
class Expect:
    """The reply a message must get: exact text, or `re:PATTERN` that must match the whole reply."""

    spec: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, spec: str, option: str = "--ws-expect") -> Expect:
        if spec.startswith("re:"):
            try:
                return cls(spec, re.compile(spec[3:], re.DOTALL))
            except re.error as exc:
                raise OptionError(f"{option}: bad regular expression {shorten(spec[3:])}: {exc}") from None
        return cls(spec)

    def matches(self, reply: str | bytes) -> bool:
        if isinstance(reply, bytes):
            try:
                reply = reply.decode()
            except UnicodeDecodeError:
                return False
        if self.pattern is not None:
            return self.pattern.fullmatch(reply) is not None
        return reply == self.spec

    def describe(self) -> str:
        return f"/{self.pattern.pattern}/" if self.pattern is not None else shorten(self.spec)
