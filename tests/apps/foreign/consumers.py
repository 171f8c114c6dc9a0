"""Consumers of the foreign app, each in the shape common Channels code has."""

from __future__ import annotations

import asyncio
import json
import random

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings


class ChatConsumer(AsyncWebsocketConsumer):
    """The Channels tutorial's chat, as the tutorial writes it: every member gets {"message": X}, no ack."""

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        message = text_data_json["message"]
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        message = event["message"]
        await self.send(text_data=json.dumps({"message": message}))


class PriceConsumer(AsyncJsonWebsocketConsumer):
    """Quotes by id after a server-side delay, among ticks pushed every TICK_INTERVAL seconds from the start.

    {"op": "subscribe", "symbol": S}  -> {"op": "subscribed", "symbol": S, "room": <room_id>}
    {"op": "quote", "id": N, "symbol": S} -> {"op": "price", "id": N, "symbol": S, "px": ...} after QUOTE_DELAY
    """

    async def connect(self):
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]  # an int: path("<int:room_id>")
        await self.accept()
        self.ticker = asyncio.create_task(self._ticks("*"))

    async def disconnect(self, close_code):
        self.ticker.cancel()

    async def receive_json(self, content):
        op = content.get("op")
        if op == "subscribe":
            await self.send_json({"op": "subscribed", "symbol": content.get("symbol"), "room": self.room_id})
        elif op == "quote":
            await asyncio.sleep(settings.QUOTE_DELAY)
            px = round(100 + random.random(), 4)
            await self.send_json({"op": "price", "id": content.get("id"), "symbol": content.get("symbol"), "px": px})
        else:
            await self.send_json({"op": "error", "reason": "unknown op"})

    async def _ticks(self, symbol):
        n = 0
        while True:
            await asyncio.sleep(settings.TICK_INTERVAL)
            n += 1
            await self.send_json({"op": "tick", "symbol": symbol, "n": n, "px": round(100 + random.random(), 4)})


class PrivateConsumer(AsyncJsonWebsocketConsumer):
    """Logged-in users only (scope["user"] from AuthMiddlewareStack); each message is answered with the user's name."""

    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()  # before accept: Daphne answers the handshake with 403
            return
        await self.accept()

    async def receive_json(self, content):
        await self.send_json({"ok": True, "user": self.scope["user"].username, "id": content.get("id")})
