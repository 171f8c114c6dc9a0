"""Recorded frames as values: their leaves, their kind, and templates of them with placeholders in them.

A frame is its JSON value when it is JSON (an object or a list), else `Text`. A `Ph` stands in a template
where a placeholder goes (`{seq}`, `{random:1-9}`, ...); `render` writes the template as chanload's options
take it: JSON text with each placeholder raw (a number: `"id": {seq}`) or quoted (a string: `"id": "{seq}"`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[Any, ...]  # keys and list indexes from the frame's root to a leaf
MISSING = object()

# Fields that name what a message is, in the common protocols: graphql-transport-ws' and Socket.IO-like "type",
# DCRF's "action", the Channels multichat's "command", "op", "event".
DISCRIMINATORS = ("type", "op", "action", "command", "event", "kind", "method")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_VOLATILE = re.compile(r"[0-9a-fA-F]{16,}|\d{4}-\d\d-\d\dT|[A-Za-z0-9+/_-]{32,}")  # hashes, timestamps, tokens


@dataclass(frozen=True)
class Text:
    """A frame that is not JSON."""

    text: str


@dataclass(frozen=True)
class Ph:
    """A placeholder in a template: `token` without braces (`seq`, `random:1-9`); `raw`: unquoted in JSON;
    `prefix`: text before it in the string (`"q{seq}"`)."""

    token: str
    raw: bool
    prefix: str = ""


def seq(value: Any, sends: int) -> Any:
    """A recorded id as `{seq}`: raw for a number, in its string otherwise (`q7` -> `q{seq}`, a UUID -> `{seq}`);
    the id of a message sent once (an opening step's: a subscription's `"sub"`, a `room_id`) stays as recorded."""
    if sends == 1:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Ph("seq", True)
    if not isinstance(value, str):
        return value
    found = re.fullmatch(r"(\D*?)\d+", value)
    return Ph("seq", False, found.group(1) if found else "")


def value_of(data: str) -> Any:
    if data.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(data)
        except ValueError:
            return Text(data)
        if isinstance(value, dict | list):
            return value
    return Text(data)


def leaves(value: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """(path, scalar) for every leaf; an empty object or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*prefix, key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from leaves(item, (*prefix, i))
    else:
        yield prefix, value


def get(value: Any, path: Path) -> Any:
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return MISSING
    return value


def skeleton(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, skeleton(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(skeleton(v) for v in value))
    return "num" if is_number(value) else type(value).__name__


def kind(value: Any) -> Any:
    """What a frame is: its shape and the values of the fields that name it ("type": "next")."""
    if isinstance(value, Text):
        return ("text", re.sub(r"\d+", "#", value.text))
    named: tuple = ()
    if isinstance(value, dict):
        named = tuple((k, value[k]) for k in DISCRIMINATORS if isinstance(value.get(k), str))
    elif isinstance(value, list) and value and isinstance(value[0], str):
        named = (("0", value[0]),)  # ["join", 1]: the first element names it
    return (skeleton(value), named)


def name_of(value: Any) -> str | None:
    """The value of the field that names a message, as a step name can hold it (plain words)."""
    named = kind(value)[1] if not isinstance(value, Text) else ()
    for _, text in named:
        clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
        if clean:
            return clean[:40]
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_id_like(value: Any) -> bool:
    """An integer, or a string of digits: what {seq} can stand for."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


def volatile(value: Any) -> bool:
    """A value that one frame alone cannot say is stable: a number, a hash, a timestamp, a token."""
    if is_number(value):
        return True
    return isinstance(value, str) and (len(value) > 60 or bool(UUID.search(value) or _VOLATILE.search(value)))


def build(items: list[tuple[Path, Any]], like: Any) -> Any:
    """A JSON value holding `items` (path, value), its containers shaped as in `like`."""
    if not items:
        return {} if isinstance(like, dict) else []
    if items[0][0] == ():
        return items[0][1]
    if isinstance(like, list):
        out_list: list[Any] = []
        for i in sorted({path[0] for path, _ in items}):
            out_list.append(build([(p[1:], v) for p, v in items if p[0] == i], get(like, (i,))))
        return out_list
    out: dict[str, Any] = {}
    for key in dict.fromkeys(path[0] for path, _ in items):
        out[key] = build([(p[1:], v) for p, v in items if p[0] == key], get(like, (key,)))
    return out


def render(value: Any) -> str:
    """A template as an option's text: JSON with each `Ph` written raw or in quotes."""
    if isinstance(value, Text):
        return value.text
    found: list[Ph] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Ph):
            found.append(item)
            return f"\x00{len(found) - 1}\x00"
        if isinstance(item, dict):
            return {k: mark(v) for k, v in item.items()}
        if isinstance(item, list):
            return [mark(v) for v in item]
        return item

    text = json.dumps(mark(value), ensure_ascii=False)
    for i, ph in enumerate(found):
        text = text.replace(f'"\\u0000{i}\\u0000"', f"{{{ph.token}}}" if ph.raw else f'"{ph.prefix}{{{ph.token}}}"')
    return text


def replace(value: Any, path: Path, new: Any) -> Any:
    """`value` with the leaf at `path` replaced (copies the containers on the way)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = replace(copy[head], rest, new)
    return copy


def unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}{n}", n + 1
    used.add(candidate)
    return candidate


def taken_as_form(text: str) -> bool:
    return text == "own" or text.startswith(("re:", "json:"))


def short(value: Any) -> str:
    text = value.text if isinstance(value, Text) else render(value)
    return text if len(text) <= 60 else text[:57] + "..."
