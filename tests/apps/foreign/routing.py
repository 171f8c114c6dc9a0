"""Websocket routes: a regex route with a name, an integer route parameter, an authenticated route."""

from __future__ import annotations

from django.urls import path, re_path
from strawberry.channels import GraphQLWSConsumer

from foreign import api, consumers, lobby
from foreign.schema import schema

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
    path("ws/prices/<int:room_id>/", consumers.PriceConsumer.as_asgi()),
    path("ws/private/<str:room>/", consumers.PrivateConsumer.as_asgi()),
    path("ws/lobby/", lobby.LobbyConsumer.as_asgi()),  # after a login through accounts/login/ (Django's LoginView)
    path("ws/api/lobby/", lobby.TokenLobbyConsumer.as_asgi()),  # with a DRF token from api-token-auth/
    # Third-party APIs: strawberry's GraphQL consumer (graphql-transport-ws) and a djangochannelsrestframework one.
    re_path(r"^ws/graphql/?$", GraphQLWSConsumer.as_asgi(schema=schema)),
    path("ws/api/items/", api.ItemConsumer.as_asgi()),
]
