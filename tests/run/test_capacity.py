"""The capacity finder: its pure decisions (chanload/capacity.py) and a real search (loadtests/capacity.py)."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from chanload.recording.counters import Ledger
from chanload.recording.latency import Aggregate, Slice, new_histogram
from chanload.reporting.summary import build
from chanload.run import capacity, slo
from tests.locustrun import Output, run_locust
from tests.servers import ROOT, UNIT, free_port

CAPACITY = ROOT / "loadtests" / "capacity.py"


def window_summary(latencies_us: list[int], failures: int = 0, seconds: float = 5.0) -> dict:
    h = new_histogram()
    for us in latencies_us:
        h.record_value(us)
    aggregate = Aggregate()
    aggregate.add(Slice(1, ("WS message", "room/[group]"), h, failures))
    ledger = Ledger(sent=len(latencies_us) + failures, ok=len(latencies_us), failed=failures)
    result = build(
        aggregate=aggregate, ledger=ledger, rooms={}, timeline={}, parameters={}, status="running", started=0
    )
    result["duration_s"] = seconds
    return result


def test_stable_means_both_halves_agree_within_ten_percent():
    """950 vs 1000 messages is stable; 800 vs 1000 is not; an idle window is."""
    assert capacity.stable(950, 1000) and capacity.stable(0, 0)
    assert not capacity.stable(800, 1000)


def test_a_step_is_judged_on_its_own_window():
    """p95 and msg/s come from the window's samples; a threshold over the limit breaks the step."""
    thresholds = tuple(slo.parse_all(["message:p95<5ms", "fail_ratio<1%"]))
    held = capacity.judge(10, 10, 5.0, window_summary([1000] * 95 + [4000] * 5), thresholds, True)
    assert held.passed and held.messages_per_s == 20.0 and held.p95_us is not None
    assert held.p95_us < 5000  # not timing: fixed samples
    broke = capacity.judge(20, 20, 5.0, window_summary([1000] * 90 + [9000] * 10), thresholds, True)
    assert not broke.passed and [t["passed"] for t in broke.thresholds] == [False, True]
    failing = capacity.judge(30, 30, 5.0, window_summary([1000] * 98, failures=2), thresholds, True)
    assert not failing.passed and failing.fail_ratio == 0.02


def test_the_knee_is_the_last_step_before_the_first_break():
    """held, held, broke, held: the knee is the second step (a later pass after a break does not count)."""
    thresholds = tuple(slo.parse_all(["message:p95<5ms"]))
    fast, slow = window_summary([1000] * 100), window_summary([9000] * 100)
    steps = [
        capacity.judge(u, u, 5.0, s, thresholds, True) for u, s in ((10, fast), (20, fast), (30, slow), (40, fast))
    ]
    assert capacity.knee(steps).users == 20
    plan = capacity.Plan(step=10, start=10, limit=100, hold=5)
    block = capacity.block(steps[:3], thresholds, plan, "30 users broke message:p95<5ms")
    assert block["knee"]["users"] == 20 and [s["users"] for s in block["steps"]] == [10, 20, 30]
    text = capacity.render(block)
    assert "knee: 20 users, 20 sockets, 20.0 msg/s" in text and "BROKE" in text
    assert "<h2>Capacity</h2>" in capacity.html(block) and capacity.html(None) == ""


@pytest.mark.e2e
@pytest.mark.timing  # the knee is where the achieved message rate passes 125/s: the machine must keep up
def test_finder_steps_until_the_threshold_breaks_and_reports_the_knee(tmp_path, target):
    """Open model, 5 msg/s per user, rate < 125/s: 10 and 20 users hold, 30 break; knee 20 everywhere.

    Fixed arrivals: the subject is the finder, and a 3 s window of Poisson sends at 50/s strays past 15% of
    its mean about one run in fifteen (the count's deviation is sqrt(150) = 12 messages).
    """
    run = run_locust(
        tmp_path, target.ws_url, "RoomUser", "--ws-rate", "5", "--ws-arrivals", "fixed",
        "--capacity-slo", "message:rate<125", "--capacity-step", "10", "--capacity-hold", "3", "--capacity-max", "60",
        locustfile=CAPACITY, run_time="120s",
    )  # fmt: skip
    assert "Traceback" not in run.output, run.output[-3000:]
    found = run.summary["capacity"]
    assert [s["users"] for s in found["steps"]] == [10, 20, 30], found
    assert [s["passed"] for s in found["steps"]] == [True, True, False]
    assert found["knee"]["users"] == 20 and found["knee"]["sockets"] == 20
    # Each step's rate is its own window's, not the run's so far: about 5 msg/s per user.
    for step in found["steps"]:
        assert abs(step["messages_per_s"] - 5 * step["users"]) <= 0.15 * 5 * step["users"], step
    assert found["stopped_by"] == "30 users broke message:rate<125"
    assert re.search(r"knee: 20 users, 20 sockets, [\d.]+ msg/s", run.output)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>Capacity</h2>" in html and "<strong>20 users</strong>" in html


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_search_cut_short_by_a_signal_still_reports_what_it_found(tmp_path, target, sig):
    """Ctrl-C or SIGTERM after the first step held (a shape ignores -t: the search sets the run's length; and
    Locust takes SIGTERM only after a headless shape's run, which it would have killed with nothing written):
    status interrupted, exit code 4; summary.json, the table and report.html say where the search was cut, the
    knee is the last step that held, named a lower bound."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(CAPACITY), "--headless", "--host", target.ws_url, "--only-summary",
         "--report-dir", str(tmp_path / "report"), "--ws-png-charts", "off", "RoomUser", "--ws-rate", "2",
         "--capacity-slo", "message:p95<1s", "--capacity-step", "5", "--capacity-hold", "2",
         "--capacity-max", "1000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = Output(proc)
    try:
        assert output.wait_for(r"capacity step 5 users: held", 60), "".join(output.lines)[-3000:]
        # Once the next step's users are all started: a signal while Locust's spawning greenlet runs lands in it,
        # and Locust prints that greenlet's traceback (its own, for any run) before the run stops all the same.
        assert output.wait_for(r'All users spawned: \{"RoomUser": 10\}', 30), "".join(output.lines)[-3000:]
        time.sleep(1)
    finally:
        proc.send_signal(sig)
    out = output.text()
    assert proc.returncode == 4 and "Traceback" not in out, out[-3000:]  # interrupted
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    found = summary["capacity"]
    assert found["steps"] and all(s["passed"] for s in found["steps"]), found
    held = found["steps"][-1]["users"]
    assert found["knee"]["users"] == held
    assert found["stopped_by"].startswith("the run ended during the step of ")
    assert found["stopped_by"].endswith(f"before any step broke; {held} users held, a lower bound on the knee")
    assert f"stopped: {found['stopped_by']}" in out and f"knee: {held} users" in out
    assert summary["status"] == "interrupted" and summary["counters"]["reconciles"], summary["counters"]
    assert "<h2>Capacity</h2>" in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.e2e
def test_run_time_bounds_the_search(tmp_path, target):
    """-t (which Locust ignores for a shape) ends the search where it is: completed, its section saying so."""
    run = run_locust(
        tmp_path, target.ws_url, "RoomUser", "--ws-rate", "2", "--capacity-slo", "message:p95<1s",
        "--capacity-step", "5", "--capacity-hold", "2", "--capacity-max", "1000",
        locustfile=CAPACITY, run_time="12s",
    )  # fmt: skip
    assert run.code == 0 and "Traceback" not in run.output, run.output[-3000:]
    assert "-t 12s bounds the capacity search" in run.output
    found = run.summary["capacity"]
    assert found["stopped_by"].startswith("-t 12s ended the search during the step of "), found["stopped_by"]
    # Whatever a loaded machine let it judge by then: the knee is the last step that held, or none yet.
    held = [s["users"] for s in found["steps"] if s["passed"]]
    assert len(held) == len(found["steps"]), found  # nothing broke: -t ended it
    assert (found["knee"] or {}).get("users") == (held[-1] if held else None), found
    assert (f"knee: {held[-1]} users" if held else "no step was judged before the run ended") in run.output
    assert run.summary["status"] == "completed" and run.summary["counters"]["reconciles"]
    assert run.summary["duration_s"] >= 12, run.summary["duration_s"]  # -t ended it (stopped_by above), not sooner


def test_a_search_with_no_step_judged_says_so():
    """Cut short before its first window closed: no knee, and not "the first step already broke"."""
    block = capacity.block([], tuple(slo.parse_all(["message:p95<5ms"])), capacity.Plan(step=5, start=5, limit=50,
                           hold=2), "the run ended during the step of 5 users, before any step broke")  # fmt: skip
    assert "knee: none (no step was judged before the run ended)" in capacity.render(block)
    assert "No step was judged before the run ended." in capacity.html(block)


@pytest.mark.e2e
def test_finder_without_a_threshold_stops_before_any_load(tmp_path, target):
    """No --capacity-slo: exit 2 and a message that names the option; a bad --capacity-hold too."""
    run = run_locust(tmp_path, target.ws_url, "RoomUser", locustfile=CAPACITY)
    assert run.code == 2 and "--capacity-slo is required" in run.output
    bad = run_locust(tmp_path, target.ws_url, "RoomUser", "--capacity-slo", "message:p95<5ms", "--capacity-hold", "1",
                     locustfile=CAPACITY)  # fmt: skip
    assert bad.code == 2 and "--capacity-hold" in bad.output


@pytest.mark.e2e
def test_the_readme_capacity_command_runs(tmp_path, target):
    """The README's capacity command, on a free port, bounded to two short steps: it searches and reports."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*Capacity finder\.\*\*.*?```sh\n(.*?)```", readme, re.S).group(1)
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[:3] == ["locust", "-f", "loadtests/capacity.py"]
    argv[argv.index("--host") + 1] = target.ws_url
    argv[argv.index("--report-dir") + 1] = str(tmp_path / "report")
    argv = [sys.executable, "-m", *argv, "--capacity-max", "40", "--capacity-hold", "2", "--ws-png-charts", "off"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "capacity search (" in out, out[-3000:]
    found = json.loads((tmp_path / "report" / "summary.json").read_text())["capacity"]
    assert found["thresholds"] == ["message_corrected:p95<10ms", "fail_ratio<1%"]
    assert found["steps"] and found["steps"][0]["users"] == 20


@pytest.mark.e2e
@pytest.mark.timing  # the knee is where the achieved message rate passes 125/s: the machine must keep up
def test_finder_on_a_master_judges_the_workers_samples(tmp_path, target):
    """Master + 1 worker: the steps are judged on the samples the worker ships; same knee as locally."""
    port = free_port()
    common = [sys.executable, "-m", "locust", "-f", str(CAPACITY), "RoomUser"]
    master = subprocess.Popen(
        [*common, "--master", "--headless", "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--host", target.ws_url, "--only-summary", "--ws-png-charts", "off",
         "--ws-rate", "5", "--ws-arrivals", "fixed", "--capacity-slo", "message:rate<125", "--capacity-step", "10",
         "--capacity-hold", "3",
         "--capacity-max", "60", "--report-dir", str(tmp_path / "report")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out = master.communicate(timeout=180 * UNIT)[0]
        worker.communicate(timeout=30 * UNIT)
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert "Traceback" not in out, out[-3000:]
    found = json.loads((tmp_path / "report" / "summary.json").read_text())["capacity"]
    assert [s["passed"] for s in found["steps"]] == [True, True, False], found
    assert found["knee"]["users"] == 20 and found["knee"]["sockets"] == 20
    for step in found["steps"]:
        assert abs(step["messages_per_s"] - 5 * step["users"]) <= 0.15 * 5 * step["users"], step
