"""A login chat in the shape of the Channels multichat example: join a room by its id, then talk to the room.

Behind AuthMiddlewareStack (foreign/asgi.py), after a login through Django's own `LoginView`
(`accounts/login/`): anonymous users are closed before accept (Daphne answers the handshake 403).
`ws/api/lobby/` is the same lobby for API clients: a DRF token (from `api-token-auth/`) in an
`Authorization: Token KEY` header or a `?token=KEY` query string, the way token middlewares read it.

    {"command": "join", "room": 1}                    -> {"join": "1"}
    {"command": "send", "room": 1, "message": X}      -> {"room": "1", "username": U, "message": X}
                                                         to every member of the room, the sender included
    {"command": "leave", "room": 1}                   -> {"leave": "1"}
    anything else, or a send to a room not joined     -> {"error": CODE}
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import AnonymousUser


class LobbyConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()  # before accept: Daphne answers the handshake with 403
            return
        self.rooms: set[int] = set()
        await self.accept()

    async def disconnect(self, code):
        for room in list(getattr(self, "rooms", ())):
            await self.channel_layer.group_discard(f"room-{room}", self.channel_name)

    async def receive_json(self, content):
        command = content.get("command")
        room = content.get("room")
        if not isinstance(room, int) or isinstance(room, bool):
            await self.send_json({"error": "ROOM_INVALID"})
        elif command == "join":
            self.rooms.add(room)
            await self.channel_layer.group_add(f"room-{room}", self.channel_name)
            await self.send_json({"join": str(room)})
        elif command == "leave":
            self.rooms.discard(room)
            await self.channel_layer.group_discard(f"room-{room}", self.channel_name)
            await self.send_json({"leave": str(room)})
        elif command == "send":
            if room not in self.rooms:
                await self.send_json({"error": "ROOM_ACCESS_DENIED"})
                return
            await self.channel_layer.group_send(
                f"room-{room}",
                {
                    "type": "chat.message",
                    "room_id": room,
                    "username": self.scope["user"].username,
                    "message": content.get("message"),
                },
            )
        else:
            await self.send_json({"error": "UNKNOWN_COMMAND"})

    async def chat_message(self, event):
        await self.send_json(
            {"room": str(event["room_id"]), "username": event["username"], "message": event["message"]}
        )


class TokenLobbyConsumer(LobbyConsumer):
    """The lobby for API clients: the user is the owner of the DRF token the handshake carries."""

    async def connect(self):
        self.scope["user"] = await _token_user(self.scope)
        await super().connect()


@database_sync_to_async
def _token_user(scope):
    from rest_framework.authtoken.models import Token

    key = ""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.startswith(b"Token "):
            key = value[6:].decode("latin-1").strip()
    if not key:
        key = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [""])[0]
    token = Token.objects.select_related("user").filter(key=key).first() if key else None
    return token.user if token is not None else AnonymousUser()
