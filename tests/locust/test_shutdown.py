"""Signals while a run ends, sent for real to a real locust process: the artifacts are never lost."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.locust.test_plugin import junit_failures, locust_cmd
from tests.locustrun import SPAWNED, Output
from tests.servers import ROOT

pytestmark = pytest.mark.e2e


def stop_with(tmp_path, target, signals, gap: float = 0.05):
    """Run 60 s, then send `signals` `gap` seconds apart; return (exit code, output).

    The PNG charts stay on: drawing them keeps the writing going for about a second, so the later signals
    surely arrive while the artifacts are being written.
    """
    proc = subprocess.Popen(
        locust_cmd(tmp_path, target.ws_url, "-t", "60s", png_charts="on"), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = Output(proc)
    try:
        assert output.wait_for(SPAWNED, 60), output.text()[-3000:]
        time.sleep(1)  # mid-run: messages answered and in flight
        for i, sig in enumerate(signals):
            if i:
                time.sleep(gap)
            proc.send_signal(sig)
        out = output.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)],
    ids=["INT-INT", "TERM-TERM", "INT-TERM"],
)
def test_second_signal_during_shutdown_is_ignored_and_artifacts_complete(tmp_path, target, signals):
    """Two signals 50 ms apart: the second is ignored (said so), the artifacts are whole, exit code 4."""
    code, out = stop_with(tmp_path, target, signals)
    assert code == 4, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    assert f"{signals[1].name} ignored: still writing the artifacts" in out
    report = tmp_path / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 4
    assert summary["artifacts"]["complete"] is True
    assert sorted(p.name for p in report.iterdir()) == sorted(summary["artifacts"]["files"])
    assert "run completed" in junit_failures(report)
    assert f"chanload: artifacts in {report}" in out


def test_third_signal_aborts_but_says_the_artifacts_are_incomplete(tmp_path, target):
    """Three signals 50 ms apart: the third aborts the writing, after saying so; no claim, exit code 6."""
    code, out = stop_with(tmp_path, target, (signal.SIGINT, signal.SIGINT, signal.SIGINT))
    assert code == 6, out[-3000:]
    assert "aborted by a third signal (SIGINT)" in out and "INCOMPLETE" in out
    assert "chanload: artifacts in" not in out
    report = tmp_path / "report"
    leftovers = [p.name for p in report.iterdir()] if report.exists() else []
    assert not [n for n in leftovers if n.startswith(".")], leftovers  # no half-written temp file
