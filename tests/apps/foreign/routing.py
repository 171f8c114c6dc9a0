"""Websocket routes: a regex route with a name, an integer route parameter, an authenticated route."""

from __future__ import annotations

from django.urls import path, re_path

from foreign import consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
    path("ws/prices/<int:room_id>/", consumers.PriceConsumer.as_asgi()),
    path("ws/private/<str:room>/", consumers.PrivateConsumer.as_asgi()),
]
