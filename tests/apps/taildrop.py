"""A Channels relay chat that silently loses the tail of every sender: the test app for delivery's tail.

    daphne tests.apps.taildrop:application        (TAILDROP_KEEP=N: relay each connection's first N, default 20)

`chat/<group>`: every message is acknowledged with `OK` to its sender; the first KEEP messages of each
connection are then relayed to the whole room through the channel layer (sender included), and every
later one is dropped without a word. `chat/<group>?mute=1`: the same room, but none of this connection's
messages is relayed. `GET /counts` answers what the app did, as JSON:

  relayed, dropped   messages relayed to the room, and dropped (muted ones included)
  copies             copies sent to members other than the sender (what receivers should count delivered)
  owed               copies the dropped messages owed to members other than the sender, counted when
                     dropped: the members of the room at that moment, less the sender
  members            the largest number of members a room had

Django settings are configured here (no project): the in-memory channel layer, with room for every
message a test sends (its default capacity, 100 per channel, would drop messages of its own).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="taildrop-test-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 100_000}}
        },
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

KEEP = int(os.environ.get("TAILDROP_KEEP", "20"))
COUNTS = {"relayed": 0, "dropped": 0, "copies": 0, "owed": 0, "members": 0}
ROOMS: dict[str, set[str]] = defaultdict(set)  # this process's members of each room (one Daphne process)


class TailDropConsumer(AsyncWebsocketConsumer):
    """Join the room; acknowledge every message; relay the first KEEP of this connection, drop the rest."""

    async def connect(self) -> None:
        self.room = "room_" + self.scope["url_route"]["kwargs"]["group"]
        self.received = 0
        self.keep = 0 if b"mute=1" in self.scope.get("query_string", b"") else KEEP
        await self.channel_layer.group_add(self.room, self.channel_name)
        ROOMS[self.room].add(self.channel_name)
        COUNTS["members"] = max(COUNTS["members"], len(ROOMS[self.room]))
        await self.accept()

    async def disconnect(self, code: int) -> None:
        ROOMS[self.room].discard(self.channel_name)
        await self.channel_layer.group_discard(self.room, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.received += 1
        others = len(ROOMS[self.room] - {self.channel_name})
        await self.send(text_data="OK")
        if self.received > self.keep:
            COUNTS["dropped"] += 1
            COUNTS["owed"] += others
            return
        COUNTS["relayed"] += 1
        COUNTS["copies"] += others
        await self.channel_layer.group_send(self.room, {"type": "chat.message", "text": text_data or ""})

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=event["text"])


async def counts(scope, receive, send) -> None:
    """GET /counts: what the app relayed and dropped (any other path: 404)."""
    found = scope["path"] == "/counts"
    body = json.dumps(COUNTS).encode() if found else b""
    await send({"type": "http.response.start", "status": 200 if found else 404,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {"http": counts, "websocket": URLRouter([path("chat/<str:group>", TailDropConsumer.as_asgi())])}
)
