"""The locustfile as people use it: `locust --help`, the web UI with the --ws-* options, default user."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.servers import ROOT, UNIT, free_port, stop, wait_for_port

pytestmark = pytest.mark.e2e


def test_help_lists_the_channels_options():
    """`python -m chanload --help` shows Locust's options and ours under their own heading."""
    out = subprocess.run(
        [sys.executable, "-m", "chanload", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT,
    ).stdout  # fmt: skip
    assert "Channels websocket" in out
    assert "--run-time" in out  # Locust's own options too
    for option in ("--ws-path", "--ws-groups", "--ws-payload", "--ws-expect", "--ws-other", "--ws-rate", "--slo"):
        assert option in out


@pytest.mark.timing
def test_web_ui_runs_with_options_from_the_form(tmp_path, target):
    """Start from the web UI's form with a custom --ws-think: sub-ms round trips show in its stats."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--host", target.ws_url,
         "--web-host", "127.0.0.1", "--web-port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, 30 * UNIT)
        base = f"http://127.0.0.1:{port}"
        page = urllib.request.urlopen(base + "/", timeout=10).read().decode()
        for field in ("ws_think", "ws_rate", "ws_groups", "ws_payload", "ws_expect", "ws_other"):
            assert field in page  # the options are in the start form
        form = urllib.parse.urlencode(
            {"user_count": 3, "spawn_rate": 3, "host": target.ws_url, "ws_think": "0.01-0.02"}
        ).encode()
        started = json.loads(urllib.request.urlopen(base + "/swarm", data=form, timeout=10).read())
        assert started["success"] is True
        time.sleep(4 * UNIT)
        stats = json.loads(urllib.request.urlopen(base + "/stats/requests", timeout=10).read())
        rows = {(s["method"], s["name"]): s for s in stats["stats"]}
        message = rows[("WS message", "room/[group]")]
        assert message["num_requests"] > 100  # think 0.01-0.02 s from the form, not the 0.5-1.5 s default
        assert message["num_failures"] == 0
        assert 0 < message["median_response_time"] < 5  # milliseconds, sub-ms visible
        urllib.request.urlopen(base + "/stop", data=b"", timeout=10).read()
    finally:
        stop(proc)
        out = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out, out[-3000:]
