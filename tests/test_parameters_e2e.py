"""summary.json's `parameters` say what really ran: a locustfile's class with its own pacing and payload,
against a real Daphne target (the reference chatroom's room/<group>, which answers every message with OK)."""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust

pytestmark = pytest.mark.e2e

PAYLOAD = '{"n": {seq}, "pick": "{choice:a|b}"}'
LOCUSTFILE = f"""
from locust import constant, task

from chanload import WsUser


class Paced(WsUser):
    wait_time = constant(0.05)
    payload = {PAYLOAD!r}
    groups = "1-3"

    @task
    def talk(self):
        if not self.ws.connected:
            self.ws.connect()
        self.ws.request()
"""


def test_a_class_with_its_own_wait_time_and_payload_is_described_as_it_ran(tmp_path, target):
    """Its pacing is its wait_time, its payload its own; `think` is null, not --ws-think's default."""
    locustfile = tmp_path / "paced.py"
    locustfile.write_text(LOCUSTFILE)
    run = run_locust(tmp_path, target.ws_url, users=2, run_time="3s", locustfile=locustfile)
    assert run.code == 0, run.output[-3000:]
    parameters = run.summary["parameters"]
    assert parameters["user_classes"] == ["Paced"]
    # As docs/thresholds-ci.md shows it ("What ran: parameters").
    assert parameters["classes"]["Paced"] == {
        "route": "room/{group}", "groups": "1-3", "payload": PAYLOAD, "expect": "OK", "match": None, "opening": [],
        "other": "fail", "subprotocols": [], "login_url": None, "pacing": "wait_time constant(0.05)",
    }  # fmt: skip
    assert parameters["think"] is None  # no class ran --ws-think (its default, 0.5-1.5, would say [0.5, 1.5])
    assert parameters["payload"] is None  # no --ws-payload: the class's own, under classes
    # And it did run at its own pace: --ws-think's default would allow at most 2 users x (3 s / 0.5 s + 1) = 14
    # messages; 50 ms between round trips gives about a hundred.
    row = run.row("WS message", "room/[group]")
    assert row["failures"] == 0 and row["count"] > 14, row
