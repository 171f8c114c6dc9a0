"""loadtests/ws.py plus a witness: each process counts the request events it fires and writes them at exit.

    CHANLOAD_TEST_COUNT_DIR=DIR locust -f tests/apps/counted.py ...

Each process (master, worker or standalone) writes DIR/<role>-<pid>.json when it quits: its own
request events per (type, name), successes and failures, and its chanload counters and delivery
totals. A distributed test sums the workers' files and compares them with what the master merged.
"""

from __future__ import annotations

from locust import events
from locust.runners import MasterRunner, WorkerRunner

import json
import os
import sys
from collections import Counter
from pathlib import Path

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))

from ws import AsyncRoomUser, ChatUser, RoomUser  # noqa: F401 - the user classes, as loadtests/ws.py has them

from chanload.run.state import state


class SlowToStopUser(RoomUser):
    """A RoomUser that takes 1.5 s to stop, then makes one last round trip: its worker's last report is late."""

    def on_stop(self) -> None:
        gevent.sleep(1.5)  # Locust's master waits 0.5 s for the workers' last reports
        if self.ws.connected:
            self.ws.request()
        super().on_stop()


_ok: Counter[str] = Counter()
_failed: Counter[str] = Counter()


@events.request.add_listener
def _count(request_type, name, exception=None, **_kw) -> None:
    key = f"{request_type}|{name}"
    if exception is None:
        _ok[key] += 1
    else:
        _failed[key] += 1


@events.quitting.add_listener
def _write(environment, **_kw) -> None:
    folder = os.environ.get("CHANLOAD_TEST_COUNT_DIR")
    if not folder:
        return
    runner = environment.runner
    role = "master" if isinstance(runner, MasterRunner) else "worker" if isinstance(runner, WorkerRunner) else "local"
    st = state(environment)
    record = {
        "ok": dict(_ok),
        "failed": dict(_failed),
        "ledger": st.ledger.snapshot(),
        "delivery": st.delivery.snapshot(),
    }
    Path(folder, f"{role}-{os.getpid()}.json").write_text(json.dumps(record))
