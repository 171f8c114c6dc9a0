"""Real servers for the tests: Daphne and Redis subprocesses on free loopback ports, always stopped.

The processes are started by scripts/launch.py, which the scripts and benchmarks use too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scripts import launch
from scripts.launch import free_port, wait_for_port  # noqa: F401 - one free-port helper for scripts and tests

ROOT = launch.ROOT
TARGET_DIR = launch.TARGET
APPS_DIR = Path(__file__).resolve().parent / "apps"

# One unit for every timeout in the tests; raise it on a slow machine (STYLE.md 14).
UNIT = float(os.environ.get("CHANLOAD_TEST_TIMEOUT_UNIT", "1"))


def stop(proc: subprocess.Popen, timeout: float = 5) -> None:
    launch.stop(proc, timeout * UNIT)


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def daphne(
    application: str = "chatroom.asgi:application",
    cwd: Path = TARGET_DIR,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Server]:
    """Run `daphne -b 127.0.0.1 -p PORT application` from cwd until the block ends."""
    tmp = Path(tempfile.mkdtemp(prefix="chanload-daphne-"))
    try:
        started = launch.spawn_daphne(tmp, env, application, cwd, args, timeout=20 * UNIT)
        try:
            yield Server(started.proc, started.port, started.log)
        finally:
            stop(started.proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Debian's redis-server on a free port with persistence off; yields its redis:// URL."""
    with launch.redis_server(10 * UNIT) as url:
        yield url
