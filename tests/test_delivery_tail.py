"""Delivery's tail against a real Daphne: a Channels relay that silently drops each sender's messages after its 20th.

tests/apps/taildrop.py acknowledges every message with OK and relays only each connection's first KEEP to
the room; it counts what it relayed and what the dropped messages owed the other members (GET /counts).
tests/apps/taildrop_users.py has every member join, then send SEND messages, long before the run stops;
one member is muted (the app relays none of its messages) and starts after every other has heard one.
No receiver hears anything of a sender after its KEEP-th message, nor anything of the muted one, so only
the senders' side can show the loss: the tail. The reported numbers must be the app's, exactly: in a single
process and across workers.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT, daphne, free_port

pytestmark = pytest.mark.e2e

LOCUSTFILE = ROOT / "tests" / "apps" / "taildrop_users.py"
KEEP = 20
SEND = 50  # tests/apps/taildrop_users.py's SEND (not imported here: it imports locust)
USERS = 4
# 2 s to join, about 1.5 s to send; stopped at 10 s, a message is owed up to 1 s (the reply timeout) before.
OPTIONS = ("TailUser", "MutedUser", "--ws-expect", "OK", "--ws-reply-timeout", "1", "-r", "100")


@pytest.fixture
def taildrop():
    with daphne("tests.apps.taildrop:application", cwd=ROOT, env={**os.environ, "TAILDROP_KEEP": str(KEEP)}) as app:
        yield app


def app_counts(app) -> dict:
    with urllib.request.urlopen(f"{app.http_url}/counts", timeout=5 * UNIT) as response:
        return json.loads(response.read())


def check(summary: dict, console: str, page: str, counts: dict) -> None:
    """summary.json, the console and report.html all say what the app counted it relayed and dropped."""
    others, talkers = USERS - 1, USERS - 1  # one member is muted
    dropped = talkers * (SEND - KEEP) + SEND
    assert counts == {"relayed": talkers * KEEP, "dropped": dropped, "copies": talkers * KEEP * others,
                      "owed": dropped * others, "members": USERS}  # fmt: skip
    c = summary["counters"]
    assert c["connects"] == USERS and c["failed"] == 0 and c["sent"] == USERS * SEND, c
    expected = counts["copies"] + counts["owed"]
    room = {"expected": expected, "delivered": counts["copies"], "missing": counts["owed"], "tail": counts["owed"],
            "duplicated": 0, "reordered": 0, "away": 0, "in_drop": 0, "ratio": counts["copies"] / expected}  # fmt: skip
    assert summary["delivery"]["rooms"] == {"lobby": room}
    assert summary["delivery"]["total"] == room
    [judged] = summary["thresholds"]
    assert judged["expr"] == "delivery_ratio>=99.99%" and not judged["passed"]
    assert judged["value"] == pytest.approx(counts["copies"] / expected)
    ratio = f"{counts['copies'] / expected * 100:.4f}%"
    line = (
        f"broadcast delivery: {ratio} (promise >= 99.99%), delivered {counts['copies']} of {expected}, missing "
        f"{counts['owed']} (tail {counts['owed']}), duplicated 0, reordered 0 in 1 room"
    )
    assert line in console, console[-3000:]
    rows = re.findall(r'<table class="rooms">.*?<tbody>(.*?)</tbody>', page, re.S)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", rows[0])
    assert [html.unescape(c) for c in cells] == [
        "lobby", f"{expected:,}", f"{counts['copies']:,}", f"{counts['owed']:,}", "0", f"{counts['owed']:,}", "0", "0",
        ratio,
    ]  # fmt: skip


def test_a_tail_dropped_by_the_app_is_missing_from_the_ratio(tmp_path, taildrop):
    """One process: each member heard each sender up to its 20th message and nothing of the muted one: the tail."""
    run = run_locust(tmp_path, taildrop.ws_url, *OPTIONS, "--slo", "delivery_ratio>=99.99%", users=USERS,
                     run_time="10s", locustfile=LOCUSTFILE)  # fmt: skip
    assert run.code == 3, run.output[-3000:]  # the threshold failed, nothing else
    page = (run.report_dir / "report.html").read_text()
    check(run.summary, run.output, page, app_counts(taildrop))


def test_the_tail_is_joined_on_the_master_across_workers(tmp_path, taildrop):
    """A master and two workers: senders and receivers in different processes, the same exact numbers."""
    port = free_port()
    report = tmp_path / "report"
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *OPTIONS]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    master = subprocess.Popen(
        [*base, "--master", "--headless", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--host", taildrop.ws_url, "-u", str(USERS), "-t", "10s",
         "--only-summary", "--ws-png-charts", "off", "--report-dir", str(report),
         "--slo", "delivery_ratio>=99.99%"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        out = master.communicate(timeout=90 * UNIT)[0]
        outs = [w.communicate(timeout=30 * UNIT)[0] for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert master.returncode == 3, out[-3000:]
    assert not any("Traceback" in o for o in (out, *outs)), out[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    check(summary, out, (report / "report.html").read_text(), app_counts(taildrop))


def test_a_relay_that_delivers_nothing_behind_its_acknowledgements_is_a_ratio_of_zero(tmp_path):
    """TAILDROP_KEEP=0: every message acknowledged OK, none relayed, not even to its sender. No receiver hears a
    mark, so only the senders' side can count: each member is owed what the others sent after its own first
    message (what they sent in the same 250 ms, or before, is owed to nobody), and the ratio is 0, not absent."""
    env = {**os.environ, "TAILDROP_KEEP": "0"}
    with daphne("tests.apps.taildrop:application", cwd=ROOT, env=env) as app:
        run = run_locust(tmp_path, app.ws_url, "TailUser", *OPTIONS[2:], "--slo", "delivery_ratio>=99.99%",
                         users=USERS, run_time="6s", locustfile=LOCUSTFILE)  # fmt: skip
        counts = app_counts(app)
    assert run.code == 3, run.output[-3000:]  # the threshold failed, nothing else
    assert counts["relayed"] == 0 and counts["owed"] == USERS * SEND * (USERS - 1), counts
    c = run.summary["counters"]
    assert c["failed"] == 0 and c["sent"] == USERS * SEND, c
    total = run.summary["delivery"]["total"]
    assert total["delivered"] == 0 and total["ratio"] == 0.0, total
    # Each pair loses at most the messages sent in the 250 ms bucket of the receiver's first send (~13 at 20 ms).
    assert counts["owed"] - USERS * (USERS - 1) * 15 <= total["missing"] == total["tail"] <= counts["owed"], total
    assert "broadcast delivery: 0.0000% (promise >= 99.99%), delivered 0 of" in run.output, run.output[-3000:]
