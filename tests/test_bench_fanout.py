"""benchmarks/fanout.py at a small scale: both broadcasters, every figure printed, the counts checked (no rates)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.servers import ROOT, UNIT

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

MEMBERS = 50
PROBE = 5
STEP = re.compile(
    r"suite counted (\d+) of sent (\d+) x (\d+) = (\d+) \(ratio [\d.]+\); probe got (\d+) of (\d+);"
)  # fmt: skip


def test_fanout_counts_every_delivery_beside_the_probe_and_ends_with_the_goal_line():
    """50 members (2 senders) and a 5-member probe, one short step on Channels (2 Daphne, Redis, nginx) and on
    the picows broadcaster: the suite's and the probe's counts are printed per step and agree with what was
    sent whenever the probe got all of it; the GOAL line is last."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.fanout", "--members", str(MEMBERS), "--senders", "2", "--rates", "4",
         "--step", "4", "--gap", "3", "--spawn-rate", "50", "--probe-sockets", str(PROBE)],
        cwd=ROOT, capture_output=True, text=True, timeout=240 * UNIT,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0 and "Traceback" not in out + proc.stderr, (out + proc.stderr)[-3000:]
    for server in ("channels", "picows"):
        assert f"{server}: probe {PROBE} members, errors: none" in out, out[-3000:]
    steps = STEP.findall(out)
    assert len(steps) == 2, out[-3000:]  # one step per broadcaster
    for counted, sent, others, owed, probe_got, probe_owed in (tuple(map(int, s)) for s in steps):
        assert others == MEMBERS - 1 and owed == sent * others and probe_owed == sent * PROBE
        assert sent > 0 and 0 < counted <= owed and 0 < probe_got <= probe_owed
        if probe_got == probe_owed:  # the broadcaster dropped nothing: the suite counted every delivery
            assert counted == owed, out[-3000:]
    for figure in ("delivery p50 suite", "worker CPU", "us per delivery", "daphne-1", "picows-server", "redis"):
        assert figure in out, figure
    last = out.strip().splitlines()[-1]
    assert last.startswith("GOAL 20,000 deliveries/s accounted by one worker within one core, fidelity held: ")
    assert last.endswith(("-> PASS", "-> FAIL"))
