"""A Channels app whose messages wait for a slow consumer in a tiny channels_redis queue: a known queue limit.

    REDIS_URL=redis://127.0.0.1:PORT/0 daphne tests.apps.slowqueue:application    (the app)
    REDIS_URL=redis://127.0.0.1:PORT/0 python -m tests.apps.slowqueue               (its slow consumer)

`work/<group>`: each text message is handed to the named channel `slowqueue.tasks` (`channel_layer.send`) and
answered `OK`; when the layer refuses it (ChannelFull: the channel already holds SLOWQUEUE_CAPACITY messages,
default 10) the answer is `FULL`. The slow consumer, a process of its own as a Channels worker is, takes the
tasks one at a time and spends SLOWQUEUE_TASK_MS (default 20) on each, asleep: it keeps up with 1000 / TASK_MS
messages a second, burns no CPU, and past that rate the queue in Redis fills up to its capacity. The layer is
channels_redis's RedisChannelLayer, as a scaled Channels deployment runs it (the key is `asgislowqueue.tasks`).

Django settings are configured here (no project).
"""

from __future__ import annotations

import asyncio
import os

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="slowqueue-test-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                # A socket timeout past channels_redis's 5 s blocking reads, as the reference target sets it.
                "CONFIG": {
                    "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 10}],
                    "capacity": int(os.environ.get("SLOWQUEUE_CAPACITY", "10")),
                },
            }
        },
    )
    django.setup()

from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

TASK_MS = float(os.environ.get("SLOWQUEUE_TASK_MS", "20"))
TASKS = "slowqueue.tasks"


async def work_slowly() -> None:
    """The slow consumer: one task at a time, TASK_MS each, until it is stopped."""
    layer = get_channel_layer()
    while True:
        await layer.receive(TASKS)
        await asyncio.sleep(TASK_MS / 1000)


class WorkConsumer(AsyncWebsocketConsumer):
    """Hand each message to the slow consumer's queue; answer OK, or FULL when the layer refuses it."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            await self.channel_layer.send(TASKS, {"type": "task", "text": text_data or ""})
        except ChannelFull:
            await self.send("FULL")
            return
        await self.send("OK")


application = ProtocolTypeRouter({"websocket": URLRouter([re_path(r"^work/(?P<group>\w+)", WorkConsumer.as_asgi())])})

if __name__ == "__main__":
    asyncio.run(work_slowly())
