"""benchmarks/connections.py and benchmarks/capacity.py: their reports, at a small scale (no figures asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks.capacity import side_by_side
from tests.servers import ROOT, UNIT


@pytest.mark.e2e
def test_connections_reports_every_figure_and_ends_with_the_goal_line():
    """300 sockets: held count, per-thousand connect latency, RSS per socket, messages; GOAL line last.

    Under a hard open-files limit of 400, 350 sockets asked are more than one worker can hold beside its
    own descriptors: it runs 300, says so first, and the goal (350) fails however well they went.
    """
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (400, 400))

    proc = subprocess.run(
        # Held 6 s: the run ends 9 s after the ramp's 2 s, so a loaded machine still opens all 300 in it.
        [sys.executable, "-m", "benchmarks.connections", "--sockets", "350", "--spawn-rate", "150", "--hold", "6"],
        cwd=ROOT, capture_output=True, text=True, timeout=180 * UNIT, preexec_fn=limit,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0 and "Traceback" not in out + proc.stderr, (out + proc.stderr)[-3000:]
    assert out.startswith("note: the hard open-files limit is 400 a process: one worker can hold 300 sockets"), out
    for line in ("sockets held: ", "connect latency per thousand", "sockets      1-300", "generator (the worker",
                 "target RSS per socket", "CPU during the ramp", "messages at full count"):  # fmt: skip
        assert line in out, line
    # The master watched the Daphne and the Redis it started, with no option given.
    assert "watched daphne: peak CPU " in out and "watched redis: peak " in out, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("GOAL 350 sockets held at <= 20 KB generator RSS per socket: "), last
    assert "300 asked of the worker, as its open-files limit allows" in last and last.endswith("-> FAIL"), last


@pytest.mark.e2e
def test_socketmem_says_where_each_kb_of_a_socket_goes():
    """200 idle sockets in one process: RSS per socket, its parts (which add up to it), and the goal line."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.socketmem", "--sockets", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=300 * UNIT,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0 and "Traceback" not in out + proc.stderr, (out + proc.stderr)[-3000:]
    per = float(re.search(r"RSS per socket: ([\d.]+) KB", out).group(1))
    parts = [float(m.group(1)) for m in re.finditer(r"^ +(-?[\d.]+) KB  ", out, re.M)]
    assert len(parts) == 6 and abs(sum(parts) - per) < 0.05, (per, parts)
    assert "greenlet stack saved at a switch" in out and "chanload session and user" in out
    assert out.strip().splitlines()[-1].startswith("GOAL in-process RSS per idle socket <= 20 KB: ")


@pytest.mark.e2e
def test_connections_says_what_to_raise_when_it_cannot_get_the_open_files():
    """A limit it cannot reach: it stops before any load and names the limit to raise."""
    code = "from benchmarks.connections import raise_open_files; raise_open_files(10**9)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30 * UNIT)
    assert proc.returncode == 1 and "needs 1000000000 open files" in proc.stderr and "ulimit -Hn" in proc.stderr


def test_capacity_prints_the_two_knees_side_by_side():
    """One column per route; a route with no knee says so."""
    knee = {"users": 40, "sockets": 40, "messages_per_s": 800.0, "p50_us": 900, "p95_us": 4200, "p99_us": 9100}
    text = side_by_side(
        {
            "room/ (sync)": {
                "knee": knee,
                "steps": [{}] * 5,
                "stopped_by": "50 users broke x",
                "limit": {"text": "daphne CPU at 99% of one core from step 5 (50 users)"},
            },  # fmt: skip
            "aroom/ (async)": {"knee": None, "steps": [{}], "stopped_by": "10 users broke x"},
        }
    )
    lines = text.splitlines()
    assert lines[0].split() == ["room/", "(sync)", "aroom/", "(async)"]
    assert lines[1].split() == ["knee:", "users", "40", "none"]
    assert "4.2 ms" in text and "stopped, aroom/ (async): 10 users broke x" in text
    assert "limit, room/ (sync): daphne CPU at 99% of one core from step 5 (50 users)" in text
    assert "limit, aroom/ (async): not judged" in text
