"""Websocket consumers: the seed's OK echo (sync and async), a group broadcast (sync and async), and a refusal."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from asgiref.sync import async_to_sync
from autobahn.exception import Disconnected
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
from django.conf import settings

logger = logging.getLogger("chat")

# Channels group names are ASCII and shorter than 100 characters
# (channels.layers.BaseChannelLayer.require_valid_group_name); the route's \w also matches
# non-ASCII letters, so the consumer checks the name before making `room_<group>` of it.
_GROUP_NAME = re.compile(r"[A-Za-z0-9_]{1,94}")


def hold(us: int) -> None:
    """Busy-wait `us` microseconds (CHAT_REPLY_DELAY_US): exact to about a microsecond, where time.sleep
    overshoots by tens of microseconds, more than the small slowdowns a regression gate must catch."""
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def printable(text: str, limit: int = 200) -> str:
    """Text safe for one log line: control and non-printable characters escaped, length capped."""
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


class ChatConsumer(WebsocketConsumer):
    """The seed's consumer: accept every connection and answer every message with `OK`."""

    def websocket_connect(self, message: dict[str, Any]) -> None:
        """Called when a client opens the websocket: accept it."""
        self.accept()

    def websocket_receive(self, message: dict[str, Any]) -> None:
        """Called for every text or binary frame: reply with the text `OK` (after CHAT_REPLY_DELAY_US)."""
        if settings.CHAT_REPLY_DELAY_US:
            hold(settings.CHAT_REPLY_DELAY_US)
        try:
            self.send("OK")
        except Disconnected:
            pass  # the client left while its message waited here (Daphne): nobody is left to answer

    def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the socket closes: end this consumer."""
        raise StopConsumer()


class AsyncChatConsumer(AsyncWebsocketConsumer):
    """ChatConsumer on the event loop, so sync and async consumers can be compared under load."""

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Called when a client opens the websocket: accept it."""
        await self.accept()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """Called for every text or binary frame: reply with the text `OK` (after CHAT_REPLY_DELAY_US)."""
        if settings.CHAT_REPLY_DELAY_US:
            hold(settings.CHAT_REPLY_DELAY_US)  # the event loop waits too: a slower server, not a longer await
        try:
            await self.send("OK")
        except Disconnected:
            pass  # the client left while its message waited here (Daphne): nobody is left to answer

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the socket closes: end this consumer."""
        raise StopConsumer()


def _refuse_constant(name: str) -> None:
    """json.loads hook for NaN, Infinity and -Infinity, which RFC 8259 JSON does not have."""
    raise ValueError(f"non-finite number {name} is not JSON")


def broadcast_text(text: str, group: str) -> str:
    """The text every member of `group` receives for a text frame a client sent.

    A JSON object keeps all its keys and gains `"group"` (overwritten if the client sent one);
    anything else becomes `{"group": group, "text": text}`. Compact separators, nothing else added.
    "Anything else" includes text json.loads refuses: invalid JSON, nesting deeper than the
    interpreter's recursion limit (RecursionError), integers over 4300 digits, and the non-finite
    numbers NaN/Infinity, which Python's json would otherwise accept and echo back as invalid JSON.
    """
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        payload["group"] = group
        try:
            return json.dumps(payload, separators=(",", ":"), allow_nan=False)
        except (ValueError, RecursionError):
            pass  # an object nested right at the limit loads but cannot be written back: relay it as text
    return json.dumps({"group": group, "text": text}, separators=(",", ":"))


class BroadcastConsumer(WebsocketConsumer):
    """Chat room at `chat/<group>`: every message goes to every member of group `room_<group>`.

    The sender first gets the text `OK`, then the message reaches the whole group, sender included.
    A client sends a JSON object such as::

        {"sender": "u1", "seq": 17, "sent_ns": 1732400000123456789, "text": "hi"}

    (`sent_ns` = time.time_ns() at sending) and every member receives the same object with one key
    added, `"group": "<group>"`, so a receiver's delivery latency is time.time_ns() - sent_ns. Text
    that is not a JSON object arrives as `{"group": "<group>", "text": "<the raw text>"}`. Binary
    frames get `OK` too and are relayed to the group unchanged, as binary frames.
    """

    group: str
    group_name: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Run the consumer; leave the group on every way out, a crash or a cancellation included.

        websocket_disconnect is not called when a handler raises (Daphne logs the exception and
        closes with 1011) or when Daphne cancels an instance that outlived its client; a member left
        in the group would keep collecting up to CHANNEL_CAPACITY messages nobody reads.
        """
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.group_name:
                await self.channel_layer.group_discard(self.group_name, self.channel_name)

    def websocket_connect(self, message: dict[str, Any]) -> None:
        """Called when a client opens the websocket: join the room's group, then accept."""
        self.group = self.scope["url_route"]["kwargs"]["group"]
        if not _GROUP_NAME.fullmatch(self.group):
            logger.warning("rejected websocket to invalid room name %s", printable(self.scope["path"]))
            self.close()
            return
        self.group_name = f"room_{self.group}"
        async_to_sync(self.channel_layer.group_add)(self.group_name, self.channel_name)
        self.accept()

    def websocket_receive(self, message: dict[str, Any]) -> None:
        """Called for every frame: reply `OK` to the sender, then send the message to the group."""
        self.send("OK")
        if message.get("text") is not None:
            event = {"type": "chat.message", "text": broadcast_text(message["text"], self.group)}
        else:
            event = {"type": "chat.message", "bytes": message["bytes"]}
        async_to_sync(self.channel_layer.group_send)(self.group_name, event)

    def chat_message(self, event: dict[str, Any]) -> None:
        """Called for each group message: pass it down this member's socket."""
        if event.get("text") is not None:
            self.send(text_data=event["text"])
        else:
            self.send(bytes_data=event["bytes"])

    def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the socket closes: end this consumer (__call__ then leaves the group)."""
        raise StopConsumer()


class AsyncBroadcastConsumer(AsyncWebsocketConsumer):
    """BroadcastConsumer on the event loop, at `achat/<group>`: the same room, messages and replies.

    The sender first gets the text `OK`, then the message reaches every member of group
    `room_<group>`, sender included, with `"group": "<group>"` added (`broadcast_text`); binary
    frames get `OK` too and are relayed unchanged. The group is the sync route's, so members of
    `chat/<group>` and `achat/<group>` share a room.
    """

    group: str
    group_name: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Run the consumer; leave the group on every way out, a crash or a cancellation included (as
        BroadcastConsumer does, and for the same reason)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.group_name:
                await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Called when a client opens the websocket: join the room's group, then accept."""
        self.group = self.scope["url_route"]["kwargs"]["group"]
        if not _GROUP_NAME.fullmatch(self.group):
            logger.warning("rejected websocket to invalid room name %s", printable(self.scope["path"]))
            await self.close()
            return
        self.group_name = f"room_{self.group}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """Called for every frame: reply `OK` to the sender, then send the message to the group."""
        await self.send("OK")
        if message.get("text") is not None:
            event = {"type": "chat.message", "text": broadcast_text(message["text"], self.group)}
        else:
            event = {"type": "chat.message", "bytes": message["bytes"]}
        await self.channel_layer.group_send(self.group_name, event)

    async def chat_message(self, event: dict[str, Any]) -> None:
        """Called for each group message: pass it down this member's socket."""
        if event.get("text") is not None:
            await self.send(text_data=event["text"])
        else:
            await self.send(bytes_data=event["bytes"])

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the socket closes: end this consumer (__call__ then leaves the group)."""
        raise StopConsumer()


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Catch-all route: refuse the handshake (Daphne answers 403) with one warning line.

    Without it Channels' URLRouter raises ValueError for an unmatched path, which Daphne turns
    into an HTTP 500 and a traceback in the server log.
    """

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        """Called when a client opens the websocket: log it and close before accepting."""
        logger.warning("rejected websocket to unknown path %s", printable(self.scope["path"]))
        await self.close()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Called when the refused socket is gone: end this consumer."""
        raise StopConsumer()
