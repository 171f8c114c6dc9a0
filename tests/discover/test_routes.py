"""The routes walker in-process, on real Channels objects: routers, middleware, as_asgi() consumers, and oddities."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_OWN_SETTINGS = "DJANGO_SETTINGS_MODULE" not in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatroom.settings")

import strawberry  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402 - after the settings are named
from channels.generic.websocket import AsyncJsonWebsocketConsumer, WebsocketConsumer  # noqa: E402
from channels.middleware import BaseMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from djangochannelsrestframework.consumers import AsyncAPIConsumer  # noqa: E402
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer  # noqa: E402
from djangochannelsrestframework.mixins import ListModelMixin  # noqa: E402
from strawberry.channels import GraphQLWSConsumer  # noqa: E402

from chanload.discover.command import describe_route, main, report  # noqa: E402
from chanload.discover.routes import _groups, walk  # noqa: E402
from chatroom.asgi import application as target  # noqa: E402 - sets Django up with chatroom.settings

if _OWN_SETTINGS:
    del os.environ["DJANGO_SETTINGS_MODULE"]  # Django is set up; the variable would leak into later subprocesses


class Room(WebsocketConsumer):
    pass


class Private(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()


class Items(ListModelMixin, GenericAsyncAPIConsumer):
    pass


class Bare(AsyncAPIConsumer):
    pass


@strawberry.type
class Query:
    answer: int = 42


SCHEMA = strawberry.Schema(query=Query)


class TokenMiddleware(BaseMiddleware):
    pass


class AppWrapper:
    """A hand-written middleware that keeps its inner application as `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        return await self.app(scope, receive, send)


class MyRouter(URLRouter):
    """A router subclass: read as a URLRouter."""


class Dispatcher:
    """An ASGI callable that routes by itself: nothing to read."""

    async def __call__(self, scope, receive, send):
        pass


def data(app: Any) -> dict[str, Any]:
    return report("test:application", walk(app))


def by_pattern(app: Any) -> dict[str, dict[str, Any]]:
    return {r["pattern"]: r for r in data(app)["routes"]}


def test_the_targets_routes_are_listed_with_ready_paths() -> None:
    """The reference target: four routes with their consumers, and the catch-all without a path."""
    found = data(target)
    assert found["protocols"] == ["http", "websocket"]
    routes = found["routes"]
    assert [r["pattern"] for r in routes] == [
        r"^room/(?P<group>\w+)", r"^aroom/(?P<group>\w+)", r"^chat/(?P<group>\w+)", r"^achat/(?P<group>\w+)", "",
    ]  # fmt: skip
    room = routes[0]
    assert room["consumer"]["class"] == "chat.consumers.ChatConsumer"
    assert (room["consumer"]["base"], room["consumer"]["mode"], room["consumer"]["format"]) == (
        "WebsocketConsumer", "sync", "text",
    )  # fmt: skip
    assert routes[1]["consumer"]["mode"] == "async"
    assert room["options"] == ["--ws-path", "room/{group}", "--ws-groups", "g0-g9"]
    assert room["params"] == [{"name": "group", "converter": r"regex \w+"}]
    assert [m["name"] for m in room["middleware"]] == ["AllowedHostsOriginValidator"] and room["origin"]
    assert not room["auth"]
    assert routes[4]["options"] is None and "catch-all" in routes[4]["notes"][0]


def test_nested_routers_path_and_re_path_with_converters() -> None:
    """Patterns join across nested URLRouters (and middleware between them); each converter is named."""
    inner = URLRouter(
        [
            path("<int:room_id>/", Room.as_asgi()),
            re_path(r"^s/(?P<slug>[a-z]+)/$", Room.as_asgi()),
            path("u/<uuid:doc>/", Room.as_asgi()),
        ]
    )
    app = ProtocolTypeRouter({"websocket": SessionMiddlewareStack(URLRouter([path("ws/rooms/", inner)]))})
    routes = by_pattern(app)
    numbered = routes["ws/rooms/<int:room_id>/"]
    levels = [{"kind": "path", "pattern": "ws/rooms/"}, {"kind": "path", "pattern": "<int:room_id>/"}]
    assert numbered["levels"] == levels
    assert numbered["params"] == [{"name": "room_id", "converter": "int"}]
    assert numbered["options"] == ["--ws-path", "ws/rooms/{group}/", "--ws-groups", "1-10"]
    assert [m["name"] for m in numbered["middleware"]] == ["SessionMiddlewareStack"] and not numbered["auth"]
    slug = routes[r"ws/rooms/^s/(?P<slug>[a-z]+)/$"]
    assert slug["params"] == [{"name": "slug", "converter": "regex [a-z]+"}]
    assert slug["options"][:2] == ["--ws-path", "ws/rooms/s/{group}/"]
    assert slug["options"][3] == "lobby,kitchen,garden"  # g0-g9 and 1-10 are tried first: the path is checked
    doc = routes["ws/rooms/u/<uuid:doc>/"]
    assert doc["options"][3].count("-") == 8, doc  # two UUIDs: the only values a uuid converter takes


def test_middleware_between_routers_is_walked_and_its_paths_checked() -> None:
    """Middleware around a nested router: read through; a path() prefix before it routes no deeper, as in Channels.

    URLRouter lets a path() prefix match only the start of the path when its callback is a URLRouter itself
    (`_path_routing`): around middleware, the prefix must match the whole path, so nothing inside is reached.
    """
    inner = URLRouter([path("<int:room_id>/", Room.as_asgi())])
    app = URLRouter([re_path(r"^a/", AuthMiddlewareStack(inner)), path("b/", AuthMiddlewareStack(inner))])
    through_regex, through_path = data(app)["routes"]
    assert through_regex["options"] == ["--ws-path", "a/{group}/", "--ws-groups", "1-10"] and through_regex["auth"]
    assert through_path["pattern"] == "b/<int:room_id>/" and through_path["options"] is None
    assert "reaches this route" in through_path["notes"][0]


def test_other_parameters_get_a_fixed_value_and_group_the_room() -> None:
    """{group} stands for the room-like parameter; another parameter gets a value its converter takes."""
    app = URLRouter([path("ws/<int:org>/rooms/<str:room>/", Room.as_asgi())])
    [route] = data(app)["routes"]
    assert route["options"] == ["--ws-path", "ws/1/rooms/{group}/", "--ws-groups", "g0-g9"]
    assert "org fixed to '1'" in route["notes"][0]


def test_a_shadowed_route_gets_no_path() -> None:
    """A route an earlier route takes every path of: no --ws-path claims to reach it."""
    app = URLRouter([re_path(r"^ws/", Room.as_asgi()), path("ws/chat/<str:room>/", Private.as_asgi())])
    shadowed = data(app)["routes"][1]
    assert shadowed["options"] is None and "give --ws-path by hand" in shadowed["notes"][0]


def test_auth_origin_and_hand_written_middleware() -> None:
    """AuthMiddlewareStack, an OriginValidator with its own origins, BaseMiddleware and an `app` wrapper."""
    app = OriginValidator(
        AppWrapper(TokenMiddleware(AuthMiddlewareStack(URLRouter([path("ws/p/<str:room>/", Private.as_asgi())])))),
        ["https://example.com"],
    )
    [route] = data(app)["routes"]
    names = [m["name"] for m in route["middleware"]]
    assert names == ["OriginValidator", "AppWrapper", "TokenMiddleware", "AuthMiddlewareStack"]
    assert route["origin"] and route["auth"] and route["middleware"][0]["allowed_origins"] == ["https://example.com"]
    assert route["consumer"]["reads_user"] and route["login"] == [
        "--login-url", "/accounts/login/", "--credentials", "FILE",
    ]  # fmt: skip
    guarded = data(AllowedHostsOriginValidator(URLRouter([path("x/", Room.as_asgi())])))["routes"][0]
    assert guarded["middleware"][0]["name"] == "AllowedHostsOriginValidator" and guarded["login"] is None


def test_strawberry_subprotocols_and_its_opening_step() -> None:
    """strawberry's consumer: the subprotocols it speaks (as_asgi()'s or its default), connection_init and ping."""
    app = URLRouter(
        [
            re_path(r"^graphql/?$", GraphQLWSConsumer.as_asgi(schema=SCHEMA)),
            path("legacy/", GraphQLWSConsumer.as_asgi(schema=SCHEMA, subscription_protocols=("graphql-ws",))),
        ]
    )
    modern, legacy = data(app)["routes"]
    assert modern["consumer"]["api"] == "strawberry GraphQL"
    assert modern["consumer"]["subprotocols"] == ["graphql-transport-ws", "graphql-ws"]
    assert modern["options"] == [
        "--ws-path", "graphql", "--ws-subprotocol", "graphql-transport-ws",
        "--ws-open", '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}',
        "--ws-payload", '{"type": "ping"}', "--ws-expect", 'json:{"type": "pong"}',
    ]  # fmt: skip
    assert legacy["consumer"]["subprotocols"] == ["graphql-ws"]
    assert "--ws-payload" not in legacy["options"] and legacy["options"][3] == "graphql-ws"


def test_djangochannelsrestframework_actions_and_request_ids() -> None:
    """A DCRF consumer: its actions; with `list`, a payload and a match on request_id."""
    items, bare = data(URLRouter([path("api/", Items.as_asgi()), path("bare/", Bare.as_asgi())]))["routes"]
    assert items["consumer"]["api"] == "djangochannelsrestframework"
    assert items["consumer"]["base"] == "GenericAsyncAPIConsumer" and items["consumer"]["actions"] == ["list"]
    assert items["options"][2:6] == ["--ws-payload", '{"action": "list", "request_id": {seq}}', "--ws-match",
                                     'json:{"request_id": {seq}}']  # fmt: skip
    assert bare["options"] == ["--ws-path", "bare/"] and 'no "list" action' in bare["notes"][0]


@pytest.mark.parametrize(
    ("endpoint", "said"),
    [
        (lambda scope, receive, send: None, "the function "),
        (Dispatcher(), "a tests.discover.test_routes.Dispatcher object"),
        (Room, "without .as_asgi()"),
    ],
)
def test_what_it_cannot_read_is_listed_with_the_reason(endpoint: Any, said: str) -> None:
    """A lambda, a custom ASGI callable, a consumer class without as_asgi(): unreadable, the others still read."""
    app = ProtocolTypeRouter(
        {"websocket": MyRouter([path("odd/", endpoint), path("fine/<int:n>/", Room.as_asgi())])}
    )  # a router subclass: walked as a URLRouter
    odd, fine = data(app)["routes"]
    assert said in odd["unreadable"] and odd["consumer"] is None and odd["options"] is None
    assert fine["unreadable"] is None and fine["options"][:2] == ["--ws-path", "fine/{group}/"]


def test_an_unknown_application_never_crashes_the_walk() -> None:
    """A whole app that is a lambda or a custom router, and a ProtocolTypeRouter with no websocket."""
    assert "the function" in data(lambda scope, receive, send: None)["routes"][0]["unreadable"]
    assert "Dispatcher object" in data(Dispatcher())["routes"][0]["unreadable"]
    assert data(ProtocolTypeRouter({"http": Dispatcher()})) == {
        "application": "test:application", "protocols": ["http"], "routes": [],
    }  # fmt: skip
    cycle = AppWrapper(None)
    cycle.app = cycle
    assert "a cycle?" in data(cycle)["routes"][0]["unreadable"]


def test_an_unknown_pattern_type_is_unreadable() -> None:
    """A route whose pattern is neither path() nor re_path()."""

    class Odd:
        pattern = object()
        callback = Room.as_asgi()

    router = URLRouter([])
    router.routes = [Odd()]
    [route] = data(router)["routes"]
    assert "neither path() (RoutePattern) nor re_path() (RegexPattern)" in route["unreadable"]


def test_regex_groups_are_read_around_classes_and_non_capturing_groups() -> None:
    assert _groups(r"^a/(?P<x>[()]+)/(?:b|(?P<y>\d+))/(z)") == [("x", "[()]+"), ("y", r"\d+"), (None, "z")]


def test_the_command_prints_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`routes module:attr` (and --json): the same routes; the ready options printed shell-quoted."""
    assert main(["chatroom.asgi:application"]) == 0
    text = capsys.readouterr().out
    assert "chatroom.asgi:application: 5 websocket route(s) (protocols: http, websocket)" in text
    assert "options     --ws-path 'room/{group}' --ws-groups g0-g9" in text
    assert main(["chatroom.asgi.application", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["routes"][0]["options"][1] == "room/{group}"


def test_an_application_that_cannot_be_imported_is_refused(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    assert main(["chatroom.nosuch:application"]) == 2
    assert "cannot import chatroom.nosuch" in capsys.readouterr().err
    assert main(["chatroom.asgi:nosuch"]) == 2
    assert "chatroom.asgi has no attribute 'nosuch'" in capsys.readouterr().err
    assert main([]) == 2
    assert "no application given" in capsys.readouterr().err


def test_describe_route_keeps_unreadable_routes_whole() -> None:
    [route] = walk(URLRouter([path("x/", Dispatcher())])).routes
    assert describe_route(route, None)["unreadable"].endswith("or an as_asgi() consumer")


def test_strawberrys_own_protocol_type_router_is_read() -> None:
    """GraphQLProtocolTypeRouter, a ProtocolTypeRouter subclass with its own websocket URLRouter."""
    from strawberry.channels import GraphQLProtocolTypeRouter

    found = data(GraphQLProtocolTypeRouter(SCHEMA, subscription_protocols=("graphql-transport-ws",)))
    [route] = found["routes"]
    assert found["protocols"] == ["http", "websocket"] and route["pattern"] == "^graphql"
    assert route["consumer"]["subprotocols"] == ["graphql-transport-ws"]
    assert route["options"][:4] == ["--ws-path", "graphql", "--ws-subprotocol", "graphql-transport-ws"]


def test_a_router_entry_without_a_pattern_and_a_consumer_that_breaks_the_reading() -> None:
    """An entry that is no path() in a router's list, and a consumer class whose reading raises: both unreadable."""

    class Meta(type):
        def __getattribute__(cls, name):
            if name == "__mro__":
                raise RuntimeError("no MRO today")
            return super().__getattribute__(name)

    class Broken(Room, metaclass=Meta):
        pass

    router = URLRouter([path("ok/", Room.as_asgi())])
    router.routes = [object(), *router.routes]

    def app(scope, receive, send):
        return None

    app.consumer_class = Broken  # as as_asgi() would set it
    odd, fine = data(router)["routes"]
    assert "among a router's routes: no pattern and callback" in odd["unreadable"] and fine["options"]
    [broken] = data(URLRouter([path("b/", app)]))["routes"]
    assert broken["unreadable"] and broken["unreadable"].startswith("reading it failed"), broken
