"""chanload.processes.stop_group: a child and the process group it leads, stopped; a plain child alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from chanload.processes import stop_group
from tests.servers import UNIT

pytestmark = pytest.mark.e2e  # starts processes

# A child that starts a grandchild in its own group, prints the grandchild's pid, and waits.
PARENT = "import subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True); time.sleep(60)"
# A child that ignores SIGTERM and says so once it does.
STUBBORN = "import signal as s, time; s.signal(s.SIGTERM, s.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def test_a_group_leader_is_stopped_with_what_it_started():
    """SIGTERM to the group: the child ends, and the grandchild it left in its group is gone too."""
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True)
    grandchild = int(proc.stdout.readline())
    try:
        assert stop_group(proc, timeout=10) == -signal.SIGTERM
        deadline = time.monotonic() + 10 * UNIT  # the sweep's SIGKILL is sent; the kernel ends it soon after
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not alive(grandchild)
    finally:
        proc.stdout.close()
        if alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_one_that_ignores_sigterm_gets_sigkill():
    """After `timeout` seconds without exiting, SIGKILL; the exit code says so."""
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert stop_group(proc, timeout=0.2) == -signal.SIGKILL
    finally:
        proc.stdout.close()


def test_a_plain_child_is_signalled_alone_and_an_ended_one_left_alone():
    """A child in this process's group: only it is stopped (this test lives on); one already waited for is left."""
    proc = subprocess.Popen(["sleep", "60"])
    assert stop_group(proc, timeout=10) == -signal.SIGTERM
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert stop_group(ended) == 0
