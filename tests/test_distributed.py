"""A Locust master with two worker processes, headless: the merged results are the sum of the workers'.

Each process runs tests/apps/counted.py (loadtests/ws.py plus a witness that counts the request
events the process fires, and writes them with its chanload counters when it quits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from chanload.recording import hlog
from chanload.recording.delivery import merge_rooms
from chanload.recording.latency import new_histogram
from tests.servers import ROOT, UNIT, free_port

pytestmark = pytest.mark.e2e

LOCUSTFILE = "tests/apps/counted.py"
CLASSES = ("RoomUser", "ChatUser")
THRESHOLDS = ("message@room/[group]:count>=1", "delivery:count>=1", "fail_ratio<1%")


def locust(*args: str, classes: tuple[str, ...] = CLASSES) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *classes, *args]


def distributed(tmp_path, host: str, workers: int, *args: str, classes: tuple[str, ...] = CLASSES) -> list[dict]:
    """Run a headless master with `workers` worker processes; return each worker's own record."""
    counts = tmp_path / "counts"
    counts.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHANLOAD_TEST_COUNT_DIR": str(counts)}
    port = free_port()
    master = subprocess.Popen(
        locust("--master", "--headless", "--expect-workers", str(workers), "--master-bind-host", "127.0.0.1",
               "--master-bind-port", str(port), "--host", host, "--only-summary", "--ws-png-charts", "off",
               "--report-dir", str(tmp_path / "report"), "--json-file", str(tmp_path / "stats"), *args,
               classes=classes),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    procs = [
        subprocess.Popen(
            locust("--worker", "--master-host", "127.0.0.1", "--master-port", str(port), classes=classes),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(workers)
    ]
    try:
        out = master.communicate(timeout=90 * UNIT)[0]
        outputs = [out] + [w.communicate(timeout=30 * UNIT)[0] for w in procs]
    finally:
        for p in (master, *procs):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert master.returncode == 0, out[-3000:]
    assert not any("Traceback" in o for o in outputs), "\n".join(o[-2000:] for o in outputs)
    files = sorted(counts.glob("worker-*.json"))
    assert len(files) == workers, files
    return [json.loads(f.read_text()) for f in files]


def added(records: list[dict], field: str) -> Counter:
    total: Counter = Counter()
    for record in records:
        total.update({k: v for k, v in record[field].items() if isinstance(v, int)})
    return total


def test_merged_results_equal_the_sum_of_what_each_worker_recorded(tmp_path, target):
    """Locust's stats, chanload's histograms, counters and delivery on the master = the workers' own, summed."""
    report = tmp_path / "report"
    slo = [arg for expr in THRESHOLDS for arg in ("--slo", expr)]
    mine = distributed(
        tmp_path,
        target.ws_url,
        2,
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        "5s",
        "--ws-groups",
        "2",
        "--ws-think",
        "0.05-0.15",
        *slo,
    )
    summary = json.loads((report / "summary.json").read_text())

    # chanload's merged HDR histograms: each row's count and failures are the workers' events, summed.
    ok, failed = added(mine, "ok"), added(mine, "failed")
    rows = {f"{r['type']}|{r['name']}": r for r in summary["latency"]}
    assert set(rows) == set(ok) | set(failed)
    for key, row in rows.items():
        assert (row["count"], row["failures"]) == (ok[key], failed[key]), key
    assert all(sum(w["ok"].values()) > 0 for w in mine), "both workers ran users"
    assert ok["WS message|room/[group]"] > 50 and ok["WS delivery|chat/[group]"] > 50, ok

    # latency.hlog: HdrHistogram's own log reader reads one interval per second and tag, merged across the
    # workers; per tag they add up to the summary's row, and each row's histogram (`hdr`) is its total.
    reader = HistogramLogReader(str(report / "latency.hlog"), new_histogram())
    logged: dict[str, int] = {}
    stamps: dict[str, list[float]] = {}
    while (h := reader.get_next_interval_histogram()) is not None:
        logged[h.get_tag()] = logged.get(h.get_tag(), 0) + h.get_total_count()
        stamps.setdefault(h.get_tag(), []).append(h.get_start_time_stamp())
    assert logged == {hlog.tag(r["metric"], r["name"]): r["count"] for r in rows.values() if r["count"]}
    assert all(len(s) == len(set(s)) for s in stamps.values()), stamps  # merged: one interval per second and tag
    for row in rows.values():
        assert HdrHistogram.decode(row["hdr"]).get_total_count() == row["count"]

    # Locust's own merged stats (--json-file) agree.
    stats = {f"{e['method']}|{e['name']}": e for e in json.loads((tmp_path / "stats.json").read_text())}
    for key in rows:
        assert stats[key]["num_requests"] == ok[key] + failed[key], key
        assert stats[key]["num_failures"] == failed[key], key

    # Counters and broadcast delivery: the master's are the workers' snapshots, summed.
    ledgers = added(mine, "ledger")
    for field in ("sent", "ok", "failed", "in_flight", "connects", "connect_failures"):
        assert summary["counters"][field] == ledgers[field], field
    assert summary["counters"]["reconciles"] is True
    # Delivery: each worker's receivers' counts, summed, plus the tail the master joins from all their books.
    delivered = Counter()
    for room in merge_rooms([w["delivery"] for w in mine]).values():
        delivered.update(vars(room))
    total = summary["delivery"]["total"]
    assert {k: total[k] for k in delivered} == dict(delivered)
    seen = Counter()
    for w in mine:
        for room in w["delivery"]["rooms"].values():
            seen.update(room)
    assert total["delivered"] == seen["delivered"] and total["expected"] == seen["expected"] + total["tail"]

    # Each load process's CPU second by second: the master's own, and each worker's, shipped with its reports.
    generator = summary["resources"]["generator"]
    assert "master" in generator and len(generator) == 3, sorted(generator)
    assert all(len(g["series"]) >= 3 for g in generator.values()), generator
    peak = max(g["peak"]["cpu"] for g in generator.values())
    assert abs(summary["fingerprint"]["generator_peak_cpu"] - peak) < 1e-3, (summary["fingerprint"], peak)

    # Thresholds are judged on the merged data, and the artifacts carry the merged values.
    judged = {t["expr"]: t for t in summary["thresholds"]}
    assert judged["message@room/[group]:count>=1"]["value"] == ok["WS message|room/[group]"]
    assert judged["delivery:count>=1"]["value"] == ok["WS delivery|chat/[group]"]
    assert all(t["passed"] for t in judged.values()) and summary["exit_code"] == 0
    cases = {c.get("name"): c for c in ET.parse(report / "junit.xml").getroot().iter("testcase")}
    for expr, t in judged.items():
        assert cases[expr].findtext("system-out") == t["detail"]
    html = (report / "report.html").read_text()
    merged = ok["WS message|room/[group]"]
    assert f'<code>message@room/[group]:count&gt;=1</code></td><td class="num">{merged}</td>' in html


def test_a_worker_slow_to_stop_still_has_its_last_messages_counted(tmp_path, target):
    """Users that take 1.5 s to stop (Locust's master waits 0.5 s): their last round trips still reach the master."""
    mine = distributed(tmp_path, target.ws_url, 1, "-u", "2", "-r", "2", "-t", "3s", classes=("SlowToStopUser",))
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    row = next(r for r in summary["latency"] if r["type"] == "WS message")
    assert row["count"] == mine[0]["ok"]["WS message|room/[group]"]
    assert summary["counters"]["sent"] == mine[0]["ledger"]["sent"]
    stats = {e["method"]: e for e in json.loads((tmp_path / "stats.json").read_text())}
    assert stats["WS message"]["num_requests"] == row["count"]
