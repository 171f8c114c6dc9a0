"""Lost workers: the master names them, does not call the counters reconciled, and exits 7."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chanload.recording.workers import Roll, describe
from tests.locust.test_plugin import locust_cmd
from tests.locustrun import SPAWNED
from tests.servers import ROOT, UNIT, daphne, free_port


def test_roll_names_workers_without_a_final_report():
    """Joined and never reported, or reported but not finally: lost; a final report clears a worker."""
    roll = Roll()
    roll.joined(["a", "b", "c"])
    roll.reported("a", 1_700_000_000.25, final=False)
    roll.reported("a", 1_700_000_003.5, final=True)
    roll.reported("b", 1_700_000_001.0, final=False)
    lost = roll.lost(missing=["d"])
    assert lost == [
        {"worker": "b", "last_report": "2023-11-14T22:13:21.000Z"},
        {"worker": "c", "last_report": None},
        {"worker": "d", "last_report": None},
    ]
    text = describe(lost[:2])
    assert "worker b lost after its last report at 2023-11-14T22:13:21.000Z" in text
    assert "worker c lost before its first report" in text and "not reconciled" in text


def master_locustfile(tmp_path) -> Path:
    """loadtests/ws.py's users, and a line on stdout for each worker report the master receives."""
    path = tmp_path / "master_ws.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'loadtests')!r})\n"
        "from locust import events\n"
        "from ws import AsyncRoomUser, ChatUser, IdleUser, RoomUser  # noqa: F401\n"
        "@events.worker_report.add_listener\n"
        "def _seen(client_id, data, **_kw):\n"
        "    print(f'REPORT FROM {client_id}', flush=True)\n"
    )
    return path


def reported_since_spawned(lines: list[str]) -> set[str]:
    """The workers whose report reached the master after all users were spawned (the run had started)."""
    text = "".join(lines)
    start = re.search(SPAWNED, text)
    return set(re.findall(r"^REPORT FROM (\S+)$", text[start.end() :], re.M)) if start else set()


@pytest.mark.e2e
def test_worker_killed_mid_run_is_reported_by_the_master(tmp_path):
    """Master + 2 workers against Daphne, one worker kill -9'd: exit 7, summary, JUnit and report name it."""
    port = free_port()
    run_time = f"{int(10 + 4 * UNIT)}s"
    cmd = locust_cmd(tmp_path, "", "-t", run_time, "-u", "8", "-r", "8", "--master", "--expect-workers", "2",
                     "--master-bind-port", str(port))  # fmt: skip
    cmd[cmd.index("-f") + 1] = str(master_locustfile(tmp_path))  # says when a worker's report arrives
    with daphne() as server:
        cmd[cmd.index("--host") + 1] = server.ws_url
        master = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        spawned = threading.Event()

        def read():
            for line in master.stdout:
                lines.append(line)
                if re.search(SPAWNED, line):
                    spawned.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--worker", "--master-port", str(port)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(2)
        ]
        try:
            assert spawned.wait(60 * UNIT), "".join(lines)[-3000:]
            # Workers report every 3 s: once both have, one dies (a loaded machine may take longer than 3 s).
            deadline = time.monotonic() + 60 * UNIT
            while len(reported_since_spawned(lines)) < 2:
                assert time.monotonic() < deadline and master.poll() is None, "".join(lines)[-3000:]
                time.sleep(0.1)
            workers[0].kill()  # dies without a word
            master.wait(timeout=90 * UNIT)
            reader.join(timeout=10 * UNIT)
            workers[1].wait(timeout=30 * UNIT)
        finally:
            for p in (master, *workers):
                if p.poll() is None:
                    p.kill()
                    p.wait()
    out = "".join(lines)
    assert master.returncode == 7, out[-3000:]
    report = tmp_path / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["status"] == "worker_lost" and summary["exit_code"] == 7
    assert len(summary["workers_lost"]) == 1 and summary["workers_lost"][0]["last_report"]
    lost = summary["workers_lost"][0]
    assert summary["counters"]["reconciles"] is False
    assert (
        f"worker {lost['worker']} lost after its last report at {lost['last_report']}"
        in (summary["counters"]["not_reconciled"])
    )
    assert "counters NOT reconciled" in out and "chanload exit code: 7 (worker_lost)" in out
    run_case = next(
        c for c in ET.parse(report / "junit.xml").getroot().iter("testcase") if c.get("name") == "run completed"
    )
    assert lost["worker"] in run_case.find("failure").get("message")
    assert "Worker lost" in (report / "report.html").read_text()
