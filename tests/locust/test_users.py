"""The suite's users as `locust -f loadtests/ws.py` runs them: what only a locust process shows.

Their rules (routes, failure classes, reconnects, pacing, stops) run in-process: tests/locust/inprocess/test_users.py.
"""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust
from tests.servers import free_port

pytestmark = pytest.mark.e2e

FAST = ("--ws-think", "0.01-0.03")


def test_with_no_user_class_named_room_user_runs_cleanly(tmp_path, target):
    """No class on the command line: RoomUser alone connects and gets OK; no traceback, no GreenletExit."""
    run = run_locust(tmp_path, target.ws_url, *FAST, run_time="2s")
    assert run.code == 0, run.output[-3000:]
    assert "Traceback" not in run.output and "GreenletExit" not in run.output, run.output[-3000:]
    assert run.summary["parameters"]["user_classes"] == ["RoomUser"]
    assert run.row("WS connect", "room/[group]")["count"] == 5
    assert run.row("WS message", "room/[group]")["count"] > 50 and run.summary["counters"]["failed"] == 0
    # Locust's own stats, written by the process (--json-file), count the same round trips.
    assert run.stats()[("WS message", "room/[group]")]["num_requests"] == run.row("WS message", "room/[group]")["count"]


def test_wrong_option_fails_before_any_load(tmp_path):
    """A wrong option exits 2 with a message that names it, before any connection is made (each wrong value's
    message: tests/locust/inprocess/test_users.py)."""
    port = free_port()  # nothing listens: a run that started would record connection refused
    run = run_locust(tmp_path, f"ws://127.0.0.1:{port}", "--ws-think", "abc")
    assert run.code == 2, run.output[-3000:]
    assert "--ws-think 'abc'" in run.output
    assert "Traceback" not in run.output
    assert not (run.report_dir / "summary.json").exists()
