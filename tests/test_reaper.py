"""Nothing the suite starts outlives it (tests/reaper.py): a pytest of this suite killed with SIGKILL mid-run leaves
no Daphne, Redis, nginx, Locust or Chromium behind, nor a port held.

`test_everything_dies_with_a_killed_pytest` runs an inner pytest on `test_hold` below, which starts one of each
with the suite's own helpers (the scaled layout: Redis, 2 Daphne, nginx; `live_locust`, a Locust web UI on it; a
headless Chromium through Playwright), says so, and holds. The outer test SIGKILLs the inner pytest, so no
fixture teardown and no `finally` runs, and waits (bounded) for every process the inner run had started to end
and every port to refuse connections. The sweep itself is tested on two processes below.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests import reaper
from tests.servers import ROOT, UNIT

START_WAIT = 120 * UNIT  # the inner pytest's start and every server's
GONE_WAIT = 30 * UNIT  # after the kill: the watchdog wakes at once; a sweep takes well under a second
HOLD = "CHANLOAD_REAPER_HOLD"  # the file test_hold writes its processes and ports to; unset: test_hold skips


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.redis
def test_hold(tmp_path: Path) -> None:
    """Not a test of its own: the inner run of the test below (skipped in any other run)."""
    out = os.environ.get(HOLD)
    if not out:
        pytest.skip("run by test_everything_dies_with_a_killed_pytest only")
    from playwright.sync_api import sync_playwright

    from scripts import launch
    from tests.locustrun import live_locust
    from tests.reporting.test_html import CHROMIUM, CHROMIUM_ARGS

    with launch.scaled(2, workdir=tmp_path) as stack, live_locust(tmp_path, "--host", stack.host) as locust:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(locust.web_url)
            ports = [d.port for d in stack.daphnes] + [stack.proxy.port, locust.web_port]
            Path(out + ".tmp").write_text(json.dumps({"ports": ports}))
            os.rename(out + ".tmp", out)
            time.sleep(600)  # until killed


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.redis
def test_everything_dies_with_a_killed_pytest(tmp_path: Path) -> None:
    out = tmp_path / "hold.json"
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{Path(__file__)}::test_hold"],
        cwd=ROOT,
        env={**os.environ, HOLD: str(out)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait(lambda: out.exists() or inner.poll() is not None, START_WAIT), "the inner run never held"
        assert out.exists(), f"the inner pytest ended ({inner.returncode}) before it held"
        ports = json.loads(out.read_text())["ports"]
        started = psutil.Process(inner.pid).children(recursive=True)
        names = [p.name() for p in started if p.is_running()]
        # What the inner run started, by name: the stack, Locust and the browser are all there to be left behind.
        for wanted in ("redis-server", "nginx", "chromium"):
            assert any(wanted in n for n in names), f"no {wanted} among {sorted(names)}"
        assert not any(_refused(port) for port in ports), ports  # 2 Daphne, nginx and Locust's web UI all serve
        os.kill(inner.pid, signal.SIGKILL)
        inner.wait()
        assert _wait(lambda: not any(_alive(p.pid) for p in started), GONE_WAIT), [
            (p.pid, p.name()) for p in started if _alive(p.pid)
        ]
        assert _wait(lambda: all(_refused(port) for port in ports), GONE_WAIT), ports
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()


@pytest.mark.e2e
def test_sweep_kills_what_carries_the_token_and_nothing_else() -> None:
    token, other = "a" * 32, "b" * 32
    mine = subprocess.Popen(["sleep", "60"], env={**os.environ, reaper.ENV: token})
    theirs = subprocess.Popen(["sleep", "60"], env={**os.environ, reaper.ENV: other})
    try:
        # between fork and exec a child still has pytest's environment: wait for `sleep` to run
        assert _wait(lambda: reaper.marked(token) == [mine.pid], 10 * UNIT), reaper.marked(token)
        assert reaper.sweep(token) == [mine.pid]
        assert mine.wait(10) == -signal.SIGKILL
        assert theirs.poll() is None and reaper.marked(token) == []
    finally:
        for proc in (mine, theirs):
            proc.kill()
            proc.wait()
