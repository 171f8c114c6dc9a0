"""A Channels app that leaks on purpose: every message it answers keeps LEAKY_BYTES (default 256 KiB) for good.

    daphne tests.apps.leaky:application       (from the repository root)

`room/<group>`, the seed's route: each text message is answered `OK`, as the reference target does, and a fresh
block of LEAKY_BYTES, written so that its pages are really resident, is appended to a module-level list that nothing
ever empties: the process's RSS grows by about LEAKY_BYTES per message under load and does not come back after it.
tests/test_leaks.py watches it with --watch and expects `watch:leaky:rss_growth<5MB/min` to fail.

Django settings are configured here (no project).
"""

from __future__ import annotations

import os

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="leaky-test-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

LEAKY_BYTES = int(os.environ.get("LEAKY_BYTES", str(256 * 1024)))
KEPT: list[bytes] = []  # the leak: never emptied


class LeakyConsumer(AsyncWebsocketConsumer):
    """Answer OK, and keep LEAKY_BYTES for every message."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        KEPT.append(os.urandom(16) * (LEAKY_BYTES // 16))  # new bytes each time: no block is shared
        await self.send("OK")


application = ProtocolTypeRouter({"websocket": URLRouter([re_path(r"^room/(?P<group>\w+)", LeakyConsumer.as_asgi())])})
