"""The WebSockets tab: its rows (unit), and in a real headless Chromium, standalone and master + 2 workers."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chanload.formatting import format_us
from chanload.locust.webui import COLUMNS, default_report_dir, rows
from chanload.recording.resources import Resources
from chanload.run.live import View
from tests.locustrun import live_locust
from tests.servers import ROOT, UNIT, free_port, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
FAST = ("--ws-think", "0.01-0.03")


def latency_row(kind: str, name: str = "room/[group]", p50: int = 450) -> dict:
    return {"type": kind, "name": name, "count": 10, "failures": 1, "p50": p50, "p90": 900, "p99": 2100,
            "p99_9": 4000, "max": 12_345}  # fmt: skip


def counters(**kw) -> dict:
    base = {"sent": 12, "ok": 10, "failed": 1, "in_flight": 0, "connects": 2, "connect_failures": 0}
    return {**base, "failure_kinds": {"reply timeout": 1}, **kw}


def test_corrected_row_sits_beside_its_round_trip():
    """'WS message corrected' follows 'WS message' of the same name; latencies in us or ms."""
    summary = {
        "status": "running",
        "latency": [latency_row("WS connect"), latency_row("WS message corrected"), latency_row("WS message", p50=812)],
        "counters": counters(),
    }
    out = rows(View(summary, 2, 2, []), {("WS message", "room/[group]"): 120.04})
    latency = [r for r in out if r["section"] == "latency"]
    assert [r["item"] for r in latency] == [
        "WS connect room/[group]", "WS message room/[group]", "WS message corrected room/[group]",
    ]  # fmt: skip
    assert latency[1]["p50"] == "812 us" and latency[1]["max"] == "12.345 ms" and latency[1]["rate"] == "120.0"
    assert latency[0]["rate"] == "-"
    assert set().union(*out) <= {key for key, _ in COLUMNS}


def test_resources_show_the_latest_second_of_each_watched_thing():
    """Each watched process (or its exit), Redis and its channel layer, and each load process's CPU, busy marked."""
    book = Resources()
    book.declare("processes", "daphne", {"pid": 41, "cores": 2, "fd_limit": 1024})
    book.add("processes", "daphne", {"second": 9, "cpu": 0.5, "cpu_of_cores": 0.25, "rss_bytes": 3 * 2**20,
                                     "fds": 30, "threads": 4, "tcp_established": 12})  # fmt: skip
    book.declare("processes", "gone", {"pid": 42, "cores": 2, "fd_limit": 1024})
    book.add("processes", "gone", {"second": 9, "exited": True})
    book.declare("redis", "redis", {"url": "redis://127.0.0.1:6379/0", "prefix": "asgi", "capacity": 100})
    book.add("redis", "redis", {"second": 9, "available": True, "ops_per_second": 812.0, "used_memory_bytes": 2**21,
                                "connected_clients": 5, "cpu": 0.12, "queued_total": 9, "queues": 2, "queued_max": 7,
                                "groups": 3, "group_members_max": 4})  # fmt: skip
    book.generator("local", 9, 0.95)
    summary = {"status": "running", "latency": [], "counters": counters(), "resources": book.to_dict(series=False)}
    shown = {r["item"]: r for r in rows(View(summary, 2, 2, []), {}) if r["section"] == "resources"}
    assert shown["process daphne (pid 41)"]["value"] == (
        "CPU 50% of a core (25% of 2), RSS 3.0 MiB, fds 30 of 1024, threads 4, TCP established 12"
    )
    assert shown["process gone (pid 42)"]["value"] == "exited (second 9)"
    assert shown["redis redis://127.0.0.1:6379/0"]["value"] == (
        "812 ops/s, used memory 2.0 MiB, clients 5, CPU 12% of a core"
    )
    assert shown["channel layer 'asgi'"]["value"] == (
        "9 queued in 2 queues; fullest 7 of capacity 100; 3 groups, largest 4 members"
    )
    assert shown["generator local"]["value"] == "CPU 95% of a core (peak 95%)"
    assert shown["generator local"]["result"] == "BUSY"
    book.add("redis", "redis", {"second": 10, "available": False, "error": "Timeout reading from socket"})
    summary["resources"] = book.to_dict(series=False)
    redis = next(r for r in rows(View(summary, 2, 2, []), {}) if r["item"].startswith("redis"))
    assert redis["value"] == "unavailable: Timeout reading from socket"


def test_messages_in_flight_while_running_and_reconciled_at_the_end():
    """While running, unanswered messages show as in flight now; at the end the ledger must reconcile."""
    running = rows(View({"status": "running", "latency": [], "counters": counters()}, 2, 2, []), {})
    tally = next(r for r in running if r["section"] == "messages")["value"]
    assert tally == "12 = 10 + 1 + 1 in flight now"
    done = {"status": "completed", "latency": [], "counters": counters(in_flight=1)}
    assert "(reconciles)" in next(r for r in rows(View(done, 0, 0, []), {}) if r["section"] == "messages")["value"]
    broken = {"status": "completed", "latency": [], "counters": counters(in_flight=0)}
    assert (
        "DOES NOT RECONCILE" in next(r for r in rows(View(broken, 0, 0, []), {}) if r["section"] == "messages")["value"]
    )


def test_failures_delivery_and_thresholds_have_rows():
    """Failure classes, per-room delivery and each threshold's verdict appear."""
    total = {"expected": 10, "delivered": 9, "missing": 1, "duplicated": 0, "reordered": 2, "ratio": 0.9}
    summary = {
        "status": "running",
        "latency": [],
        "counters": counters(),
        "delivery": {"total": total, "rooms": {"r1": total}},
    }
    thresholds = [{"expr": "message:p99<1ms", "passed": False, "detail": "measured 2.1 ms, limit < 1 ms"}]
    out = rows(View(summary, 2, 1, thresholds), {})
    assert {"section": "failures", "item": "reply timeout", "count": 1} in out
    room = next(r for r in out if r["item"] == "room r1")
    assert room["value"].startswith("90.0000% of 10 expected; missing 1")
    assert next(r for r in out if r["section"] == "threshold")["result"] == "FAIL"
    assert next(r for r in out if r["item"] == "open now")["value"] == 1


def test_recovery_has_rows_once_the_run_is_over():
    """summary.json's recovery block: a row per drill that ran (recovery, users and latency back, the criterion, the
    failed messages), the slowest, and the marks missed while away; none without the block (a run still going)."""
    block = {
        "drills": [
            {"at": 10.004, "command": "kill -TERM 4321", "users_before": 100, "users_lowest": 49, "users_back_s": 3.2,
             "latency_back_s": 6.2, "recovery_s": 6.2, "criterion": "1.5x pre-drill p99 (47000us)",
             "failed_messages": 51},
            {"at": 15.002, "command": "./start.sh", "users_before": 100, "users_back_s": 0.0, "latency_back_s": None,
             "recovery_s": None, "criterion": "threshold message:p99 < 2000000us", "failed_messages": 0},
        ],
        "slowest_s": None,
        "missed_while_away": 224,
    }  # fmt: skip
    done = {"status": "completed", "latency": [], "counters": counters(), "recovery": block}
    shown = [r for r in rows(View(done, 0, 0, []), {}) if r["section"] == "recovery"]
    assert shown == [
        {"section": "recovery", "item": "drill 1, ran at 10.004 s: kill -TERM 4321", "fail": 51,
         "value": "recovery 6.2 s (users 3.2 s: 100 before, lowest 49; latency 6.2 s by 1.5x pre-drill p99"
                  " (47000us))"},
        {"section": "recovery", "item": "drill 2, ran at 15.002 s: ./start.sh", "fail": 0,
         "value": "recovery not back (users 0 s: 100 before; latency not back by threshold message:p99 <"
                  " 2000000us)"},
        {"section": "recovery", "item": "slowest", "value": "not back"},
        {"section": "recovery", "item": "missed while away (whole run)", "count": 224},
    ]  # fmt: skip
    assert set().union(*shown) <= {key for key, _ in COLUMNS}
    running = {"status": "running", "latency": [], "counters": counters()}
    assert not [r for r in rows(View(running, 2, 2, []), {}) if r["section"] == "recovery"]


def test_default_report_dir_is_one_folder_per_run():
    """Web-UI runs without --report-dir write under reports/webui/, one folder per start time."""
    assert default_report_dir(0) == "reports/webui/19700101-000000"


# --- A real browser ---------------------------------------------------------------------------------------

READ_TABLE = """() => {
    const table = document.querySelector('table');
    if (!table) return null;
    const heads = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
    return [...table.querySelectorAll('tbody tr')].map(tr =>
        Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [heads[i], td.innerText.trim()])));
}"""


def read_tab(page) -> list[dict]:
    """The WebSockets table as the browser shows it: one dict per row, keyed by column title."""
    return page.evaluate(READ_TABLE) or []


def message_row(table: list[dict]) -> dict | None:
    return next((r for r in table if r.get("What") == "WS message room/[group]"), None)


def wait_for(condition, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout * UNIT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(step)


def watch_a_run_in_the_browser(locust, tmp_path: Path, users: int, shot: str, reset: bool = False) -> None:
    """Start a run from the form, read the WebSockets tab twice while it runs and once after it ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(20_000 * UNIT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(locust.web_url)
            page.fill("input[name=userCount]", str(users))
            page.fill("input[name=spawnRate]", str(users))
            page.get_by_text("Advanced options").click()
            page.fill("input[name=runTime]", "8s")
            page.locator("form button[type=submit]").click()
            page.get_by_role("tab", name="WebSockets").click()

            first = wait_for(lambda: message_row(read_tab(page)), 15, "the WS message row")
            first_count = int(first["Count"])
            wait_for(lambda: int(message_row(read_tab(page))["Count"]) > first_count, 10, "the count to move")
            running = read_tab(page)
            open_now = next(r for r in running if r["What"] == "open now")
            assert int(open_now["Value"]) > 0
            assert message_row(running)["p50"].endswith(("us", "ms"))
            threshold = next(r for r in running if r["Section"] == "threshold")
            assert threshold["Value"].startswith("measured ") and threshold["Result"] in ("PASS", "FAIL"), threshold
            if reset:
                # Reset clears the latency rows as it clears Locust's tables; counting starts again.
                before = int(message_row(running)["Count"])
                page.get_by_role("button", name="Reset").click()
                wait_for(lambda: int((message_row(read_tab(page)) or {"Count": 0})["Count"]) < before, 10, "reset")

            # The run stops after 8 s and writes its artifacts; the tab keeps the final values.
            wait_for(lambda: (locust.report_dir / "summary.json").exists(), 30, "summary.json")
            summary = locust.summary()
            final = next(r for r in summary["latency"] if r["type"] == "WS message")
            # Locust's UI stops polling once the run stops. The final view can come after its last poll: the
            # workers' last reports (for Locust's own tables too), or, standalone on a loaded machine, the
            # final summary made at test_stop. A reload shows it.
            page.reload()
            page.get_by_role("tab", name="WebSockets").click()

            def shows_final():
                # The finished run's view: its messages tally is judged (reconciles), no longer "in flight now".
                table = read_tab(page)
                row, tally = message_row(table), next((r for r in table if r["Section"] == "messages"), {})
                return (row, tally) if tally.get("Value", "").endswith("reconciles)") else None

            shown, tally = wait_for(shows_final, 10, lambda: f"the tab to show the finished run: {read_tab(page)}")
            assert int(shown["Count"]) == final["count"]
            assert shown["p50"] == format_us(final["p50"])
            assert shown["p99.9"] == format_us(final["p99_9"])
            assert shown["Max"] == format_us(final["max"])
            c = summary["counters"]
            assert tally["Value"] == f"{c['sent']} = {c['ok']} + {c['failed']} + {c['in_flight']} (reconciles)"
            assert summary["counters"]["connects"] == users

            # Locust's own stats, merged its own way, count the same round trips. Both are fed by the same
            # worker reports; read until they agree, within a few report intervals (a lasting difference fails).
            def theirs() -> int:
                with urllib.request.urlopen(f"{locust.web_url}/stats/requests", timeout=5 * UNIT) as resp:
                    stats = json.load(resp)["stats"]
                row = next(e for e in stats if e["method"] == "WS message")
                return row["num_requests"] - row["num_failures"]

            seen: list[int] = []
            want = final["count"]
            wait_for(lambda: seen.append(theirs()) or seen[-1] == want, 10,
                     lambda: f"Locust's merged count to reach chanload's {want}: read {seen[-5:]}")  # fmt: skip
            page.screenshot(path=str(tmp_path / shot), full_page=True)
            assert not errors, errors
        finally:
            browser.close()


def readme_sh_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line for block in re.findall(r"```sh\n(.*?)```", text, re.S) for line in block.splitlines()]


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not at /usr/bin/chromium")


@pytest.mark.e2e
@pytest.mark.browser
@needs_chromium
def test_tab_shows_a_live_run_in_chromium(tmp_path, target):
    """The README's command; a run from the form: the tab's values appear, move, reset, end equal to summary.json."""
    command = next(line for line in readme_sh_lines() if line.startswith("locust ") and "--headless" not in line
                   and "--slo 'message:p99<10ms'" in line and "--ws-metrics-port" not in line)  # fmt: skip
    args = shlex.split(command.replace("ws://127.0.0.1:8000", target.ws_url))[3:]  # after locust -f loadtests/ws.py
    with live_locust(tmp_path, *args, *FAST) as locust:
        watch_a_run_in_the_browser(locust, tmp_path, users=4, shot="webui.png", reset=True)
    assert "Traceback" not in locust.output(), locust.output()[-3000:]


@contextlib.contextmanager
def workers(count: int, master_port: int, log_dir: Path):
    procs = []
    try:
        for i in range(count):
            with open(log_dir / f"worker{i}.log", "wb") as out:
                cmd = [
                    sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "ws.py"), "--worker",
                    "--master-host", "127.0.0.1", "--master-port", str(master_port),
                ]  # fmt: skip
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
        yield procs
    finally:
        for proc in procs:
            stop(proc, timeout=15)


@pytest.mark.e2e
@pytest.mark.browser
@needs_chromium
def test_tab_merges_two_workers_in_chromium(tmp_path, target):
    """Master + 2 worker processes: the tab shows the merged run, and ends equal to the master's summary.json."""
    master_port, metrics_port = free_port(), free_port()
    args = (
        "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
        "--host", target.ws_url, *FAST, "--slo", "message:p99<1s", "--ws-metrics-port", str(metrics_port),
    )  # fmt: skip
    with live_locust(tmp_path, *args, name="master") as locust, workers(2, master_port, tmp_path):
        wait_for(lambda: "2 workers connected" in locust.output(), 30, "2 workers")
        watch_a_run_in_the_browser(locust, tmp_path, users=4, shot="webui-distributed.png")
        summary = locust.summary()
        # The master's /metrics serves the same merged histograms.
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5 * UNIT) as resp:
            text = resp.read().decode()
    final = next(r for r in summary["latency"] if r["type"] == "WS message")
    series = 'chanload_ws_latency_seconds_count{name="room/[group]",type="WS message"}'
    assert f"{series} {float(final['count'])}" in text.splitlines()
    assert "Traceback" not in locust.output(), locust.output()[-3000:]
    for log in tmp_path.glob("worker*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


CLI_STEP = '[cli] {"op": "join", "rooms": [1, 2]} => OK'  # commas: a list field would be split at them
FORM_STEPS = ['[hello] {"text": "hi, you"} => OK', "[again] hi => OK"]


def start_from_the_form(page, web_url: str, steps: str | None) -> None:
    """Open the start form, set the opening steps' field (None: leave what it shows) and start a 3 s run.

    Once the runner is ready or stopped: a run's summary.json is written a moment before Locust's runner leaves
    `stopping`, and a page loaded then shows neither the form nor a "New" that opens it.
    """
    wait_for(lambda: runner_state(web_url) in ("ready", "stopped"), 30, lambda: f"runner {runner_state(web_url)}")
    page.goto(web_url)
    form = page.locator("input[name=userCount]")
    new = page.get_by_role("button", name="New")
    form.or_(new).first.wait_for()
    if not form.is_visible():  # after a run: the form is behind "New"
        new.click()
    page.fill("input[name=userCount]", "2")
    page.fill("input[name=spawnRate]", "2")
    page.get_by_text("Advanced options").click()
    page.fill("input[name=runTime]", "3s")
    page.get_by_text("Custom parameters").click()
    if steps is not None:
        page.fill("input[name=wsOpen]", steps)
    page.locator("form button[type=submit]").click()


def runner_state(web_url: str) -> str:
    with urllib.request.urlopen(f"{web_url}/stats/requests", timeout=5 * UNIT) as resp:
        return str(json.load(resp)["state"])


def opening_rows(locust, previous: float) -> dict[str, dict] | None:
    """The WS message rows of a summary.json written after `previous` (its mtime), by name; None before."""
    path = locust.report_dir / "summary.json"
    if not path.exists() or path.stat().st_mtime <= previous:
        return None
    return {r["name"]: r for r in locust.summary()["latency"] if r["type"] == "WS message"}


@pytest.mark.e2e
@pytest.mark.browser
@needs_chromium
def test_opening_steps_from_the_command_line_and_from_the_form_run_whole_in_chromium(tmp_path, target):
    """--ws-open on the web UI's form: the command line's step is shown as a JSON list and runs when the form
    keeps it; a JSON list typed in the form, commas inside a step, runs each step whole; a broken list is
    refused with the form's message and starts nothing."""
    from playwright.sync_api import sync_playwright

    with live_locust(tmp_path, "--host", target.ws_url, *FAST, "--ws-open", CLI_STEP) as locust:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.set_default_timeout(20_000 * UNIT)
                page.goto(locust.web_url)
                page.get_by_text("Custom parameters").click()
                assert page.input_value("input[name=wsOpen]") == json.dumps([CLI_STEP])

                start_from_the_form(page, locust.web_url, None)
                rows = wait_for(lambda: opening_rows(locust, 0), 30, "the first run's summary.json")
                assert rows["cli"]["count"] > 0 and rows["cli"]["failures"] == 0, rows
                assert locust.summary()["parameters"]["classes"]["RoomUser"]["opening"] == [CLI_STEP]
                first = (locust.report_dir / "summary.json").stat().st_mtime

                start_from_the_form(page, locust.web_url, json.dumps(FORM_STEPS))
                rows = wait_for(lambda: opening_rows(locust, first), 30, "the second run's summary.json")
                assert "cli" not in rows, rows
                for name in ("hello", "again"):
                    assert rows[name]["count"] > 0 and rows[name]["failures"] == 0, rows
                assert locust.summary()["parameters"]["classes"]["RoomUser"]["opening"] == FORM_STEPS
                second = (locust.report_dir / "summary.json").stat().st_mtime

                start_from_the_form(page, locust.web_url, '["[a] hi => OK", ')
                alert = page.get_by_role("alert").filter(has_text="not valid JSON")
                alert.wait_for()
                assert alert.inner_text().startswith("--ws-open"), alert.inner_text()
                assert (locust.report_dir / "summary.json").stat().st_mtime == second
                with urllib.request.urlopen(f"{locust.web_url}/stats/requests", timeout=5 * UNIT) as resp:
                    assert json.load(resp)["state"] != "running"
            finally:
                browser.close()
    assert "Traceback" not in locust.output(), locust.output()[-3000:]
