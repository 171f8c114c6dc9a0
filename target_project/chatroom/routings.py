"""Websocket routes. URLRouter strips the leading "/" from the path before matching."""

from __future__ import annotations

from django.urls import re_path

from chat import consumers

websocket_urlpatterns = [
    # The seed's route.
    re_path(r"^room/(?P<group>\w+)", consumers.ChatConsumer.as_asgi()),
    re_path(r"^aroom/(?P<group>\w+)", consumers.AsyncChatConsumer.as_asgi()),
    re_path(r"^chat/(?P<group>\w+)", consumers.BroadcastConsumer.as_asgi()),
    re_path(r"^achat/(?P<group>\w+)", consumers.AsyncBroadcastConsumer.as_asgi()),
    # Last: anything else is refused at the handshake (403) instead of URLRouter's ValueError (500).
    re_path(r"", consumers.UnknownPathConsumer.as_asgi()),
]
