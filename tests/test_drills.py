"""--drill against the reference target under Daphne: commands run at their time, by the master only, reported.

Each drill's command writes `$PPID` (the process that ran its shell: the locust process) to a marker file, so a
test can tell which process ran it and how many times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from scripts import launch
from tests.locustrun import live_locust, run_locust
from tests.servers import ROOT, UNIT, daphne, free_port, stop

pytestmark = pytest.mark.e2e


def test_drills_run_at_their_time_and_what_each_did_is_reported(tmp_path, target):
    """One that succeeds (its output's tail kept), one that fails, one stopped at --drill-timeout, one after the end:
    each in summary.json, the console and report.html; the run goes on and exits 0."""
    marker = tmp_path / "ran"
    run = run_locust(
        tmp_path,
        target.ws_url,
        "--drill", f"1s echo $PPID >> {marker}; seq 1 2000; echo drill-says-hello",
        "--drill", "2s echo about to fail >&2; exit 3",
        "--drill", "2s sleep 30",
        "--drill", "1m echo never",
        "--drill-timeout", "2",
        run_time="6s",
        users=2,
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    summary = run.summary
    ok, failed, slept, never = summary["drills"]
    assert (ok["at"], ok["exit_code"], ok["outcome"]) == (1.0, 0, "ok")
    assert ok["output_tail"].endswith("1999\n2000\ndrill-says-hello\n") and len(ok["output_tail"]) == 2048
    assert "\n1\n" not in ok["output_tail"]  # only the tail
    assert len(marker.read_text().split()) == 1  # once (the next test checks whose pid it is)
    assert (failed["exit_code"], failed["outcome"], failed["output_tail"]) == (3, "failed", "about to fail\n")
    assert slept["outcome"] == "timed out" and slept["exit_code"] is not None and slept["exit_code"] < 0
    assert never == {
        "at": 60.0, "command": "echo never", "started": None, "seconds": None, "exit_code": None,
        "output_tail": "", "outcome": "not run",
    }  # fmt: skip
    for d in (ok, failed, slept):
        assert d["started"] >= d["at"], d  # never before its time
    assert slept["seconds"] >= 2.0
    # The run went on after the failing drill: round trips in the seconds after it.
    t0 = min(p["second"] for p in summary["timeline"]["latency"])
    after = [p for p in summary["timeline"]["latency"] if p["kind"] == "WS message" and p["second"] - t0 > 3]
    assert sum(p["count"] for p in after) > 0, summary["timeline"]["latency"]
    assert "drill at 2s: ran at" in run.output and "failed (exit code 3): echo about to fail" in run.output
    assert "drill at 60s: not run (the run ended first): echo never" in run.output
    html = (run.report_dir / "report.html").read_text()
    assert "<h2>Drills</h2>" in html and "drill-says-hello" in html and "timed out" in html
    # The recovery from each drill that ran (not from the one the run ended before), in summary.json and report.html.
    recovered = summary["recovery"]["drills"]
    assert [(d["at"], d["command"]) for d in recovered] == [(d["started"], d["command"]) for d in (ok, failed, slept)]
    assert "<h2>Recovery</h2>" in html and html.index("<h2>Drills</h2>") < html.index("<h2>Recovery</h2>")


def test_with_reconnect_off_the_users_a_drill_dropped_stay_down_and_are_counted(tmp_path):
    """--ws-reconnect off end to end: a drill SIGTERMs a Daphne of the test's own (not the shared target); every user
    on it dropped, stays down and is counted (`stayed_down`), none tries to connect again, and the run exits 1: Locust's
    own code for failed messages, no threshold given (docs/restarts.md, docs/thresholds-ci.md)."""
    with daphne() as server:
        run = run_locust(
            tmp_path, server.ws_url, "RoomUser", "--ws-think", "0.2-0.4", "--ws-reconnect", "off",
            "--drill", f"2s kill -TERM {server.proc.pid}", run_time="6s", users=4,
        )  # fmt: skip
    summary = run.summary
    c = summary["counters"]
    assert (run.code, summary["exit_code"], summary["status"]) == (1, 1, "completed"), run.output[-3000:]
    assert summary["parameters"]["reconnect"] == "off"
    (drill,) = summary["drills"]
    assert drill["exit_code"] == 0, drill
    assert c["stayed_down"] == 4 and sum(c["drops"].values()) == 4, c  # each user once: it never came back
    assert set(c["drops"]) <= {"abnormal close 1006", "reset"}, c["drops"]
    assert (c["connects"], c["connect_failures"], c["reconnects"], c["reconnect_attempts"]) == (4, 0, 0, 0), c
    assert not c["attempts_failed"] and c["failed"] >= 4, c  # each drop failed the message it met
    assert not any(r["type"] == "WS reconnect" for r in summary["latency"]), summary["latency"]
    assert c["ok"] > 0 and summary["timeline"]["connections"][-1]["open"] == 0, summary["timeline"]["connections"]
    assert "4 stayed down" in run.output, run.output[-3000:]


def test_the_drill_marker_names_the_locust_process(tmp_path, target):
    """$PPID in a drill's shell is the process that ran it: here the standalone locust, once."""
    marker = tmp_path / "ran"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ws.py"), "--headless", "--host",
        target.ws_url, "-u", "1", "-r", "1", "-t", "3s", "--only-summary", "--ws-png-charts", "off",
        "--drill", f"1s echo $PPID >> {marker}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.communicate(timeout=60 * UNIT)[0]
    assert proc.returncode == 0, out[-3000:]
    assert marker.read_text().split() == [str(proc.pid)]


@pytest.mark.parametrize(
    ("drill", "message"),
    [
        ("soon echo hi", "--drill 'soon echo hi': 'soon' is not a time into the run"),
        ("20s", "--drill '20s': no command after the time"),
        ("-5s echo hi", "--drill '-5s echo hi': '-5s' is not a time into the run"),
    ],
)
def test_a_wrong_drill_exits_2_before_any_load(tmp_path, target, drill, message):
    run = run_locust(tmp_path, target.ws_url, "--drill", drill, run_time="30s", users=1)
    assert run.code == 2, run.output[-2000:]
    assert f"chanload: error: {message}" in run.output
    assert not (run.report_dir / "summary.json").exists()


def test_a_distributed_runs_drills_once_in_the_master_never_in_a_worker(tmp_path, target):
    """Master + 2 workers, one of them given a drill of its own: the master's drill runs once, in the master; no
    worker runs one (the master does not ship it, a worker's own is ignored with a warning)."""
    marker = tmp_path / "ran"
    port = free_port()
    locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ws.py")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHANLOAD_DRILL_ROLE": "master"}
    master = subprocess.Popen(
        [*locust, "--master", "--headless", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--host", target.ws_url, "-u", "4", "-r", "4", "-t", "4s", "--only-summary",
         "--ws-png-charts", "off", "--report-dir", str(tmp_path / "report"),
         "--drill", f'1s echo "$CHANLOAD_DRILL_ROLE $PPID" >> {marker}'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *own],
            cwd=ROOT,
            env={**env, "CHANLOAD_DRILL_ROLE": "worker"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for own in ([], ["--drill", f'1s echo "worker-own $PPID" >> {marker}'])
    ]
    try:
        out = master.communicate(timeout=90 * UNIT)[0]
        outputs = [w.communicate(timeout=30 * UNIT)[0] for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                stop(p)
    assert master.returncode == 0, out[-3000:]
    assert marker.read_text().splitlines() == [f"master {master.pid}"], marker.read_text()
    assert "this worker ignores its 1 drill(s)" in outputs[1], outputs[1][-2000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    (drill,) = summary["drills"]
    assert drill["exit_code"] == 0 and drill["started"] >= 1.0
    assert not any("Traceback" in o for o in (out, *outputs)), "\n".join(o[-2000:] for o in (out, *outputs))


def swarm(web_url: str, form: dict) -> dict:
    """POST the web UI's start form (/swarm) as the browser sends it; Locust's (or chanload's) JSON answer."""
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(f"{web_url}/swarm", data=data, timeout=10 * UNIT) as resp:
        return json.load(resp)


def test_the_web_forms_drill_is_refused_and_the_command_lines_runs(tmp_path, target):
    """A real locust with its web UI: a start form naming a drill is refused and starts nothing; a form without one
    starts the run, and the command line's drill runs in it."""
    marker = tmp_path / "ran"
    with live_locust(tmp_path, "--host", target.ws_url, "--drill", f"1s echo cli $PPID >> {marker}") as locust:
        form = {"user_count": "2", "spawn_rate": "2", "host": target.ws_url, "run_time": "3s"}
        answer = swarm(locust.web_url, {**form, "drill": f"0s echo form $PPID >> {marker}"})
        assert answer["success"] is False and answer["message"].startswith("--drill runs commands"), answer
        with urllib.request.urlopen(f"{locust.web_url}/stats/requests", timeout=5 * UNIT) as resp:
            assert json.load(resp)["state"] == "ready"
        assert not marker.exists()
        assert swarm(locust.web_url, form)["success"]
        assert _wait_for_file(locust.report_dir / "summary.json", 60 * UNIT), locust.output()[-3000:]
        (drill,) = locust.summary()["drills"]
        # The tab (its JSON endpoint, what the page polls) shows the recovery from it once the run is over.
        with urllib.request.urlopen(f"{locust.web_url}/stats/requests", timeout=5 * UNIT) as resp:
            (tab,) = json.load(resp)["extended_stats"]
        recovery = [r for r in tab["data"] if r["section"] == "recovery"]
    assert drill["exit_code"] == 0 and drill["command"].startswith("echo cli"), drill
    assert recovery[0]["item"] == f"drill 1, ran at {drill['started']:g} s: {drill['command']}", recovery
    assert recovery[0]["value"].startswith("recovery ") and recovery[-1]["item"] == "missed while away (whole run)"
    assert marker.read_text().split() == ["cli", str(locust.proc.pid)]
    assert "Traceback" not in locust.output(), locust.output()[-3000:]


def _wait_for_file(path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.2)
    return False


def test_a_daphne_a_restart_drill_starts_dies_with_its_owner(tmp_path):
    """scripts/launch.py daphne --die-with OWNER (what a restart drill runs): it returns once Daphne listens, and
    Daphne outlives the command but not OWNER, even one killed with SIGKILL (no teardown of its runs); the watchdog
    ends with it."""
    import psutil

    owner = subprocess.Popen(["sleep", "120"])
    pidfile = tmp_path / "pids"
    try:
        done = subprocess.run(
            [sys.executable, "scripts/launch.py", "daphne", "--port", "0", "--workdir", str(tmp_path), "--pidfile",
             str(pidfile), "--die-with", str(owner.pid)],
            cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT,
        )  # fmt: skip
        assert done.returncode == 0 and done.stdout.startswith("daphne listening on 127.0.0.1:"), done
        pid = int(pidfile.read_text().split()[0])
        daphne_proc = psutil.Process(pid)
        mine = ["watchdog", str(owner.pid), str(pid)]
        watchdogs = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[2:] == mine]
        assert daphne_proc.is_running() and len(watchdogs) == 1, watchdogs
        owner.kill()
        owner.wait()
        gone, alive = psutil.wait_procs([daphne_proc, *watchdogs], timeout=15 * UNIT)
        assert not alive, alive
    finally:
        stop(owner)
        launch.stop_pidfile(pidfile)
