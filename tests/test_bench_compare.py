"""make bench-compare, shortened: one triple of runs on two real targets, judged, with its figures and goals."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.servers import ROOT, UNIT

pytestmark = [pytest.mark.e2e, pytest.mark.timing]


def test_one_triple_is_run_judged_and_reported(tmp_path):
    keep = tmp_path / "runs"
    # 6 s: at least 5 whole seconds a run, so the Mann-Whitney of 5 blocks a side can pass alpha/m (4 could not)
    cmd = [sys.executable, "-m", "benchmarks.compare", "--pairs", "1", "--run-time", "6", "--users", "10",
           "--arrivals", "poisson", "--slowdown", "3", "--keep", str(keep)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300 * UNIT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    setup = json.loads((keep / "setup.json").read_text())
    assert setup["delay_us"] == round(3 * setup["calibration_p50"])  # B pauses 3x A's p50: caught for sure
    for label in ("A1", "A2", "B"):
        summary = json.loads((keep / f"00-{label}" / "summary.json").read_text())
        assert summary["parameters"]["arrivals"] == "poisson" and summary["counters"]["ok"] > 100
    assert re.search(r"B/A message p50 ratio: median (\d\.\d+)", out) and "latency.hlog: " in out
    assert float(re.search(r"B/A message p50 ratio: median (\d\.\d+)", out).group(1)) > 2
    # One pair: no false positive allowed, the catch required; a 3x pause is caught whatever the A/A pair did.
    pattern = r"^GOAL A/A pairs flagged <= 0 of 1, \+300% server pause caught >= 1 of 1: ([01]) flagged, 1 caught"
    goal = re.search(pattern + r" -> (PASS|FAIL)$", out, re.M)
    assert goal and (goal.group(2) == "PASS") == (goal.group(1) == "0"), out[-2000:]
    # The kept runs are judged again without running anything.
    again = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--reuse", str(keep)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120 * UNIT)  # fmt: skip
    assert again.returncode == 0 and "+300% server pause caught >= 1 of 1" in again.stdout, again.stderr[-2000:]
