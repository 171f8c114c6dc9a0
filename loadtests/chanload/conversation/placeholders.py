"""The placeholder grammar of payloads and expected replies, and the check that a JSON template stays JSON.

A token is `{name}` or `{name:argument}` for a known name; any other text, JSON braces included, is
literal. Values are filled raw: `"room": {group}` is a JSON number when the rooms are integers
(`--ws-groups 1-500`), `"room": "{group}"` a string whatever they are. Besides the message's own
values (`{user}`, `{seq}`, `{group}`, ...), a payload may ask for a new value per message:
`{random:LOW-HIGH}` (an integer, LOW .. HIGH inclusive), `{choice:A|B|C}` (one of them) and `{uuid}`
(a random UUID, 36 characters); the same token twice in one message takes one value.
"""

from __future__ import annotations

import functools
import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chanload.conversation import marks
from chanload.conversation.groups import Groups
from chanload.exceptions import OptionError
from chanload.formatting import shorten

TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
GENERATED = ("random", "choice", "uuid")  # a new value per message
_SHOWN = {"random": "{random:LOW-HIGH}", "choice": "{choice:A|B|C}"}
_NS = 1_700_000_000_000_000_000  # a send time, for checks


class Template:
    """Text with placeholders: a token for a name in `allowed` is filled per message, the rest is literal.

    `parts` alternate literal text and token keys (`seq`, `random:1-9`); `generated` makes the value of
    each `{random:...}`, `{choice:...}` and `{uuid}` key, `samples` gives the values a check fills them with.
    """

    def __init__(self, text: str, option: str, allowed: tuple[str, ...]) -> None:
        self.text = text
        self.parts: list[tuple[bool, str]] = []
        self.generated: dict[str, Callable[[], Any]] = {}
        self.samples: dict[str, tuple[Any, ...]] = {}
        pos = 0
        for match in TOKEN.finditer(text):
            name, arg = match.group(1), match.group(2)
            if name not in allowed:
                known = " ".join(_SHOWN.get(p, f"{{{p}}}") for p in allowed)
                raise OptionError(f"{option}: unknown placeholder {match.group(0)} in {shorten(text)}; known: {known}")
            key = name if arg is None else f"{name}:{arg}"
            if name in GENERATED:
                self.generated[key], self.samples[key] = _generator(name, arg, option)
            elif arg is not None:
                raise OptionError(f"{option}: {{{name}}} takes no argument, got {match.group(0)}")
            self.parts.append((False, text[pos : match.start()]))
            self.parts.append((True, key))
            pos = match.end()
        self.parts.append((False, text[pos:]))
        self.names = frozenset(name for is_token, name in self.parts if is_token)
        self.static = None if self.names else text

    def fill(self, values: Mapping[str, Any], convert: Callable[[Any], str] = str) -> str:
        if self.static is not None:
            return self.static
        return "".join(convert(values[text]) if is_token else text for is_token, text in self.parts)


def _generator(name: str, arg: str | None, option: str) -> tuple[Callable[[], Any], tuple[Any, ...]]:
    """The maker of a per-message value and its check samples; a bad argument is an OptionError naming the fix."""
    if name == "uuid":
        if arg is not None:
            raise OptionError(f"{option}: {{uuid}} takes no argument, got {{uuid:{arg}}}")
        return _uuid, (str(uuid.UUID(int=0)),)
    if name == "random":
        match = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", arg or "")
        if match is None:
            raise OptionError(
                f"{option}: {{random{':' + arg if arg is not None else ''}}}: expected {{random:LOW-HIGH}} with "
                "integers, e.g. {random:1-100}"
            )
        low, high = int(match.group(1)), int(match.group(2))
        if high < low:
            raise OptionError(f"{option}: {{random:{arg}}}: LOW must not be above HIGH, e.g. {{random:{high}-{low}}}")
        return functools.partial(random.randint, low, high), (low, high)
    options = tuple(o.strip() for o in (arg or "").split("|"))
    if arg is None or not all(options):
        raise OptionError(
            f"{option}: {{choice{':' + arg if arg is not None else ''}}}: expected {{choice:A|B|C}}, one or more "
            "values separated by |, none empty"
        )
    return functools.partial(random.choice, options), options


def _uuid() -> str:
    return str(uuid.uuid4())


def generate(key: str) -> Any:
    """A new value for a generated token's key (`uuid`, `random:1-9`, `choice:a|b`), already checked."""
    return _maker(key)()


@functools.lru_cache(maxsize=256)
def _maker(key: str) -> Callable[[], Any]:
    name, colon, arg = key.partition(":")
    return _generator(name, arg if colon else None, "message")[0]


def sample_values(template: Template) -> dict[str, tuple[Any, ...]]:
    """Values a check fills each placeholder with: real-looking ones, all the choices, both ends of a range."""
    user = "u-0-1"  # a connection id's shape; fixed, so that a message about it is the same in every process
    values: dict[str, tuple[Any, ...]] = {
        "user": (user,),
        "seq": (0,),
        "sent_ns": (_NS,),
        "mark": (marks.make(user, 0, _NS),),
        "username": ("alice",),
    }
    values.update(template.samples)
    return values


def check_json(
    template: Template,
    option: str,
    what: str,
    convert: Callable[[Any], str] = str,
    groups: Groups | Iterable[str] | None = None,
) -> None:
    """Refuse a JSON template that is not valid JSON once filled in (an OptionError naming the fix).

    First with every placeholder a number (what no JSON position refuses): an error then is the
    template's own. Then one placeholder at a time with real-looking values, so that the message names
    the culprit. `{group}` is checked only when the pool is known: a `Groups` (start-up: its `samples`)
    or the values in use (a connection's room; the message then names none, so it is one per fault).
    """
    keys = sorted(template.names)
    neutral = dict.fromkeys(keys, 0)
    problem = _problem(template, neutral, convert)
    if problem is not None:
        raise OptionError(
            f"{option} {what} once filled in, whatever fills its placeholders ({problem}): {shorten(template.text, 80)}"
        )
    samples = sample_values(template)
    for key in keys:
        if key == "group":
            continue
        for value in samples[key]:
            problem = _problem(template, {**neutral, key: value}, convert)
            if problem is not None:
                raise OptionError(
                    f"{option} {what} once {{{key}}} is filled in, e.g. as {value!r} ({problem}): text goes in "
                    f'quotes in JSON, "{{{key}}}"'
                )
    if groups is not None and "group" in template.names:
        for group in groups.samples if isinstance(groups, Groups) else groups:
            filled = {**neutral, "group": group}
            problem = _problem(template, filled, convert)
            if problem is not None:
                raise OptionError(_group_problem(option, what, groups, group, template.fill(filled, convert)))


def _problem(template: Template, values: Mapping[str, Any], convert: Callable[[Any], str]) -> str | None:
    try:
        json.loads(template.fill(values, convert))
    except ValueError as exc:
        return str(exc)
    return None


def _group_problem(option: str, what: str, groups: Groups | Iterable[str], group: str, filled: str) -> str:
    quote = 'put it in quotes, "{group}"'
    if not isinstance(groups, Groups):  # a connection's room, mid-run: no per-room value in the message
        return f"{option} {what} once {{group}} is filled in with this connection's room: {quote}"
    if groups.bare:
        return (
            f"{option} {what} once {{group}} is filled in ({shorten(filled)}): {groups.option} {groups.spec} gives the "
            f"names {groups.describe()}, not integers. For integer rooms give LOW-HIGH (e.g. {groups.option} "
            f"1-{groups.spec}); for names, {quote}"
        )
    return (
        f"{option} {what} once {{group}} is filled in with {group!r} from {groups.option} {groups.spec} "
        f"({shorten(filled)}): {quote}, or give integer rooms (LOW-HIGH)"
    )
