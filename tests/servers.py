"""Real servers for the tests: Daphne and Redis subprocesses on free loopback ports, always stopped.

The processes are started by scripts/launch.py, which the scripts and benchmarks use too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scripts import launch
from scripts.launch import free_port, wait_for_port  # one free-port helper for scripts and tests

ROOT = launch.ROOT
TARGET_DIR = launch.TARGET
APPS_DIR = Path(__file__).resolve().parent / "apps"

# One unit for every timeout in the tests; raise it on a slow machine.
UNIT = float(os.environ.get("CHANLOAD_TEST_TIMEOUT_UNIT", "1"))


def stop(proc: subprocess.Popen, timeout: float = 5) -> None:
    launch.stop(proc, timeout * UNIT)


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path
    env: dict[str, str] | None = None  # the environment it runs with (the foreign app's settings)

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
    module: str = "daphne",
    nofile: int = 0,
) -> Iterator[Server]:
    """Run `daphne -b 127.0.0.1 -p PORT application` from cwd until the block ends.

    `module` runs another Daphne command line instead, e.g. the target's `chatroom.serve`; `nofile` sets its
    file-descriptor limit (RLIMIT_NOFILE).
    """
    tmp = Path(tempfile.mkdtemp(prefix="chanload-daphne-"))
    try:
        started = launch.spawn_daphne(tmp, env, application, cwd, args, timeout=60 * UNIT, module=module, nofile=nofile)
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


@contextlib.contextmanager
def foreign_app(env: dict[str, str] | None = None) -> Iterator[Server]:
    """tests/apps/foreign (a Channels project shaped like users' apps) under Daphne, its SQLite migrated."""
    tmp = Path(tempfile.mkdtemp(prefix="chanload-foreign-"))
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "foreign.settings",
        "DJANGO_DB_PATH": str(tmp / "db.sqlite3"),
        **(env or {}),
    }
    try:
        django_admin(full_env, "migrate", "-v", "0")
        with daphne("foreign.asgi:application", cwd=APPS_DIR, env=full_env) as server:
            server.env = full_env
            yield server
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def django_admin(env: dict[str, str], *args: str) -> str:
    """`python -m django ARGS` for the foreign app (its settings and database in `env`); its output."""
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=APPS_DIR, env=env, capture_output=True, text=True, timeout=60 * UNIT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"django {' '.join(args[:1])} failed: {done.stderr[-2000:]}")
    return done.stdout


@contextlib.contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port that refuses every connection for the block's duration.

    Bound but never listening: connects get ECONNREFUSED, and no other process can start listening on it
    meanwhile (a merely free port may be taken by a server of another test running at the same time).
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@dataclass
class Prometheus:
    port: int
    log: Path

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """An instant query through Prometheus' HTTP API: its result vector."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        url = f"http://127.0.0.1:{self.port}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5 * UNIT) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # 400 / 422: a query Prometheus cannot parse or run
            body = json.load(exc)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query {expr!r} failed: {body}")
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it has no result."""
        result = self.query(expr)
        if len(result) > 1:
            raise AssertionError(f"{expr!r}: expected one series, got {result}")
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def prometheus(scrape_port: int, interval: str = "1s") -> Iterator[Prometheus]:
    """Debian's prometheus on a free port, scraping 127.0.0.1:scrape_port/metrics every `interval`."""
    exe = shutil.which("prometheus")
    if exe is None:
        raise RuntimeError("prometheus is not installed: apt-get install prometheus (make deps does it)")
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="chanload-prometheus-"))
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        "scrape_configs:\n"
        "  - job_name: chanload\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{scrape_port}']\n"
    )
    log = tmp / "prometheus.log"
    cmd = [
        exe, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, 20 * UNIT)
        yield Prometheus(port, log)
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
