"""App config for chat."""

from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The chat app: consumers, routes and the health view; no models."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"
