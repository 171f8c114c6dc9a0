"""`LiveServer`: the app under test in a server subprocess on a free loopback port, always stopped.

The server is `python -m chanload.pytest.launcher` (see there: the test database, dying with its parent) in
a process group of its own. `log_from_now` marks where a test's share of the server's log begins: a failing
test's report shows it (the plugin's `pytest_runtest_makereport`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chanload.processes import stop_group

START_TIMEOUT = 30.0  # seconds a server has to accept connections
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
LOG_SHOWN = 20_000  # characters of the server's log a failing test's report shows
SERVER = pytest.StashKey["LiveServer"]()  # config.stash: the session's server
LOG_FROM = pytest.StashKey[int]()  # item.stash: where its share of the server's log begins


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class LiveServer:
    """The app under test in a server subprocess (its own process group) on 127.0.0.1; `stop()` always ends it."""

    host = "127.0.0.1"

    def __init__(
        self, app: str, server: str, *, cwd: Path, log_dir: Path, env: dict[str, str], timeout: float = START_TIMEOUT
    ) -> None:
        self.app = app
        self.server = server
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = log_dir / f"{server}.log"
        for attempt in range(3):
            self.port = _free_port()
            self._spawn()
            if self._wait(timeout, last=attempt == 2):
                return

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def command(self) -> list[str]:
        listen = ["-b", self.host, "-p", str(self.port)] if self.server == "daphne" else []
        if self.server == "uvicorn":
            listen = ["--host", self.host, "--port", str(self.port)]
        return [sys.executable, "-m", "chanload.pytest.launcher", self.server, *listen, self.app]

    def log(self) -> str:
        """The server's output so far (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as out:
            out.write(f"$ {' '.join(self.command())}  (cwd {self.cwd})\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends whatever it starts
            )

    def _wait(self, timeout: float, last: bool) -> bool:
        """True once the server accepts; False if it lost the port to another process (retry); raises otherwise."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                if not last and "address already in use" in log.lower():
                    return False
                raise RuntimeError(
                    f"channels_live_server: {self.server} exited with code {self.proc.returncode} before accepting "
                    f"connections on port {self.port}; its log:\n{log[-LOG_SHOWN:]}"
                )
            if _accepts(self.port):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"channels_live_server: {self.server} did not accept connections on port {self.port} within "
            f"{timeout:g}s; its log:\n{self.log()[-LOG_SHOWN:]}"
        )

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after STOP_TIMEOUT s, then to whatever is left there; waits for it."""
        if self.proc is not None:
            stop_group(self.proc, STOP_TIMEOUT, kill_timeout=STOP_TIMEOUT, group=True)

    def __repr__(self) -> str:
        return f"<LiveServer {self.server} {self.app} at {self.url}>"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment, with its sys.path as PYTHONPATH (the app imports as it does in the tests)."""
    env = dict(os.environ)
    paths = [p or os.getcwd() for p in sys.path]
    given = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *filter(None, given.split(os.pathsep))]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def log_from_now(item: pytest.Item, live: LiveServer) -> None:
    """If `item` fails, its report gets the server's log from here on (a test that asks for the server mid-way,
    as chanload_load does, too: its static fixture names do not say it uses the server)."""
    item.stash.setdefault(LOG_FROM, live.log_size())
