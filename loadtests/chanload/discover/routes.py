"""The walk: an ASGI application's websocket routes, from ProtocolTypeRouter through middleware to consumers.

It reads objects, never calls them: `ProtocolTypeRouter.application_mapping`, a URLRouter's `routes` (each a
Django `URLPattern` with a `pattern` and a `callback`, nested routers too), a middleware's inner application
(`inner`: BaseMiddleware, AuthMiddlewareStack's three layers; `application`: OriginValidator; `app`: many
hand-written ones) and the `consumer_class` that `as_asgi()` puts on the function it returns (channels 3+).
Anything else is a route it cannot read, kept with the reason; nothing it meets makes it fail.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 64  # routers and middleware nested deeper than this are surely a cycle
WRAPPED = ("inner", "application", "app")  # where a middleware keeps the application it wraps


@dataclass(frozen=True)
class Param:
    """A route parameter: its name, its converter (`int`, `str`, `slug`, `uuid`, `path`, `regex \\w+`, ...)."""

    name: str
    converter: str
    regex: str


@dataclass(frozen=True)
class Level:
    """One pattern on the way to a consumer: `path` (RoutePattern) or `re_path` (RegexPattern)."""

    kind: str
    text: str  # the pattern as written
    pattern: Any  # Django's pattern object (its match() is what URLRouter calls)
    params: tuple[Param, ...]


@dataclass
class Route:
    """A websocket route: its patterns (outermost first), middleware (outermost first) and endpoint."""

    levels: list[Level]
    middleware: list[Any]  # the wrapper objects themselves
    endpoint: Any  # what the last pattern routes to
    consumer: type | None = None  # from as_asgi(); None when unreadable
    initkwargs: dict[str, Any] = field(default_factory=dict)
    unreadable: str | None = None  # why it cannot be read, else None

    @property
    def pattern(self) -> str:
        return "".join(level.text for level in self.levels)

    @property
    def params(self) -> list[Param]:
        return [p for level in self.levels for p in level.params]


@dataclass
class Walk:
    """What the walk found: the protocols the application routes, and its websocket routes in routing order."""

    protocols: list[str]
    routes: list[Route]
    websocket: Any = None  # the application that receives websocket connections (for paths.reaches)


def describe(obj: Any) -> str:
    """A short name for an object the walk could not read: its class, or a function's name and place."""
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        where = ""
        code = getattr(obj, "__code__", None)
        if code is not None:
            where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
        return f"the function {obj.__module__}.{obj.__qualname__}{where}"
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    kind = type(obj)
    return f"a {kind.__module__}.{kind.__qualname__} object"


def wrapped(obj: Any) -> Any | None:
    """The application a middleware wraps, else None."""
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return None
    for name in WRAPPED:
        inner = getattr(obj, name, None) if name in getattr(obj, "__dict__", {}) else None
        if inner is not None and callable(inner):
            return inner
    return None


def is_router(obj: Any) -> bool:
    """A URLRouter, or anything shaped like one (a subclass, a look-alike): a list of routes with patterns."""
    routes = getattr(obj, "routes", None) if not inspect.isclass(obj) else None
    return isinstance(routes, (list, tuple))


def walk(application: Any) -> Walk:
    """Every websocket route of `application` (a ProtocolTypeRouter, or the websocket application itself)."""
    mapping = getattr(application, "application_mapping", None)
    if isinstance(mapping, dict):
        protocols = [str(k) for k in mapping]
        if "websocket" not in mapping:
            return Walk(protocols, [])
        websocket = mapping["websocket"]
    else:
        protocols, websocket = ["websocket"], application
    routes: list[Route] = []
    _walk(websocket, [], [], routes, 0)
    return Walk(protocols, routes, websocket)


def _walk(app: Any, levels: list[Level], middleware: list[Any], out: list[Route], depth: int) -> None:
    if depth > MAX_DEPTH:
        out.append(Route(levels, middleware, app, unreadable=f"nested more than {MAX_DEPTH} deep: a cycle?"))
        return
    consumer = getattr(app, "consumer_class", None)
    if inspect.isclass(consumer):
        kwargs = getattr(app, "consumer_initkwargs", None)
        out.append(Route(levels, middleware, app, consumer, dict(kwargs) if isinstance(kwargs, dict) else {}))
        return
    if is_router(app):
        for route in app.routes:
            if not (hasattr(route, "pattern") and hasattr(route, "callback")):
                why = f"{describe(route)} among a router's routes: no pattern and callback (path() or re_path())"
                out.append(Route(levels, middleware, route, unreadable=why))
                continue
            try:
                level = read_level(route.pattern)
            except ValueError as exc:
                out.append(Route(levels, middleware, route.callback, unreadable=str(exc)))
                continue
            _walk(route.callback, [*levels, level], middleware, out, depth + 1)
        return
    inner = wrapped(app)
    if inner is not None:
        _walk(inner, levels, [*middleware, app], out, depth + 1)
        return
    if inspect.isclass(app) and any(c.__name__ in ("AsyncConsumer", "SyncConsumer") for c in app.__mro__):
        why = "a consumer class routed without .as_asgi() (Channels 3 and later need MyConsumer.as_asgi())"
    else:
        why = f"{describe(app)}: not a URLRouter, a middleware with an inner application, or an as_asgi() consumer"
    out.append(Route(levels, middleware, app, unreadable=why))


# Patterns

_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def read_level(pattern: Any) -> Level:
    """A Django pattern read: RoutePattern (path()) or RegexPattern (re_path()); ValueError for anything else."""
    kind = type(pattern).__name__
    if hasattr(pattern, "_route") and hasattr(pattern, "converters"):
        text = str(pattern._route)
        params = []
        for match in _ROUTE_PARAM.finditer(text):
            name = match.group("name")
            converter = pattern.converters.get(name)
            params.append(Param(name, match.group("converter") or "str", str(getattr(converter, "regex", ""))))
        return Level("path", text, pattern, tuple(params))
    if hasattr(pattern, "_regex"):
        text = str(pattern._regex)
        return Level("re_path", text, pattern, tuple(_regex_params(text)))
    raise ValueError(f"a {kind} pattern: neither path() (RoutePattern) nor re_path() (RegexPattern)")


def _regex_params(regex: str) -> list[Param]:
    """The capturing groups of a re_path() pattern: named ones, else the positional ones (as URLRouter passes)."""
    groups = _groups(regex)
    named = [(name, body) for name, body in groups if name]
    if named:
        return [Param(name, f"regex {body}", body) for name, body in named]
    return [Param(f"(positional {i})", f"regex {body}", body) for i, (_, body) in enumerate(groups, 1)]


def _groups(regex: str) -> list[tuple[str | None, str]]:
    """(name or None, body) of each capturing group, outermost ones, in order."""
    found: list[tuple[str | None, str]] = []
    i, n = 0, len(regex)
    while i < n:
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a class: its ( and ) are literal
            j = i + 1
            if j < n and regex[j] == "^":
                j += 1
            if j < n and regex[j] == "]":
                j += 1
            while j < n and regex[j] != "]":
                j += 2 if regex[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            end = _close(regex, i)
            head = regex[i + 1 : end]
            named = re.match(r"\?P<(\w+)>", head)
            if named:
                found.append((named.group(1), head[named.end() :]))
            elif not head.startswith("?"):
                found.append((None, head))
            else:
                found.extend(_groups(head[2:]) if head[:2] in ("?:",) else [])
            i = end + 1
            continue
        i += 1
    return found


def _close(regex: str, start: int) -> int:
    """The index of the ')' closing the '(' at `start`."""
    depth, i = 0, start
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(regex)
