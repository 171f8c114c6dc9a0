"""Lost workers: the master names them, does not call the counters reconciled, and exits 7."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

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


@pytest.mark.e2e
def test_worker_killed_mid_run_is_reported_by_the_master(tmp_path):
    """Master + 2 workers against Daphne, one worker kill -9'd: exit 7, summary, JUnit and report name it."""
    port = free_port()
    run_time = f"{int(10 + 4 * UNIT)}s"
    with daphne() as server:
        master = subprocess.Popen(
            locust_cmd(tmp_path, server.ws_url, "-t", run_time, "-u", "8", "-r", "8", "--master", "--expect-workers",
                       "2", "--master-bind-port", str(port)),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
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
            # Workers report every 3 s: after one interval (and a margin), both have reported at least once.
            time.sleep(3 + 2 * UNIT)
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
