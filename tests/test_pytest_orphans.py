"""A pytest killed with no teardown (kill -9, a CI job cancelled, a crashed xdist worker) leaves nothing behind.

The inner pytest starts `channels_live_server` (and, in the second test, a `chanload_load` locust process) and
holds; this test SIGKILLs it, so no fixture teardown and no atexit runs. The server must die with it (the
launcher's PR_SET_PDEATHSIG and its parent watchdog), and the load too (its preexec_fn's PR_SET_PDEATHSIG):
both processes gone and the port refusing connections within a bounded wait.
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

from tests.servers import ROOT, TARGET_DIR, UNIT

pytestmark = pytest.mark.e2e

START_WAIT = 90 * UNIT  # the inner pytest's start, the server's, and the load's
GONE_WAIT = 15 * UNIT  # after the kill: SIGTERM at once, SIGKILL 5 s later at worst

HOLDS = """
import json, os, time

def test_server_then_hold(channels_live_server):
    with open(os.environ["CHANLOAD_ORPHAN_OUT"] + ".tmp", "w") as out:
        json.dump({"pid": channels_live_server.pid, "port": channels_live_server.port}, out)
    os.rename(os.environ["CHANLOAD_ORPHAN_OUT"] + ".tmp", os.environ["CHANLOAD_ORPHAN_OUT"])
    time.sleep(600)
"""

LOADS = f"""
import json, os

def test_load_then_hold(channels_live_server, chanload_load):
    with open(os.environ["CHANLOAD_ORPHAN_OUT"] + ".tmp", "w") as out:
        json.dump({{"pid": channels_live_server.pid, "port": channels_live_server.port}}, out)
    os.rename(os.environ["CHANLOAD_ORPHAN_OUT"] + ".tmp", os.environ["CHANLOAD_ORPHAN_OUT"])
    chanload_load({str(ROOT / "loadtests" / "ws.py")!r}, users=2, spawn_rate=2, run_time="10m")
"""


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie its new parent has not reaped yet."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait_for(what: str, check, timeout: float, inner: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if inner.poll() is not None:
            pytest.fail(f"the inner pytest ended (code {inner.returncode}) before {what}:\n{log.read_text()}")
        time.sleep(0.05)
    pytest.fail(f"no {what} within {timeout:g}s; the inner pytest says:\n{log.read_text()}")


def _locust_under(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "locust" in child.cmdline()[1:4]:
                found.append(child)
        except psutil.Error:
            continue
    return found


def _loading(locust: list[psutil.Process], port: int) -> bool:
    if any(_gone(p.pid) for p in locust):
        pytest.fail(f"the load {locust} ended by itself: it must run until the kill")
    if time.time() - min(p.create_time() for p in locust) < 2:
        return False
    try:
        return any(c.raddr and c.raddr.port == port for p in locust for c in p.net_connections(kind="tcp"))
    except psutil.Error:
        return False


def _kill_inner_and_check(tmp_path: Path, tests: str, with_load: bool) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pytest.ini").write_text(
        f"[pytest]\nchanload_asgi = chatroom.asgi.application\npythonpath = {TARGET_DIR}\n"
    )
    (folder / "test_hold.py").write_text(tests)
    out = tmp_path / "server.json"
    log = tmp_path / "inner.txt"
    env = {**os.environ, "CHANLOAD_ORPHAN_OUT": str(out)}
    env.pop("PYTEST_XDIST_WORKER", None)
    with open(log, "wb") as inner_log:
        inner = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "test_hold.py"],
            cwd=folder,
            env=env,
            stdout=inner_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    locust: list[psutil.Process] = []
    try:
        _wait_for("server", out.is_file, START_WAIT, inner, log)
        started = json.loads(out.read_text())
        pid, port = started["pid"], started["port"]
        assert not _refused(port), f"the server on port {port} does not accept before the kill"
        if with_load:
            locust = _wait_for("locust process", lambda: _locust_under(inner.pid), START_WAIT, inner, log)
            # Loading, not a load that failed to start and ends by itself: running 2 s on, with users connected.
            _wait_for("load running for 2 s", lambda: _loading(locust, port), START_WAIT, inner, log)
        inner.send_signal(signal.SIGKILL)  # no teardown, no atexit
        inner.wait(10)
        deadline = time.monotonic() + GONE_WAIT
        while time.monotonic() < deadline:
            if _gone(pid) and all(_gone(p.pid) for p in locust) and _refused(port):
                break
            time.sleep(0.05)
        assert _gone(pid), f"the server (pid {pid}) outlived the killed pytest by {GONE_WAIT:g}s"
        assert _refused(port), f"port {port} still accepts connections after the killed pytest's server went"
        assert all(_gone(p.pid) for p in locust), f"the load {locust} outlived the killed pytest"
    finally:
        for proc in [inner, *locust]:  # whatever happened, nothing of this test stays
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if out.is_file():
            try:
                os.killpg(json.loads(out.read_text())["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        inner.wait(10)


def test_a_killed_pytest_takes_its_server_with_it(tmp_path: Path) -> None:
    _kill_inner_and_check(tmp_path, HOLDS, with_load=False)


def test_a_killed_pytest_takes_its_load_with_it(tmp_path: Path) -> None:
    _kill_inner_and_check(tmp_path, LOADS, with_load=True)
