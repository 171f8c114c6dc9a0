"""Run ends: thresholds and exit codes, artifacts on every way a run can stop, distributed merging."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.locustrun import SPAWNED, Output, png_option, run_locust
from tests.servers import ROOT, UNIT, daphne, dead_port, free_port

FAST = ("--ws-think", "0.01-0.03")


def junit_failures(report_dir) -> dict[str, str]:
    root = ET.parse(report_dir / "junit.xml").getroot()
    return {
        case.get("name"): case.find("failure").get("message")
        for case in root.iter("testcase")
        if case.find("failure") is not None
    }


@pytest.mark.e2e
def test_passing_thresholds_exit_0(tmp_path, target):
    """Thresholds on every metric that only a broken run fails pass; the run exits 0 and JUnit has no failure.

    (Latencies above the 5 s connect and reply timeouts, any rate at all: a loaded machine passes them too.)
    """
    run = run_locust(
        tmp_path, target.ws_url, *FAST,
        "--slo", "connect:p95<10s", "--slo", "message:p99<10s", "--slo", "fail_ratio<1%", "--slo", "rps>0",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert [t["passed"] for t in run.summary["thresholds"]] == [True] * 4
    assert junit_failures(run.report_dir) == {}
    assert "PASS  message:p99<10s" in run.output


@pytest.mark.e2e
def test_impossible_threshold_exits_3_and_junit_shows_it(tmp_path, target):
    """p50 under 1 us cannot pass: exit code 3, and the JUnit case carries the measured value."""
    run = run_locust(tmp_path, target.ws_url, *FAST, "--slo", "message:p50<1us", "--slo", "connect:p95<2s")
    assert run.code == 3, run.output[-3000:]
    failures = junit_failures(run.report_dir)
    assert list(failures) == ["message:p50<1us"]
    assert failures["message:p50<1us"].startswith("measured ")
    assert run.summary["exit_code"] == 3


@pytest.mark.e2e
def test_bad_threshold_fails_before_any_load(tmp_path):
    """A unit that does not fit is an option error: exit 2, message points at it, nothing run."""
    run = run_locust(tmp_path, f"ws://127.0.0.1:{free_port()}", "--slo", "message:p99<10xs")
    assert run.code == 2
    assert "unknown unit 'xs'" in run.output
    assert not run.report_dir.exists()


@pytest.mark.e2e
def test_slo_abort_stops_a_doomed_run_early(tmp_path, target):
    """--slo-abort ends a 60 s run before its time once max<1us is broken: aborted, not completed."""
    run = run_locust(tmp_path, target.ws_url, *FAST, "--slo", "message:max<1us", "--slo-abort", run_time="60s")
    assert run.code == 3, run.output[-3000:]
    assert run.summary["status"] == "aborted"  # a run that went its 60 s would say completed


@pytest.mark.e2e
def test_dead_target_writes_artifacts_that_say_so(tmp_path):
    """Nothing listening: status target_unreachable, exit 5, JUnit 'run completed' fails."""
    with dead_port() as port:
        run = run_locust(tmp_path, f"ws://127.0.0.1:{port}", *FAST, "--slo", "message:p99<10ms", run_time="3s")
    assert run.code == 5, run.output[-3000:]
    assert run.summary["status"] == "target_unreachable"
    assert "run completed" in junit_failures(run.report_dir)
    # One failing row, whatever rooms the users picked, and its message names host:port, not the path.
    failing = [key for key, entry in run.stats().items() if entry["num_failures"]]
    assert failing == [("WS connect", "room/[group]")]
    errors = {f["Error"] for f in run.failures()}  # Locust rewrites this CSV each second: it may lag
    assert errors <= {f"connection refused: nothing listens at 127.0.0.1:{port}"}, errors


@pytest.mark.e2e
def test_target_dying_mid_run_is_reported(tmp_path):
    """A target killed mid-run: status target_down, exit 5, counters still reconcile."""
    with daphne() as server:
        cmd = locust_cmd(tmp_path, server.ws_url, "-t", f"{5 * UNIT:g}s", "--ws-messages", "3")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = Output(proc)
        assert output.wait_for(SPAWNED, 60), output.text()[-3000:]
        time.sleep(1.5)  # round trips done and reconnections made before the target dies
        server.proc.kill()
        out = output.text()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert proc.returncode == 5, out[-3000:]
    assert summary["status"] == "target_down"
    assert summary["counters"]["reconciles"] is True
    assert summary["counters"]["ok"] > 0


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_run_leaves_complete_interrupted_artifacts(tmp_path, target, sig):
    """SIGTERM or Ctrl-C: summary.json and junit.xml are whole, marked interrupted, exit code 4."""
    proc = subprocess.Popen(
        locust_cmd(tmp_path, target.ws_url, "-t", "60s"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(proc)
    assert output.wait_for(SPAWNED, 60), output.text()[-3000:]
    time.sleep(1)  # mid-run: messages answered and in flight
    proc.send_signal(sig)
    out = output.text()
    assert proc.returncode == 4, out[-3000:]
    assert "Traceback" not in out and "GreenletExit" not in out, out[-3000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert summary["counters"]["reconciles"] is True
    assert summary["latency"] and summary["counters"]["ok"] > 0
    assert "run completed" in junit_failures(tmp_path / "report")
    assert (tmp_path / "report" / "report.html").stat().st_size > 1000
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.e2e
def test_distributed_run_merges_worker_histograms_exactly(tmp_path, target):
    """Master + 2 workers: HDR counts equal Locust's own merged counts; counters reconcile."""
    port = free_port()
    master = subprocess.Popen(
        locust_cmd(tmp_path, target.ws_url, "-t", "6s", "-u", "8", "-r", "8", "--master",
                   "--expect-workers", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                   "--json-file", str(tmp_path / "stats")),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                "loadtests/ws.py",
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        out, _ = master.communicate(timeout=90 * UNIT)
        worker_out = [w.communicate(timeout=30 * UNIT)[0] for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
    assert master.returncode == 0, out[-3000:]
    assert not any("Traceback" in o for o in [out, *worker_out])
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    stats = {(e["method"], e["name"]): e for e in json.loads((tmp_path / "stats.json").read_text())}
    message = next(r for r in summary["latency"] if r["type"] == "WS message")
    locust_message = stats[("WS message", "room/[group]")]
    assert message["count"] == locust_message["num_requests"] - locust_message["num_failures"] > 100
    assert summary["counters"]["ok"] == message["count"]
    assert summary["counters"]["reconciles"] is True
    assert summary["counters"]["connects"] == 8
    assert {p["second"] for p in summary["timeline"]["latency"]}, "the master built a timeline from worker slices"


def locust_cmd(tmp_path, host: str, *args: str, png_charts: str | None = "off") -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--headless", "--host", host, "-u", "5", "-r", "5",
        "--only-summary", "--report-dir", str(tmp_path / "report"), *png_option(png_charts), *FAST, *args,
    ]  # fmt: skip
