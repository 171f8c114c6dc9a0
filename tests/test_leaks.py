"""Leaks against real Daphne processes: an app that leaks on purpose is flagged, the reference target is not.

Each run is 25 s of load with `--watch NAME=PID` on the Daphne process and `--watch-cooldown 3` after it: the
leaky app (tests/apps/leaky.py, 256 KiB kept per message, about 10 messages/s from 10 users: some 150 MB/min) fails
`watch:leaky:rss_growth<5MB/min` (exit 3) and its RSS does not come back; the reference target, under the same
load for as long, passes it. Behaviour only: the figures are compared with limits an order of magnitude apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.locustrun import run_locust
from tests.test_readme import DOCS, commands, fenced

pytestmark = pytest.mark.e2e

LOAD = ("--watch-cooldown", "3", "--ws-think", "0.5-1.5")  # 10 users: the docs command's load (the default think)


def test_an_app_that_leaks_on_purpose_is_flagged(tmp_path):
    with servers.daphne("tests.apps.leaky:application", cwd=servers.ROOT) as app:
        run = run_locust(
            tmp_path, app.ws_url, "--watch", f"leaky={app.proc.pid}", "--slo", "watch:leaky:rss_growth<5MB/min",
            *LOAD, run_time="25s", users=10, timeout=120,
        )  # fmt: skip
    assert run.code == 3, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    leak = run.summary["leaks"]["leaky"]
    assert leak["rss_growth_mb_per_min"] > 20, leak
    assert leak["returned"] is False, leak
    (threshold,) = run.summary["thresholds"]
    assert threshold["passed"] is False and threshold["unit"] == "MB/min"
    assert "leak leaky: RSS +" in run.output and "RSS did NOT come back after the load" in run.output
    assert "<h2>Leaks</h2>" in (run.report_dir / "report.html").read_text()


def test_a_growth_threshold_without_its_watch_exits_2_before_any_load(tmp_path):
    with servers.daphne() as target:
        run = run_locust(tmp_path, target.ws_url, "--slo", "watch:daphne:rss_growth<5MB/min", run_time="20s")
    assert run.code == 2, run.output[-2000:]
    assert "chanload: error: --slo 'watch:daphne:rss_growth<5MB/min': no watched process 'daphne'" in run.output
    assert not (run.report_dir / "summary.json").exists()


def test_the_docs_leak_command_runs_and_the_reference_target_run_as_long_is_not_flagged(tmp_path):
    """docs/watching.md's command, as written but for its duration (25 s), cool-down (3 s) and report folder: the
    target scripts/with_target.py starts (the reference target) is watched as `daphne`, under the leaky app's load
    (10 users, the default think time 0.5-1.5 s) for as long; its growth is under the limit, its RSS came back."""
    (block,) = [b for b in fenced(DOCS / "watching.md", "sh") if "--watch-cooldown" in b]
    (words,) = commands(block)
    words = [sys.executable if w == "python" else w for w in words]
    report = tmp_path / "leaks"
    for option, value in (("-t", "25s"), ("--watch-cooldown", "3"), ("--report-dir", str(report))):
        words[words.index(option) + 1] = value
    assert words[words.index("-u") + 1] == "10" and "--ws-think" not in words  # the leaky app's load (LOAD)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(words, cwd=servers.ROOT, env=env, capture_output=True, text=True, timeout=180 * servers.UNIT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    (threshold,) = summary["thresholds"]
    assert threshold["expr"] == "watch:daphne:rss_growth<5MB/min" and threshold["passed"] is True, threshold
    leak = summary["leaks"]["daphne"]
    assert leak["rss_growth_mb_per_min"] < 5 and leak["returned"] is True, leak
