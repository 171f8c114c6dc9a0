"""A Channels app (AsyncWebsocketConsumer, URLRouter) that picks subprotocols, served by Daphne.

For tests/test_subprotocols.py. Routes (the last path segment is the room and is ignored):
  /pick/R    accepts with the first subprotocol offered and answers each message `OK <that name>`;
             refuses a handshake that offers none (403)
  /none/R    accepts with no subprotocol, whatever is offered; answers OK
  /other/R   accepts with `not-offered`, a name no client offers; answers OK
"""

from __future__ import annotations

from django.conf import settings

if not settings.configured:
    settings.configure(CHANNEL_LAYERS={}, ALLOWED_HOSTS=["*"])

# After the settings: Channels' consumers read them.
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import re_path

NOT_OFFERED = "not-offered"


class PickConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        offered = self.scope["subprotocols"]
        if not offered:
            await self.close()
            return
        self.picked = offered[0]
        await self.accept(subprotocol=self.picked)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.send(text_data=f"OK {self.picked}")


class NoneConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.send(text_data="OK")


class OtherConsumer(NoneConsumer):
    async def connect(self) -> None:
        await self.accept(subprotocol=NOT_OFFERED)


app = URLRouter(
    [
        re_path(r"^pick/[^/]+/?$", PickConsumer.as_asgi()),
        re_path(r"^none/[^/]+/?$", NoneConsumer.as_asgi()),
        re_path(r"^other/[^/]+/?$", OtherConsumer.as_asgi()),
    ]
)
