"""Locust users for tests/test_delivery_tail.py: room members that all join, then each send SEND marked messages.

    locust -f tests/apps/taildrop_users.py TailUser --ws-groups lobby ...

Each member connects, waits until every member has (JOIN_PAUSE), sends SEND messages one after another,
then stays in the room listening until the run stops. Against tests/apps/taildrop.py, which relays
each connection's first KEEP messages and drops the rest, every other member is owed SEND - KEEP more
messages of each sender than it gets: the tail, all of it sent long before the run stops.

`MutedUser` (one of them) is in the same room, but the app relays none of its messages (`?mute=1`), and it
starts a second after the others, when every member has heard a message: every other member is owed all
SEND of its messages, from a sender it never heard.
"""

from __future__ import annotations

from locust import constant, task

import gevent

from chanload import WsUser
from chanload.locust.users import BroadcastUser

SEND = 50
JOIN_PAUSE = 2.0


class TailUser(WsUser):
    """BroadcastUser's messages (its payload carries {mark}, so the session listens), on a script of its own."""

    route = "chat/{group}"
    groups = "lobby"
    payload = BroadcastUser.payload
    wait_time = constant(0.02)

    @task
    def talk(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()
            gevent.sleep(JOIN_PAUSE)
        if ws.seq < SEND:
            ws.request()
        else:
            gevent.sleep(0.25)


class MutedUser(TailUser):
    route = "chat/{group}?mute=1"
    fixed_count = 1

    def on_start(self) -> None:
        super().on_start()
        gevent.sleep(1.0)
