"""The ceiling benchmark's pieces: the picows echo server answers the clients as our target does; send-gap shares."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chanload.wire.stamps import short_gaps
from tests.servers import ROOT, UNIT, free_port, wait_for_port


@pytest.fixture
def echo():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.echo", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, 20 * UNIT)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10 * UNIT)


@pytest.mark.parametrize("client", ["bare", "fastclient"])
def test_each_reference_client_completes_round_trips_against_the_echo_server(echo, client, tmp_path):
    """Both reference clients get `OK` for every `hello` from benchmarks/echo.py, and count them per second."""
    out = tmp_path / "counts.json"
    argv = [
        sys.executable,
        "-m",
        f"benchmarks.{client}",
        echo,
        "--connections",
        "3",
        "--seconds",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "READY" in proc.stdout
    result = json.loads(out.read_text())
    assert result["errors"] == 0
    assert sum(result["per_second"].values()) >= 1  # round trips completed; how many a second is the machine's


def test_short_gaps_are_counted_between_consecutive_sends_in_time_order():
    """Gaps are taken after sorting (sends of many users interleave); the share is of all gaps."""
    share, gaps = short_gaps([0.0, 0.001, 0.00103, 0.0005, 0.00104], below=50e-6)
    # sorted: 0, 0.0005, 0.001, 0.00103, 0.00104 -> gaps 500, 500, 30, 10 us: two of four are short.
    assert (share, gaps) == (0.5, 4)
    assert short_gaps([1.0]) == (0.0, 0)
