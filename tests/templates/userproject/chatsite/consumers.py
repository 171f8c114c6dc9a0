"""A chat room: join with a name, then say things to everyone in the room (the sender included); echo for a ping."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.name = None
        await self.accept()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        if kind == "echo":
            await self.send_json({"type": "echo", "text": content.get("text")})
        elif kind == "join":
            self.name = str(content.get("name") or self.channel_name)
            await self.channel_layer.group_add(self.room, self.channel_name)
            await self.send_json({"type": "joined", "room": self.room, "name": self.name})
        elif kind == "say" and self.name is not None:
            await self.channel_layer.group_send(
                self.room, {"type": "chat.said", "from": self.name, "text": content.get("text")}
            )
        else:
            await self.send_json({"type": "error", "error": f"unknown or out-of-turn message: {kind}"})

    async def chat_said(self, event):
        await self.send_json({"type": "said", "from": event["from"], "text": event["text"]})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)
