"""A restart drill against real parts: 2 Daphne on Redis behind nginx; one Daphne stopped with SIGTERM and started
again mid-run, by the test itself (a thread), while 20 ChatUsers run with --ws-reconnect backoff.

Until `--drill` lands, the drill's time reaches the run through chanload.run.recovery's test hook
(CHANLOAD_DRILL_AT=@FILE: the wall-clock time the test sent SIGTERM, read when the run ends).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from scripts import launch
from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT

# timing: in the parallel tier (4 xdist workers on 2 cores, other tests running beside), a restart counted 3,401
# relays missing while connected (the likely cause, not yet confirmed: the Redis channel layer drops a group's
# messages past its capacity when consumers fall behind), and the make drill run printed no recovery: what these
# runs prove needs the machine to keep up, so they run alone, after the parallel tier.
pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.timing]

USERS = 20
CHAT = ("ChatUser", "--ws-groups", "1", "--ws-think", "0.2-0.4", "--ws-reconnect", "backoff:0.2-2")


def established(pid: int, port: int) -> int:
    """Websockets a Daphne process holds on its port (not its Redis connections)."""
    try:
        conns = psutil.Process(pid).net_connections("tcp")
    except psutil.Error:
        return 0
    return sum(c.status == "ESTABLISHED" and c.laddr.port == port for c in conns)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


class Restart(threading.Thread):
    """Once Daphne 0 holds some of the run's members and has for 3 s, SIGTERM it, then start it again on its port.

    Writes the wall-clock time of the SIGTERM to `drills` (the recovery hook) and what Daphne did: how long until
    its port refused connections, and whether the process had exited within 5 s (else it is killed: Daphne keeps
    running after SIGTERM with its sockets gone, see docs/restarts.md).
    """

    def __init__(self, stack: launch.Scaled, drills: Path) -> None:
        super().__init__(daemon=True)
        self.stack, self.drills = stack, drills
        self.facts: dict = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # shown by the test
            self.error = exc

    def _run(self) -> None:
        old = self.stack.daphnes[0]
        deadline = time.monotonic() + 40 * UNIT
        while established(old.proc.pid, old.port) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.facts["held"] = established(old.proc.pid, old.port)
        time.sleep(3.0)  # a few seconds of steady state before the drill: the pre-drill level
        at = time.time()
        old.proc.send_signal(signal.SIGTERM)
        self.drills.write_text(f"{at}\n")
        start = time.monotonic()
        while not refused(old.port) and time.monotonic() - start < 10 * UNIT:
            time.sleep(0.005)
        self.facts["port_refused_after_s"] = time.monotonic() - start
        try:
            old.proc.wait(5)
            self.facts["exited_within_5s"] = True
        except Exception:
            self.facts["exited_within_5s"] = False
            old.proc.kill()
            old.proc.wait(10)
        time.sleep(2.0)  # down for a while: reconnects meet nginx's refusal of it (or go to Daphne 1)
        new = launch.spawn_daphne(self.stack.workdir, {"REDIS_URL": self.stack.redis_url}, port=old.port)
        self.stack.daphnes[0] = new  # stopped with the stack
        self.facts["restarted_after_s"] = time.time() - at


def test_a_restarted_daphne_drops_its_members_they_come_back_by_backoff_and_recovery_is_measured(tmp_path):
    drills = tmp_path / "drills"
    os.environ["CHANLOAD_DRILL_AT"] = f"@{drills}"  # read by the locust subprocess at the end of the run
    try:
        with launch.scaled(2) as stack:
            restart = Restart(stack, drills)
            restart.start()
            run = run_locust(
                # A message:p99 threshold is the latency's criterion: 1.5x the level before the drill may never
                # come back on a loaded machine, with every member on the other process after it.
                tmp_path, stack.host, *CHAT, "--slo", "recovery<30s", "--slo", "reconnect:p99<30s",
                "--slo", "message:p99<2s",
                run_time="24s", users=USERS, timeout=120,
            )  # fmt: skip
            restart.join(30 * UNIT)
            assert restart.error is None, restart.error
            assert restart.facts.get("held", 0) >= 3, restart.facts
            # A second run, no server stopped, with an impossible recovery limit: the threshold's exit code.
            drills.write_text(f"{time.time() + 3}\n")
            impossible = run_locust(
                tmp_path / "b", stack.host, *CHAT, "--slo", "recovery<0s", run_time="5s", users=3, timeout=60
            )
    finally:
        os.environ.pop("CHANLOAD_DRILL_AT", None)
    summary = run.summary
    assert run.code == 0, run.output[-3000:]
    assert summary["parameters"]["reconnect"] == "backoff:0.2-2" and summary["parameters"]["lifetime"] is None
    counters = summary["counters"]
    # Every member that dropped is back: as many connected at the end as users, and the drops counted by cause.
    assert summary["timeline"]["connections"][-1]["open"] == USERS or counters["reconnects"] >= sum(
        counters["drops"].values()
    ), (summary["timeline"]["connections"][-3:], counters)
    assert counters["reconnects"] == sum(counters["drops"].values()) >= 3, counters
    assert set(counters["drops"]) <= {"abnormal close 1006", "reset", "timeout"}, counters["drops"]
    assert counters["drops"].get("abnormal close 1006", 0) >= 1, counters["drops"]
    assert counters["reconnect_attempts"] >= counters["reconnects"], counters
    # The WS reconnect row, and the recovery.
    row = run.row("WS reconnect", "chat/[group]")
    assert row["count"] == counters["reconnects"] and row["min"] >= 200_000 * 0.99, row  # backoff's MIN: 0.2 s
    (drill,) = summary["recovery"]["drills"]
    # not timing: the issue's own gate (recovery<30s), ten times what backoff 0.2-2 s takes on a busy machine
    assert drill["users_back_s"] is not None and 0 < drill["users_back_s"] < 30, drill  # the reconnects show it
    assert summary["recovery"]["slowest_s"] < 30, summary["recovery"]  # not timing: the same gate, the run's own
    # What members missed while away is counted apart; nothing was lost while connected.
    delivery = summary["delivery"]["total"]
    assert delivery["away"] > 0, delivery
    assert delivery["missing"] == 0, delivery  # a mark acknowledged, then never relayed by the dying Daphne: in_drop
    results = {t["expr"]: t["passed"] for t in summary["thresholds"]}
    assert results == {"recovery<30s": True, "reconnect:p99<30s": True, "message:p99<2s": True}, summary["thresholds"]
    assert drill["criterion"] == "threshold message:p99 < 2000000us", drill
    # The impossible limit: exit code 3, as every threshold.
    assert impossible.code == 3, impossible.output[-3000:]
    (verdict,) = impossible.summary["thresholds"]
    assert verdict["expr"] == "recovery<0s" and not verdict["passed"], verdict
    print("daphne on SIGTERM:", restart.facts, "drops:", counters["drops"], "reconnect row:", row)


def test_make_drill_runs_and_prints_the_recovery(tmp_path):
    """`make drill`'s recipe (docs/restarts.md), shorter: the drill runs and prints drops, reconnects, recovery."""
    recipe = re.search(r"^drill:.*\n\t(.*)\n", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(PYTHON) scripts/drill.py $(DRILL)", recipe
    for reconnect in ("now", "backoff:0.2-2"):  # the page runs both
        report = tmp_path / reconnect.replace(":", "-")
        short = ["--users", "10", "--time", "12", "--stop-at", "4", "--start-at", "6", "--report-dir", str(report)]
        proc = subprocess.run(
            [sys.executable, "scripts/drill.py", "--reconnect", reconnect, *short],
            cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert "drill: SIGTERM to daphne-1" in out and "started again" in out, out[-3000:]
        assert re.search(r"^drops: \{'abnormal close 1006': \d+", out, re.M), out[-3000:]
        assert re.search(r"^recovery: .* \(users back \d+(\.\d+)? s", out, re.M), out[-3000:]
        (drill,) = json.loads((report / "summary.json").read_text())["recovery"]["drills"]
        assert drill["users_back_s"] is not None, drill  # the latency's return is noisy on a loaded machine
