"""How a reply that failed is shown in a failure message: its interesting part, the same for every message.

Locust groups failures by their message. A message that carried this reply's request id, its mark or
its connection's id would make one row per message (412 rows for one missing record), and a frame cut
at 60 characters may hide the very status that failed. So a `json:` expectation shows only the fields
its template names whose values differ (`response_status: 404`), and a value that equals one of this
message's own (`{seq}`, `{group}`, ...) is written back as that placeholder; a field the template fills
from a placeholder shows `not {seq}` rather than the other message's number. Any other reply is cut
short with marks and this connection's id written as placeholders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from chanload.conversation import marks
from chanload.conversation.placeholders import Template
from chanload.formatting import shorten

_SHOWN_FIELDS = 3  # differences named in one message; more are "..."
_VALUE = 40  # characters of one value shown
_SENTINEL = 739_182_736_450_000  # stands for a placeholder when the template's shape is read
_WRITTEN_BACK = ("seq", "group", "username")
_KINDS = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


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


def shown(
    frame: str | bytes, user: str = "", values: Mapping[str, Any] | None = None, names: Collection[str] = ()
) -> str:
    """A frame cut short, its marks written `{mark}`, this connection's id `{user}`, and this message's values
    of the placeholders in `names` (the expectation's: `{seq}`, `{group}`, `{username}`) written back as them.

    A value is written back only where it stands as a whole word (`pong 17`, not `170`).
    """
    if isinstance(frame, bytes):
        try:
            frame = frame.decode()
        except UnicodeDecodeError:
            return shorten(frame)
    text = marks.hide(frame)
    if user:
        text = text.replace(user, "{user}")
    for name in _WRITTEN_BACK:
        value = (values or {}).get(name)
        if name in names and value is not None and str(value) != "":
            text = re.sub(rf"(?<![\w.-]){re.escape(str(value))}(?![\w.-])", f"{{{name}}}", text)
    return shorten(text)


def json_detail(template: Template, want: Any, frame: str | bytes, values: Mapping[str, Any]) -> str:
    """What differs between a `json:` expectation (`want`, filled for this message) and the reply."""
    try:
        got = json.loads(frame)
    except (ValueError, RecursionError):
        return f"a reply that is not JSON: {shown(frame, values.get('user', ''))}"
    if want is None:  # the template did not fill in as JSON (a check refused it already)
        return shown(frame, values.get("user", ""))
    out: list[str] = []
    _differences(_shape(template), want, got, "", values, sorted(template.names), out)
    if not out:  # not expected: the reply passed after all
        return shown(frame, values.get("user", ""))
    return "; ".join(out[:_SHOWN_FIELDS]) + ("; ..." if len(out) > _SHOWN_FIELDS else "")


def _shape(template: Template) -> Any:
    """The template as JSON, each placeholder standing as a number of its own (which leaves are templated)."""
    keys = sorted(template.names)
    try:
        return json.loads(template.fill({key: _SENTINEL + i for i, key in enumerate(keys)}))
    except ValueError:
        return None


def _templated(leaf: Any, keys: list[str]) -> str | None:
    """The template text of a leaf filled from placeholders (`{seq}`, `"room {group}"`), or None."""
    if isinstance(leaf, bool) or not isinstance(leaf, int | str):
        return None
    text = str(leaf)
    if str(_SENTINEL)[:9] not in text:
        return None
    for i, key in enumerate(keys):
        text = text.replace(str(_SENTINEL + i), f"{{{key}}}")
    return json.dumps(text) if isinstance(leaf, str) else text


def _differences(
    shape: Any, want: Any, got: Any, path: str, values: Mapping[str, Any], keys: list[str], out: list[str]
) -> None:
    """Each field of `want` that `got` lacks or holds another value for, as `path: what it holds`, into `out`."""
    if isinstance(want, dict) and isinstance(got, dict):
        shapes = list(shape.values()) if isinstance(shape, dict) and len(shape) == len(want) else [None] * len(want)
        for (key, value), part in zip(want.items(), shapes, strict=True):
            where = f"{path}.{key}" if path else str(key)
            if key not in got:
                out.append(f"no {where}")
            elif not subset(value, got[key]):
                _differences(part, value, got[key], where, values, keys, out)
        return
    if not path:  # the reply as a whole is not what the template is (an array for an object, ...)
        out.append(f"a JSON {_KINDS.get(type(got), 'value')}, not {_KINDS.get(type(want), 'value')}")
        return
    where = path
    template = _templated(shape, keys)
    written = _written_back(got, values, template is not None)
    if written is not None:
        out.append(f"{where}: {written}")
        return
    if template is not None:
        out.append(f"{where}: not {template}")  # another message's value: never shown
        return
    text = json.dumps(got, ensure_ascii=False)
    text = marks.hide(text)
    if values.get("user"):
        text = text.replace(str(values["user"]), "{user}")
    out.append(f"{where}: {text if len(text) <= _VALUE else text[: _VALUE - 3] + '...'}")


def _written_back(got: Any, values: Mapping[str, Any], templated: bool) -> str | None:
    """`{seq}` for a number equal to this message's seq, `"{group}"` for a string equal to its room, ...

    In a field the template fills from a placeholder, any equal value; elsewhere only a text that is not
    a number (a small number equal to `{seq}` there is a coincidence, and would split the row at seq 0).
    """
    if isinstance(got, bool) or not isinstance(got, int | str):
        return None
    if not templated and (isinstance(got, int) or got.lstrip("-").isdigit()):
        return None
    for name in ("seq", "group", "user", "username"):
        value = values.get(name)
        if value is None or value == "" or str(got) != str(value):
            continue
        return f'"{{{name}}}"' if isinstance(got, str) else f"{{{name}}}"
    return None
