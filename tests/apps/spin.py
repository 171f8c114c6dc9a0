"""A generator that overloads itself: each turn spins the CPU in pure Python, then makes one round trip.

    locust -f tests/apps/spin.py SpinUser --host ws://127.0.0.1:PORT --headless -u 1 -r 1 -t 6s

`SpinUser` (the seed's `room/{group}` route) spins SPIN seconds of pure Python per turn, with no wait
between turns, then sends one message and checks its OK. A turn is bounded (SPIN of spinning, one
round trip), and the run ends with Locust's -t; between turns the user yields to the event loop, so
chanload's once-a-second sampling still runs. One user keeps its process at about a whole core:
the generator's own CPU warning (`generator busy`) fires. tests/watch/test_resources.py runs it.
"""

from __future__ import annotations

from locust import constant, task

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))  # chanload, without the install too

from chanload import WsUser

SPIN = 0.05  # seconds of pure-Python work per turn; the round trip after it idles well under a millisecond


class SpinUser(WsUser):
    """Burns SPIN seconds of CPU, then one round trip on its connection (reconnecting if it was dropped)."""

    route = "room/{group}"
    wait_time = constant(0)

    @task
    def spin(self) -> None:
        deadline = time.perf_counter() + SPIN
        count = 0
        while time.perf_counter() < deadline:  # bounded: SPIN seconds, however fast the machine
            count += 1
        ws = self.ws
        if not ws.connected:
            ws.connect()
        ws.request()
