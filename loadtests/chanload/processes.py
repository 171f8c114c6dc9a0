"""Stopping a child process, and the process group it leads: the one implementation scripts, benchmarks and tests use.

A process started with `start_new_session=True` leads a process group of its own, and whatever it starts (Locust
workers, Daphne's children) joins that group: stopping the group stops them all, even those it lost track of. A
process that leads no group of its own (started plainly) is signalled alone, so that its parent's group is never
touched.
"""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(
    proc: subprocess.Popen, timeout: float = 5.0, *, kill_timeout: float | None = 5.0, group: bool | None = None
) -> int | None:
    """SIGTERM, then SIGKILL after `timeout` seconds, then SIGKILL to whatever is left in its group; its exit code.

    Args:
        proc: the child; one that has already exited is not signalled (what it left in its group still is).
        timeout: seconds it has to exit after SIGTERM (time to write its files, say).
        kill_timeout: seconds to wait after SIGKILL; None waits as long as it takes.
        group: True when it was started with `start_new_session=True`; None finds out from the process while it
            has not been waited for (afterwards its pid may belong to another process, which is left alone).

    Returns the exit code, or None when it had not exited `kill_timeout` seconds after SIGKILL.
    """
    if group is None:
        group = proc.returncode is None and _leads_group(proc.pid)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, kill_timeout)):
        if proc.poll() is not None:
            break
        _signal(proc, sig, group)
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if group:
        _signal(proc, signal.SIGKILL, group)  # anything it started and left behind in its group
    return proc.returncode


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal(proc: subprocess.Popen, sig: signal.Signals, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass  # gone already (or a group whose members all left); nothing of ours is left to stop
