"""What a consumer class is, read from its classes: sync or async, JSON or text, a known API, its subprotocols.

The base is the first class of its MRO that comes from Channels or from a library known here
(djangochannelsrestframework's API consumers, strawberry's GraphQL consumer); the names are compared as
text, so neither library needs to be installed for the others to be read. Options are suggested only
where the kind makes them certain: strawberry speaks graphql-transport-ws (connection_init is answered
with connection_ack, ping with pong), and every DCRF reply carries the request's `request_id`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

CHANNELS_BASES = {
    "channels.generic.websocket.AsyncJsonWebsocketConsumer": ("async", "JSON"),
    "channels.generic.websocket.JsonWebsocketConsumer": ("sync", "JSON"),
    "channels.generic.websocket.AsyncWebsocketConsumer": ("async", "text"),
    "channels.generic.websocket.WebsocketConsumer": ("sync", "text"),
    "channels.consumer.AsyncConsumer": ("async", "raw websocket.* events"),
    "channels.consumer.SyncConsumer": ("sync", "raw websocket.* events"),
}
DCRF = "djangochannelsrestframework.consumers.AsyncAPIConsumer"
STRAWBERRY = "strawberry.channels.handlers.ws_handler.GraphQLWSConsumer"
GRAPHQL_INIT = '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'
# Text in a consumer's own source that says it reads the logged-in user.
USER_READS = ('scope["user"]', "scope['user']", "is_authenticated")
USER_SETS = ('scope["user"] =', "scope['user'] =")  # ... and that it finds the user itself (a token, say)


@dataclass
class Kind:
    """A consumer class read: its base, sync or async, its frames' format, an API it speaks, suggested options."""

    name: str  # module.Class
    base: str  # the Channels (or library) class it derives from
    mode: str  # "sync" | "async" | "?"
    format: str  # "JSON" | "text" | "raw websocket.* events" | "?"
    api: str | None = None  # "djangochannelsrestframework" | "strawberry GraphQL"
    actions: list[str] = field(default_factory=list)  # DCRF: its actions
    subprotocols: list[str] = field(default_factory=list)  # the subprotocols it speaks, preferred first
    reads_user: bool = False  # its own code reads scope["user"]: it expects a login
    sets_user: bool = False  # its own code sets scope["user"]: not the session's login, its own (a token?)
    options: list[str] = field(default_factory=list)  # suggested --ws-* options beyond path and groups (argv)
    notes: list[str] = field(default_factory=list)


def dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def read(cls: type, initkwargs: dict[str, Any]) -> Kind:
    """The consumer class `cls` (with the keyword arguments given to as_asgi()) read."""
    mro = [dotted(c) for c in inspect.getmro(cls)]
    base = next((name for name in mro if name.startswith("channels.")), "?")
    mode, format_ = CHANNELS_BASES.get(base, ("?", "?"))
    kind = Kind(dotted(cls), base.rpartition(".")[2], mode, format_)
    kind.reads_user = _source_has(cls, USER_READS)
    kind.sets_user = _source_has(cls, USER_SETS)
    if DCRF in mro:
        _dcrf(kind, cls)
    elif STRAWBERRY in mro or any(n.startswith("strawberry.") and n.endswith("GraphQLWSConsumer") for n in mro):
        _strawberry(kind, cls, initkwargs)
    return kind


def _source_has(cls: type, texts: tuple[str, ...]) -> bool:
    """Whether the source of the app's own classes of its MRO (not Channels' or a library's) holds one of `texts`."""
    for klass in inspect.getmro(cls):
        module = klass.__module__.split(".")[0]
        if module in ("channels", "djangochannelsrestframework", "strawberry", "builtins", "abc", "typing"):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if any(text in source for text in texts):
            return True
    return False


def _dcrf(kind: Kind, cls: type) -> None:
    kind.api = "djangochannelsrestframework"
    kind.base = next(
        (
            c.__name__
            for c in inspect.getmro(cls)
            if c.__module__.startswith("djangochannelsrestframework.") and c.__name__.endswith("Consumer")
        ),
        kind.base,
    )
    actions = getattr(cls, "available_actions", None)
    kind.actions = sorted(actions) if isinstance(actions, dict) else []
    if "list" in kind.actions:
        kind.options += [
            "--ws-payload", '{"action": "list", "request_id": {seq}}',
            "--ws-match", 'json:{"request_id": {seq}}',
            "--ws-expect", 'json:{"response_status": 200}',
            "--ws-other", "skip",
        ]  # fmt: skip
        kind.notes.append("each reply carries the request's request_id: --ws-match pairs them, pushes are skipped")
    else:
        kind.notes.append('no "list" action: send one of its actions with "request_id": {seq} and --ws-match on it')


def _strawberry(kind: Kind, cls: type, initkwargs: dict[str, Any]) -> None:
    kind.api = "strawberry GraphQL"
    kind.base = "GraphQLWSConsumer"
    protocols = initkwargs.get("subscription_protocols")
    if protocols is None:
        try:
            protocols = inspect.signature(cls).parameters["subscription_protocols"].default
        except (KeyError, TypeError, ValueError):
            protocols = None
    kind.subprotocols = [str(p) for p in protocols] if isinstance(protocols, (list, tuple)) else []
    if not kind.subprotocols:
        kind.notes.append("cannot tell which subprotocols it speaks: give --ws-subprotocol by hand")
        return
    first = kind.subprotocols[0]
    kind.options += ["--ws-subprotocol", first, "--ws-open", GRAPHQL_INIT]
    if first == "graphql-transport-ws":
        kind.options += ["--ws-payload", '{"type": "ping"}', "--ws-expect", 'json:{"type": "pong"}']
        kind.notes.append("graphql-transport-ws: connection_init is answered by connection_ack, ping by pong")
    else:
        kind.notes.append(f"{first}: connection_init is answered by connection_ack; write your operations by hand")
