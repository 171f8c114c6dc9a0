"""A route's `--ws-path` and `--ws-groups`: its parameters filled, checked the way URLRouter would route them.

Each pattern becomes a format string (path(): `<int:room_id>` -> `%(room_id)s`; re_path(): Django's own
`regex_helper.normalize`, which `reverse()` uses). The group-like parameter becomes `{group}`, the only
placeholder `--ws-path` takes; any other parameter a fixed value its converter accepts. A pool of values is
kept only if a path with its first and last value reaches this route's consumer through the app's own
patterns, in order (`reaches`): the same `pattern.match()` calls URLRouter makes, so an earlier route that
would take the path, a converter that refuses the value or a pattern that cannot be written out is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chanload.discover.routes import Param, Route, is_router, wrapped

# Parameter names that hold a room, a group or a channel: the one `{group}` varies per connection.
GROUP_LIKE = re.compile(r"group|room|chat|channel|topic|lobby|stream|game|board|doc|session|thread|conversation")
UUIDS = ("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002")
# Pools of `--ws-groups` tried in order: (the option's value, the values a path is checked with).
POOLS = (
    ("1-10", ("1", "10")),
    ("g0-g9", ("g0", "g9")),
    ("lobby,kitchen,garden", ("lobby", "kitchen", "garden")),
    (",".join(UUIDS), UUIDS),
)
SAMPLES = ("1", "g0", "a", "lobby", UUIDS[0], "0")  # fixed values tried for the other parameters


@dataclass(frozen=True)
class Suggested:
    """A ready `--ws-path`, its `--ws-groups` (None with no `{group}`), and what the reader must know."""

    path: str | None  # None: no path reaches the route
    groups: str | None
    notes: tuple[str, ...] = ()


def formats(route: Route) -> list[tuple[str, list[str]]] | None:
    """Each level's format string and parameter names, or None when one cannot be written out."""
    out = []
    for level in route.levels:
        if level.kind == "path":
            text = re.sub(r"<(?:[^>:]+:)?([^>]+)>", r"%(\1)s", level.text.replace("%", "%%"))
            out.append((text, [p.name for p in level.params]))
            continue
        from django.utils.regex_helper import normalize

        try:
            candidates = normalize(level.text)
        except Exception:  # a pattern Django's own reverse() cannot read either
            return None
        if not candidates:
            return None
        text, names = candidates[0]
        if not text and level.text.strip("^$"):
            return None  # normalize() gives '' for what it cannot write out (alternations, repeats)
        out.append((text, list(names)))
    return out


def group_param(params: list[Param]) -> Param | None:
    """The parameter `{group}` stands for: the first group-like name, else the only parameter."""
    for param in params:
        if GROUP_LIKE.search(param.name.lower()):
            return param
    return params[0] if len(params) == 1 else None


def suggest(route: Route, websocket: Any) -> Suggested:
    """The route's ready `--ws-path` and `--ws-groups`, each path checked to reach it (`reaches`)."""
    levels = formats(route)
    if levels is None:
        return Suggested(None, None, (f"no path written out of {route.pattern!r}: give --ws-path by hand",))
    if not route.params and "".join(text for text, _ in levels) == "":
        return Suggested(None, None, ("a catch-all: it takes every path the routes above it do not",))
    group = group_param(route.params)
    positional = [i for i, (_, names) in enumerate(levels) if any(n.startswith("_") for n in names)]
    if positional:
        return Suggested(None, None, ("unnamed regex groups: give --ws-path by hand",))
    others = [p for p in route.params if p is not group]
    pools = _pools(group) if group is not None else (("", ("",)),)
    for pool, values in pools:
        for sample in SAMPLES if others else ("",):
            fixed = {p.name: sample for p in others}
            if all(reaches(websocket, _fill(levels, group, value, fixed), route) for value in values):
                notes = tuple(f"{p.name} fixed to {sample!r}: only {{group}} varies per connection" for p in others)
                return Suggested(_fill(levels, group, "{group}", fixed), pool or None, notes)
    why = "no value tried" if route.params else "the path"
    return Suggested(None, None, (f"{why} reaches this route through the app's patterns: give --ws-path by hand",))


def _pools(group: Param) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The pools to try for `{group}`: integers first for an integer parameter, names first otherwise."""
    numeric = group.converter == "int" or re.fullmatch(r"\\d[+*]|\[0-9\][+*]", group.regex) is not None
    return POOLS if numeric else (POOLS[1], POOLS[0], *POOLS[2:])


def _fill(levels: list[tuple[str, list[str]]], group: Param | None, value: str, fixed: dict[str, str]) -> str:
    values = {**fixed, **({group.name: value} if group is not None else {})}
    return "".join(text % {name: values.get(name, "") for name in names} for text, names in levels)


def reaches(websocket: Any, path: str, route: Route) -> bool:
    """Whether URLRouter would send `path` to this route's endpoint (its patterns' match(), in routing order)."""
    return _resolve(websocket, path.lstrip("/"), 0) is route.endpoint


def _resolve(app: Any, path: str, depth: int) -> Any:
    """The endpoint `path` reaches from `app`, as channels' URLRouter matches (None: no route takes it)."""
    while depth < 64:
        if is_router(app):
            for route in app.routes:
                try:
                    match = route.pattern.match(path) if hasattr(route, "callback") else None
                except Exception:  # a converter's to_python() raising anything else
                    match = None
                if match:
                    if is_router(route.callback) or wrapped(route.callback) is not None:
                        found = _resolve(route.callback, match[0], depth + 1)
                        if found is not None:
                            return found
                        continue  # Resolver404 inside: channels' URLRouter tries the next route
                    return route.callback
            return None
        inner = wrapped(app)
        if inner is None:
            return app
        app, depth = inner, depth + 1
    return None
