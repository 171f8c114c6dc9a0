"""The locustfile of `make bench-fanout`: one room of members, a few of whom send on a stepped schedule.

    FANOUT_PLAN=plan.json FANOUT_SENDERS=10 FANOUT_ROUTE='achat/{group}' locust -f benchmarks/fanlocust.py Sender Member

Both classes are the suite's `BroadcastUser` (the payload carries `{mark}`, so every member listens: a
reader greenlet sorts each frame as it arrives and records other members' marks as `WS delivery`), all in
one room (`fan`) on FANOUT_ROUTE:

- `Sender` (FANOUT_SENDERS of them, Locust's `fixed_count`) sends marked messages, each a round trip to
  the target's `OK`, at per-connection rates that change in steps. The steps come from FANOUT_PLAN, a JSON
  file the benchmark writes once every member is connected: {"start": epoch second, "step": seconds of
  sending, "gap": seconds of quiet after each step, "rates": [total msg/s per step]}. Until it exists a
  sender sends nothing; then each sends rate / senders messages a second on a fixed grid at a random phase
  of its own (the total per step is exact when rate / senders x step is whole), nothing in the gaps,
  and nothing after the last step.
- `Member` connects (after a random part of a second: the room fills at an even pace, not in Locust's
  bursts of a second's users) and only listens: its one task keeps the connection open (reconnecting if it
  drops).
"""

from __future__ import annotations

from locust import task

import json
import os
import random
import sys
import time
from pathlib import Path

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))

from chanload import BroadcastUser, ThinkTime
from chanload.conversation.pacing import Schedule
from chanload.wire import timers

PLAN = os.environ.get("FANOUT_PLAN", "")
SENDERS = int(os.environ.get("FANOUT_SENDERS", "10"))
ROUTE = os.environ.get("FANOUT_ROUTE", "achat/{group}")
ROOM = "fan"
IDLE = 3600.0  # seconds a sender waits once its steps are over (the run's end stops it)
# Locust starts each second's users at once; a member waits a random part of this before it connects, so
# that the room fills at an even pace and the benchmark's probe can join at spread places among its members.
JOIN_SPREAD = 1.0


class SteppedSchedule(Schedule):
    """An open-model schedule whose rate follows FANOUT_PLAN's steps, per wall-clock second."""

    def __init__(self, plan_path: str, senders: int, rng: random.Random | None = None) -> None:
        super().__init__(1.0, rng=rng, arrivals="fixed")
        self.plan_path = plan_path
        self.senders = senders
        self.phase = self._rng.random()  # this connection's place on every step's grid, in periods
        self.slots: list[float] | None = None  # wall-clock send times still ahead

    def restart(self) -> None:
        self.slots = None

    def _plan(self) -> dict:
        while True:
            try:
                return json.loads(Path(self.plan_path).read_text())
            except (OSError, ValueError):
                gevent.sleep(0.2)  # not written yet (or half-written)

    def _make_slots(self) -> list[float]:
        plan = self._plan()
        slots = []
        for i, total in enumerate(plan["rates"]):
            rate = total / self.senders
            begin = plan["start"] + i * (plan["step"] + plan.get("gap", 0))
            k = 0
            while (self.phase + k) / rate < plan["step"]:
                slots.append(begin + (self.phase + k) / rate)
                k += 1
        now = time.time()
        return [t for t in reversed(slots) if t >= now]  # popped from the end: earliest last

    def next_send(self) -> float:
        if self.slots is None:
            self.slots = self._make_slots()
        while not self.slots:
            gevent.sleep(IDLE)
        wall = self.slots.pop()
        intended = time.perf_counter() + (wall - time.time())
        timers.sleep_until(intended)
        return intended


class _Spread(ThinkTime):
    """A member's first connect waits a random part of a second: Locust starts each second's users at once."""

    def start_phase(self) -> float:
        return self._rng.uniform(0.0, JOIN_SPREAD)


class Sender(BroadcastUser):
    """A room member that sends marked messages at its share of the plan's total rate."""

    route = ROUTE
    groups = ROOM
    fixed_count = SENDERS

    def make_pacer(self, settings):
        return SteppedSchedule(PLAN, SENDERS)


class Member(BroadcastUser):
    """A room member that only receives: every other member's messages, recorded as deliveries."""

    route = ROUTE
    groups = ROOM

    def make_pacer(self, settings):
        return _Spread(0.0, 0.0)

    @task
    def hold(self) -> None:
        if not self.ws.connected:
            self.ws.connect()  # a failure is recorded and ends the task (a pause, then again)
        gevent.sleep(5.0)


# Locust adds a base class's tasks to a subclass's: keep only `hold`, not ChannelsUser's sending `converse`.
Member.tasks = [t for t in Member.tasks if getattr(t, "__name__", "") == "hold"]
