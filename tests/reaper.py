"""Nothing the suite starts outlives it: a watchdog per pytest run that kills what the run left behind.

A test that starts a process stops it (tests/servers.py, tests/locustrun.py, the fixtures). A pytest that is
killed (SIGKILL, a cancelled CI job, a crashed xdist controller) runs no `finally`, and its servers, Locust
processes and browsers would be re-parented to init and keep their ports. So every pytest run is marked:

- the first pytest process (not an xdist worker) puts a fresh token in its environment, `CHANLOAD_TEST_RUN`, which
  every process it starts inherits, and their children, whatever their process group or session (Daphne, Redis,
  nginx, Locust masters and workers, Chromium through Playwright's driver, a benchmark and what it starts);
- it starts this module as a watchdog, in a session of its own and without the token, which waits for that pytest
  process to end (a pidfd), then kills every process whose environment at start held the token, until none is
  left. A pytest that ends normally sweeps the same way itself, then stops its watchdog (`finish`).
- Some servers write their process title over their environment (redis-server, nginx), so the token cannot be
  read there: the watchdog also notes, twice a second while pytest runs, every process descended from it, and
  kills those still running (the same PID with the same start time) once it is gone.

A pytest started inside a test (tests/test_user_project.py, tests/test_pytest_orphans.py) marks its own run with a
token of its own: its own watchdog sweeps its processes when it dies, and the outer one sweeps the inner pytest.

    python -m tests.reaper PID TOKEN     (started by tests/conftest.py; not for use by hand)
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ENV = "CHANLOAD_TEST_RUN"
ROUNDS = 20  # sweeps at most: a supervisor killed in one may have started a process the next one finds
NOTE_EVERY = 0.5  # seconds between the watchdog's notes of pytest's descendants


def marked(token: str, exclude: frozenset[int] = frozenset()) -> list[int]:
    """The processes whose environment at start holds `ENV=token` (those this user may read)."""
    needle = f"{ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, start time in clock ticks) of a running process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": the name may hold spaces and parentheses
    if fields[0] == "Z":
        return None  # a zombie: already dead
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every running process descended from `root`: PID -> start time."""
    parents: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
            started[int(entry.name)] = stat[1]
    found: dict[int, int] = {}
    todo = list(parents.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid not in found and pid in started:
            found[pid] = started[pid]
            todo += parents.get(pid, ())
    return found


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def sweep(token: str, seen: dict[int, int] | None = None) -> list[int]:
    """SIGKILL every process marked with `token`, and each of `seen` (PID -> start time) still running as itself,
    until none is left; the PIDs killed."""
    killed = [pid for pid, began in (seen or {}).items() if (_stat(pid) or (0, -1))[1] == began and _kill(pid)]
    me = frozenset({os.getpid()})
    for _ in range(ROUNDS):
        pids = marked(token, me)
        if not pids:
            break
        killed += [pid for pid in pids if _kill(pid)]
        time.sleep(0.05)  # a process SIGKILLed a moment ago may still read as running
    killed = list(dict.fromkeys(killed))  # each once
    return killed  # a killed process is a zombie until its parent reaps it: its environment reads empty, unmarked


class _Finish(Exception):
    """SIGTERM from the pytest process itself, at its end (`finish`): sweep now."""


def _finish(_signum, _frame) -> None:
    raise _Finish


def watch(pid: int, token: str) -> None:
    """Wait for process `pid` to end (or to say it is ending, SIGTERM), noting its descendants meanwhile, then sweep
    them and its token. What was noted covers orphans too: a process whose parent died is no longer pytest's
    descendant, but it is in `seen`."""
    seen: dict[int, int] = {}
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        fd = None  # already gone
    if fd is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        signal.signal(signal.SIGTERM, _finish)
        with contextlib.suppress(_Finish):
            while not poller.poll(NOTE_EVERY * 1000):  # readable when the process has ended
                now = descendants(pid)
                now.pop(os.getpid(), None)  # the watchdog is pytest's child too
                seen = {p: began for p, began in seen.items() if (_stat(p) or (0, -1))[1] == began} | now
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the sweep short
        os.close(fd)
    sweep(token, seen)


def start(worker: bool) -> tuple[str, subprocess.Popen] | None:
    """Mark this pytest run and start its watchdog; None in an xdist worker (`worker`: its controller's run covers
    it; not PYTEST_XDIST_WORKER, which a pytest started by a worker's test inherits)."""
    if worker:
        return None
    token = uuid.uuid4().hex
    clean = {k: v for k, v in os.environ.items() if k != ENV}
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "tests.reaper", str(os.getpid()), token],
        cwd=Path(__file__).resolve().parent.parent,
        env=clean,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # not in the terminal's process group: a Ctrl-C reaches pytest, not the watchdog
    )
    os.environ[ENV] = token
    return token, watchdog


def finish(started: tuple[str, subprocess.Popen] | None) -> list[int]:
    """At the end of a pytest run that started a watchdog: sweep now, from pytest itself (its token and every process
    still descended from it), then have the watchdog sweep what it noted (orphans of a killed inner pytest among
    them) and wait for it to end, so that nothing, the watchdog included, outlives the run. The PIDs pytest killed:
    there should be none."""
    if started is None:
        return []
    token, watchdog = started
    left = descendants(os.getpid())
    left.pop(watchdog.pid, None)
    killed = sweep(token, left)
    watchdog.terminate()  # SIGTERM: it sweeps what it noted, then ends
    try:
        watchdog.wait(30)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()
    return killed


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]), sys.argv[2])
