"""Locust users for Django Channels websocket endpoints: `locust -f loadtests/ws.py --host ws://...`.

Run one class by naming it (`locust -f loadtests/ws.py RoomUser`); `--ws-*` options in `python -m chanload --help`.
Users for apps of other shapes: loadtests/examples/, and `chanload.users.WsUser` for your own.
"""

from __future__ import annotations

from locust import events

from chanload import plugin  # noqa: F401 - registers the --ws-* options, recording and the summary
from chanload.users import BroadcastUser, EchoUser


class RoomUser(EchoUser):
    """The seed's route: a sync consumer that answers every message with OK."""

    route = "room/{group}"


class AsyncRoomUser(EchoUser):
    """The same contract on an AsyncWebsocketConsumer, to compare sync and async under one load."""

    route = "aroom/{group}"


class ChatUser(BroadcastUser):
    """Room members: every message is acknowledged with OK and relayed, marked, to the whole room."""

    route = "chat/{group}"


@events.init.add_listener
def _default_user(environment, **_kw) -> None:
    """With no user class named on the command line, run the seed's RoomUser only."""
    opts = environment.parsed_options
    if opts is not None and not opts.user_classes and not getattr(opts, "class_picker", False):
        environment.user_classes = [RoomUser]
