"""Locust users for Django Channels websocket endpoints: `locust -f loadtests/ws.py --host ws://...`.

Run one class by naming it (`locust -f loadtests/ws.py RoomUser`); `--ws-*` options in `python -m chanload --help`.
Users for apps of other shapes: loadtests/examples/, and `chanload.WsUser` for your own.
"""

from __future__ import annotations

from locust import events


@events.init.add_listener
def _default_user(environment, **_kw) -> None:
    """With no user class named on the command line, run the seed's RoomUser only.

    Registered before chanload's own listeners (imported below), so that the checks they make before
    any load see the classes that will run, not every class in this file.
    """
    opts = environment.parsed_options
    if opts is not None and not opts.user_classes and not getattr(opts, "class_picker", False):
        environment.user_classes = [RoomUser]


import random  # noqa: E402

from chanload import BroadcastUser, EchoUser, ThinkTime  # noqa: E402 - the users bring the --ws-* options and recording


class RoomUser(EchoUser):
    """The seed's route: a sync consumer that answers every message with OK."""

    route = "room/{group}"


class AsyncRoomUser(EchoUser):
    """The same contract on an AsyncWebsocketConsumer, to compare sync and async under one load."""

    route = "aroom/{group}"


_IDLE_RNG = random.Random()


class _IdlePause(ThinkTime):
    """Connect at once: the first pause (uniform over 20-40 s) already spreads the idle users' messages."""

    def start_phase(self) -> float:
        return 0.0


class IdleUser(EchoUser):
    """Holds a socket to the async route with one message every 20-40 s: how many sockets a target holds.

    The pause is the class's `think` (seconds; subclass to change it), not --ws-think; --ws-rate still
    sets a fixed rate. `make bench-connections` holds 20,000 of them (as many as the open-files limit allows).
    """

    route = "aroom/{group}"
    think = (20.0, 40.0)

    def make_pacer(self, settings):
        if settings.rate:
            return super().make_pacer(settings)
        # One generator for all: a random.Random each is 3 KB, an eighth of a held socket's budget.
        return _IdlePause(*self.think, rng=_IDLE_RNG)


class ChatUser(BroadcastUser):
    """Room members: every message is acknowledged with OK and relayed, marked, to the whole room."""

    route = "chat/{group}"
