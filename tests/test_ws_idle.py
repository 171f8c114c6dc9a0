"""IdleUser (loadtests/ws.py): sockets held open on the async route, a message every 20-40 s."""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust

pytestmark = pytest.mark.e2e


def test_idle_users_hold_their_sockets_without_sending(tmp_path, target):
    """4 s of 6 IdleUsers: 6 handshakes to aroom/, no message yet (the first comes after 20-40 s), 6 held."""
    run = run_locust(tmp_path, target.ws_url, "IdleUser", run_time="4s", users=6)
    assert run.code == 0 and "Traceback" not in run.output, run.output[-3000:]
    summary = run.summary
    assert run.row("WS connect", "aroom/[group]")["count"] == 6
    assert summary["counters"]["sent"] == 0
    assert max(point["open"] for point in summary["timeline"]["connections"]) == 6


def test_ws_rate_still_paces_idle_users(tmp_path, target):
    """--ws-rate overrides the idle pause: messages flow at the open-model rate."""
    run = run_locust(tmp_path, target.ws_url, "IdleUser", "--ws-rate", "5", run_time="3s", users=2)
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "aroom/[group]")["count"] > 0  # idle users alone send none (above)
