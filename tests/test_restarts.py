"""A restart drill against real parts: 2 Daphne on Redis behind nginx; one Daphne stopped with SIGTERM and started
again mid-run by the run's own `--drill`s, while 20 ChatUsers run with --ws-reconnect backoff.

The first drill is `kill -TERM PID`; the second starts Daphne again on its port in the background
(scripts/launch.py's restart_command: it returns once the new Daphne listens), and the test stops that Daphne
when the run is over. A thread of the test watches the stopped Daphne meanwhile: what it held, how soon its port
refused, whether it exited by itself (docs/restarts.md's "What Daphne does on SIGTERM").
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from chanload.reporting.summary import started_epoch
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
STOP_AT, START_AT = 8, 13  # seconds into the run: SIGTERM to Daphne 0, then Daphne 0 started again


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


def gone(pid: int) -> bool:
    """Exited: a zombie until its parent (this test, through the stack) reaps it, which keeps its PID from reuse."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Observer(threading.Thread):
    """Daphne 0 through the run, as the test sees it: the most websockets it held until they dropped (the drill's
    SIGTERM), when its port refused connections after that, and when the process was gone (wall-clock times)."""

    def __init__(self, old: launch.Proc) -> None:
        super().__init__(daemon=True)
        self.old = old
        self.facts: dict = {"held": 0}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # shown by the test
            self.error = exc

    def _run(self) -> None:
        pid, port = self.old.proc.pid, self.old.port
        deadline = time.monotonic() + 60 * UNIT
        while time.monotonic() < deadline:
            n, at = established(pid, port), time.time()
            if n == 0 and self.facts["held"] and none_held_still(pid, port):
                self.facts["dropped_at"] = at  # its members dropped: the SIGTERM
                break
            self.facts["held"] = max(self.facts["held"], n)
            time.sleep(0.02)
        while not refused(port) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.facts["refused_at"] = time.time()
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.facts["gone_at"] = time.time()


def none_held_still(pid: int, port: int) -> bool:
    """A second look 50 ms later: still none held (not a reading between a member's drop and its reconnect)."""
    time.sleep(0.05)
    return established(pid, port) == 0


def test_a_restarted_daphne_drops_its_members_they_come_back_by_backoff_and_recovery_is_measured(tmp_path):
    pidfile = tmp_path / "restarted"
    with launch.scaled(2) as stack:
        old = stack.daphnes[0]
        observer = Observer(old)
        observer.start()
        try:
            run = run_locust(
                # A message:p99 threshold is the latency's criterion: 1.5x the level before the drill may never
                # come back on a loaded machine, with every member on the other process after it.
                tmp_path, stack.host, *CHAT, "--slo", "recovery<30s", "--slo", "reconnect:p99<30s",
                "--slo", "message:p99<2s",
                "--drill", f"{STOP_AT}s kill -TERM {old.proc.pid}",
                "--drill", f"{START_AT}s {launch.restart_command(stack, 0, pidfile)}",
                run_time="24s", users=USERS, timeout=120,
            )  # fmt: skip
            observer.join(30 * UNIT)
            old_code = old.proc.wait(10 * UNIT)  # reaped here: -9 when the restart drill had to SIGKILL it
            # A second run, no server stopped, with an impossible recovery limit: the threshold's exit code.
            impossible = run_locust(
                tmp_path / "b", stack.host, *CHAT, "--slo", "recovery<0s", "--drill", "3s true",
                run_time="5s", users=3, timeout=60,
            )  # fmt: skip
        finally:
            restarted = launch.stop_pidfile(pidfile)
    # Nothing the drills started outlives the test: the Daphne the second drill started was stopped.
    assert len(restarted) == 1 and not psutil.pid_exists(restarted[0]), restarted
    assert observer.error is None, observer.error
    assert observer.facts.get("held", 0) >= 3, observer.facts
    summary = run.summary
    assert run.code == 0, run.output[-3000:]
    stopped, started = summary["drills"]
    assert (stopped["exit_code"], started["exit_code"]) == (0, 0), summary["drills"]
    assert f"daphne listening on 127.0.0.1:{old.port}" in started["output_tail"], started
    sigterm_at = started_epoch(summary) + stopped["started"]
    facts = {
        "held": observer.facts["held"],
        "members_dropped_after_s": round(observer.facts["dropped_at"] - sigterm_at, 3),
        "port_refused_after_s": round(observer.facts["refused_at"] - sigterm_at, 3),
        "gone_after_s": round(observer.facts["gone_at"] - sigterm_at, 3),
        "exited_by_itself": old_code != -9,
        "exit_code": old_code,
    }
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
    # The WS reconnect row, and the recovery: one entry per drill that ran, from when it ran.
    row = run.row("WS reconnect", "chat/[group]")
    assert row["count"] == counters["reconnects"] and row["min"] >= 200_000 * 0.99, row  # backoff's MIN: 0.2 s
    drill, _start = summary["recovery"]["drills"]
    assert (drill["at"], drill["command"]) == (stopped["started"], stopped["command"]), drill
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
    print("daphne on SIGTERM:", facts, "drops:", counters["drops"], "reconnect row:", row)


SHORT = {"--users": "10", "--time": "12", "--stop-at": "4", "--start-at": "6"}


def shortened(drill: str, report: str) -> list[str]:
    """A page's DRILL options, shorter (SHORT; a start at `none` is kept) and writing to `report`; options after
    `--` (locust's) as given."""
    words = shlex.split(drill)
    own, extra = (words[: words.index("--")], words[words.index("--") :]) if "--" in words else (words, [])
    values = {**SHORT, "--report-dir": report}
    out: list[str] = []
    words_iter = iter(own)
    for word in words_iter:
        if word not in values:
            out.append(word)
            continue
        given = next(words_iter)
        out += [word, given if (word, given) == ("--start-at", "none") else values.pop(word)]
        values.pop(word, None)
    return out + [w for option, value in values.items() for w in (option, value)] + extra


def test_make_drill_runs_and_prints_the_recovery(tmp_path):
    """Every `make drill` command docs/restarts.md shows, shorter (10 users, 12 s, the stop at 4 s, the start at 6 s
    unless `none`): the drills run and it prints drops, reconnects, recovery; watched, the handshakes beside each
    Daphne's CPU around the stop; not started again, the other Daphne takes every member."""
    recipe = re.search(r"^drill:.*\n\t(.*)\n", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(PYTHON) scripts/drill.py $(DRILL)", recipe
    page = (ROOT / "docs" / "restarts.md").read_text()
    shown = [
        line for block in re.findall(r"```sh\n(.*?)```", page, re.S) for line in block.splitlines()
        if line.startswith("make drill")
    ]  # fmt: skip
    assert len(shown) >= 4 and any("--start-at none" in line for line in shown), shown
    for n, line in enumerate(shown):
        words = shlex.split(line)
        assert words[:2] == ["make", "drill"] and all(w.startswith("DRILL=") for w in words[2:]), line
        report = tmp_path / f"run{n}"
        args = shortened(words[2].removeprefix("DRILL=") if len(words) > 2 else "", str(report))
        proc = subprocess.run(
            [sys.executable, "scripts/drill.py", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, (line, out[-3000:])
        summary = json.loads((report / "summary.json").read_text())
        restarts = "--start-at none" not in line
        assert re.search(r"^drill: SIGTERM to daphne-1 \(pid \d+\): ran at [\d.]+ s .* ok", out, re.M), out[-3000:]
        assert ("started again" in out) == restarts and len(summary["drills"]) == 1 + restarts, out[-3000:]
        assert re.search(r"^drops: \{'abnormal close 1006': \d+", out, re.M), out[-3000:]
        assert re.search(r"^recovery: .* \(users back \d+(\.\d+)? s", out, re.M), out[-3000:]
        drill = json.loads((report / "summary.json").read_text())["recovery"]["drills"][0]
        assert drill["users_back_s"] is not None, drill  # the latency's return is noisy on a loaded machine
        if "--watch" in line:  # the handshakes around the stop, and each Daphne's CPU, from the run's own files
            assert re.search(r"^handshakes after the stop \(10 s\): \d+, p99 \d+ ms, peak \d+/s;", out, re.M), out
            assert re.search(r"^t  open  handshakes/s .* cpu daphne-1  cpu daphne-2", out, re.M), out[-3000:]
            processes = summary["resources"]["processes"]
            assert all(any("cpu" in s for s in processes[name]["series"]) for name in ("daphne-1", "daphne-2"))
