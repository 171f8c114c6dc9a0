"""chanload's pytest plugin (the `pytest11` entry point `chanload`): behaviour tests of a Channels app.

Fixtures:

- `channels_live_server` (session): the app under test served by Daphne (default) or uvicorn in a
  subprocess on a free loopback port, stopped at the end of the session whatever happens. The app is
  `--chanload-asgi module:attr` (ini `chanload_asgi`), else Django's `ASGI_APPLICATION` from the settings
  (`DJANGO_SETTINGS_MODULE`, or pytest-django's `--ds`); the server is `--chanload-server daphne|uvicorn`
  (ini `chanload_server`). `.url` is `ws://127.0.0.1:PORT`, `.http_url` its http twin, `.log()` the
  server's output; a failing test's report gets the log lines written during the test. The server dies with
  the pytest process, even one killed with no teardown (kill -9, a crashed xdist worker): see `_live_server`.
  With pytest-django and Django settings that have a database, the server serves the TEST database (as
  `ChannelsLiveServerTestCase` does) and every test that uses it runs with a transactional database
  (`django_db(transaction=True)`), so that what a test writes is committed and the server sees it. An
  in-memory SQLite test database (`startproject`'s settings) cannot be shared with another process: it is
  made a temporary file for the session (`chanload.pytest_database`), or, where that cannot be done,
  refused with what to set.
  Without pytest-django, the server serves the settings' own DATABASES: a `RealDatabaseWarning` says so.
- `ws`: a `chanload.behaviour.BehaviourSession` on that server (`Session`'s calls: connect, request, send,
  expect, login, login_token; opening steps), closed at teardown. A failed step's error carries a note:
  the step, what was expected, what arrived and the last frames.
- `ws_factory`: `ws_factory(**session_kwargs)` makes more sessions (closed at teardown, usable from
  threads); `ws_factory.run(n, conversation)` runs n conversations at once and returns what each saw,
  with the delivery accounting (`chanload.behaviour.Crowd`).

Nothing here imports Locust or gevent; unused, the plugin costs an option group and two cheap hooks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

SERVERS = ("daphne", "uvicorn")
START_TIMEOUT = 30.0  # seconds a server has to accept connections
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
LOG_SHOWN = 20_000  # characters of the server's log a failing test's report shows
_SERVER = pytest.StashKey["LiveServer"]()
_LOG_FROM = pytest.StashKey[int]()
FIXTURE = "channels_live_server"


# Options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chanload", "chanload: websocket behaviour tests (channels_live_server, ws, ws_factory)")
    group.addoption(
        "--chanload-asgi",
        dest="chanload_asgi",
        default=None,
        metavar="DOTTED.PATH",
        help="the ASGI application channels_live_server serves (module:attr or module.attr); "
        "default: the ini key chanload_asgi, else Django's ASGI_APPLICATION",
    )
    group.addoption(
        "--chanload-server",
        dest="chanload_server",
        default=None,
        choices=SERVERS,
        help="the server channels_live_server runs the app under: daphne (default) or uvicorn",
    )
    parser.addini("chanload_asgi", "the ASGI application channels_live_server serves (module:attr)", default="")
    parser.addini("chanload_server", "daphne or uvicorn: the server channels_live_server runs", default="daphne")


def _server_kind(config: pytest.Config) -> str:
    kind = config.getoption("chanload_server") or str(config.getini("chanload_server") or "daphne").strip()
    if kind not in SERVERS:
        raise pytest.UsageError(f"chanload_server = {kind!r} in the ini file: expected daphne or uvicorn")
    return kind


def _app(config: pytest.Config) -> str:
    """The app as module:attr: the option, the ini key, else the settings' ASGI_APPLICATION."""
    app = config.getoption("chanload_asgi") or str(config.getini("chanload_asgi") or "").strip()
    if not app:
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            from django.conf import settings

            app = getattr(settings, "ASGI_APPLICATION", None) or ""
            if not app:
                raise pytest.UsageError(
                    f"channels_live_server: the settings {os.environ['DJANGO_SETTINGS_MODULE']} have no "
                    "ASGI_APPLICATION: set it, or pass --chanload-asgi module:attr (ini key chanload_asgi)"
                )
        else:
            raise pytest.UsageError(
                "channels_live_server: no app to serve: pass --chanload-asgi module:attr, set the ini key "
                "chanload_asgi, or set DJANGO_SETTINGS_MODULE (pytest-django: --ds) with ASGI_APPLICATION"
            )
    if ":" not in app:
        module, _, attr = app.rpartition(".")
        if not module:
            raise pytest.UsageError(f"chanload_asgi = {app!r}: expected module:attr or module.attr")
        app = f"{module}:{attr}"
    return app


# The server


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
        return [sys.executable, "-m", "chanload._live_server", self.server, *listen, self.app]

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
        """SIGTERM to its process group, SIGKILL after STOP_TIMEOUT s; waits for it."""
        proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything it started and left behind in its group
        except (ProcessLookupError, PermissionError):
            pass

    def __repr__(self) -> str:
        return f"<LiveServer {self.server} {self.app} at {self.url}>"


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment, with its sys.path as PYTHONPATH (the app imports as it does in the tests)."""
    env = dict(os.environ)
    paths = [p or os.getcwd() for p in sys.path]
    given = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *filter(None, given.split(os.pathsep))]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# Django's test database


def _django_db(config: pytest.Config) -> bool:
    """Whether pytest-django is active with configured settings that have a database (checked cheaply)."""
    if not config.pluginmanager.hasplugin("django") or "django" not in sys.modules:
        return False
    from django.conf import settings

    if not settings.configured:
        return False
    default = settings.DATABASES.get("default") or {}
    return bool(default) and not str(default.get("ENGINE", "")).endswith("dummy")


class RealDatabaseWarning(UserWarning):
    """channels_live_server serves the settings' own database: no test database (pytest-django is not active)."""


def _real_database(config: pytest.Config) -> str | None:
    """What to warn of when Django settings name a database but pytest-django is not active, else None."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module or config.pluginmanager.hasplugin("django"):
        return None
    try:
        from django.conf import settings

        default = dict(settings.DATABASES.get("default") or {})
    except Exception:  # settings that do not import: the server says why when it starts
        return None
    engine = str(default.get("ENGINE", ""))
    if not default or engine.endswith("dummy"):
        return None
    return (
        f"channels_live_server serves the real DATABASES of {module} ({engine.rpartition('.')[2]} "
        f"{default.get('NAME')!r}), not a test database: pytest-django is not active, so what the tests and the "
        "server write stays there. Install pytest-django (it makes, serves and removes a test database), or point "
        "these settings at a throwaway database"
    )


def _test_databases(request: pytest.FixtureRequest) -> dict[str, str]:
    """The test databases pytest-django made (alias -> name), set up first; an in-memory SQLite one refused."""
    request.getfixturevalue("django_db_setup")
    from django.conf import settings
    from django.db import connections
    from django.db.backends.base.creation import TEST_DATABASE_PREFIX

    names: dict[str, str] = {}
    for alias, db in settings.DATABASES.items():
        name = str(db.get("NAME") or "")
        test = str((db.get("TEST") or {}).get("NAME") or "")
        connection = connections[alias]
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            if alias != "default":
                continue
            raise pytest.UsageError(
                f"channels_live_server: the test database of {alias!r} is an in-memory SQLite database, which a "
                "server in another process cannot share. chanload makes it a temporary file through pytest-django's "
                "django_db_modify_db_settings fixture, but that fixture is overridden here without requesting it "
                "(a conftest.py?): request django_db_modify_db_settings in your override, or give it a file: "
                f"DATABASES[{alias!r}]['TEST']['NAME'] = BASE_DIR / 'test_db.sqlite3' in your settings "
                "(pytest-django creates and removes it)"
            )
        if (test and name == test) or Path(name).name.startswith(TEST_DATABASE_PREFIX):
            names[alias] = name
    if "default" not in names:
        raise pytest.UsageError(
            "channels_live_server: cannot tell the test database of 'default' (NAME "
            f"{settings.DATABASES['default'].get('NAME')!r}): set DATABASES['default']['TEST']['NAME']"
        )
    return names


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-django: an in-memory SQLite test database becomes a temporary file (`chanload.pytest_database`)."""
    from chanload.pytest_database import register

    register(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use channels_live_server get a transactional test database (with pytest-django and a database)."""
    users = [item for item in items if FIXTURE in getattr(item, "fixturenames", ())]
    if not users or not _django_db(config):
        return
    for item in users:
        if item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db(transaction=True))


def log_from_now(item: pytest.Item, live: LiveServer) -> None:
    """If `item` fails, its report gets the server's log from here on (a test that asks for the server mid-way,
    as chanload_load does, too: its static fixture names do not say it uses the server)."""
    item.stash.setdefault(_LOG_FROM, live.log_size())


def _transactional(marker: pytest.Mark) -> bool:
    if "transaction" in marker.kwargs:
        return bool(marker.kwargs["transaction"])
    return bool(marker.args[0]) if marker.args else False


@pytest.fixture(autouse=True)
def _chanload_live_server_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """For a test that uses channels_live_server: a committed (transactional) database, and where its log starts."""
    if FIXTURE not in request.fixturenames:
        yield
        return
    live: LiveServer = request.getfixturevalue(FIXTURE)
    log_from_now(request.node, live)
    if _django_db(request.config):
        marker = request.node.get_closest_marker("django_db")
        if marker is not None and not _transactional(marker) and "transactional_db" not in request.fixturenames:
            pytest.fail(
                "channels_live_server serves the test database from another process: what this test writes inside "
                "its transaction (django_db without transaction=True) is never committed, so the server cannot see "
                "it. Use @pytest.mark.django_db(transaction=True), or the transactional_db fixture",
                pytrace=False,
            )
        request.getfixturevalue("transactional_db")
    yield


@pytest.fixture(scope="session")
def channels_live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app under test on a free loopback port (Daphne, or uvicorn: --chanload-server uvicorn), always stopped."""
    config = request.config
    kind = _server_kind(config)
    app = _app(config)
    extra: dict[str, str] = {}
    if _django_db(config):
        from chanload._live_server import DATABASES_ENV

        extra[DATABASES_ENV] = json.dumps(_test_databases(request))
    elif warning := _real_database(config):
        warnings.warn(RealDatabaseWarning(warning), stacklevel=1)
    from chanload._live_server import PARENT_ENV

    extra[PARENT_ENV] = str(os.getpid())  # it dies with this process, even one killed with no teardown
    live = LiveServer(
        app, kind, cwd=config.rootpath, log_dir=tmp_path_factory.mktemp("chanload-server"), env=_child_env(extra)
    )
    config.stash[_SERVER] = live
    try:
        yield live
    finally:
        live.stop()
        del config.stash[_SERVER]


@pytest.fixture
def ws_factory(channels_live_server: LiveServer) -> Iterator[Any]:
    """`ws_factory(**session_kwargs)`: more sessions on the live server; `.run(n, conversation)`: n at once."""
    from chanload.behaviour import SessionFactory

    factory = SessionFactory(channels_live_server.url)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def ws(channels_live_server: LiveServer) -> Iterator[Any]:
    """A session on the live server (`Session`'s calls; a failed step explains itself), closed at teardown."""
    from chanload.behaviour import BehaviourSession

    session = BehaviourSession(channels_live_server.url)
    try:
        yield session
    finally:
        session.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and (_LOG_FROM in item.stash or FIXTURE in getattr(item, "fixturenames", ())):
        _attach_log(item, report)
    return report


def _attach_log(item: pytest.Item, report: pytest.TestReport) -> None:
    """The server's log lines written since the test began, as a section of its report."""
    live = item.config.stash.get(_SERVER, None)
    if live is None:
        return
    start = item.stash.get(_LOG_FROM, 0)
    try:
        with open(live.log_path, "rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
    except OSError as exc:
        text = f"(cannot read {live.log_path}: {exc})"
    if len(text) > LOG_SHOWN:
        text = f"... ({len(text) - LOG_SHOWN} characters before)\n" + text[-LOG_SHOWN:]
    report.sections.append(
        (f"chanload server log ({live.server} {live.app} at {live.http_url}, {live.log_path})", text or "(empty)")
    )


# chanload_load (a headless load in a subprocess, judged by its thresholds) lives in its own module,
# registered with this one: pytest imports the modules a plugin names in `pytest_plugins`.
pytest_plugins = ["chanload.pytest_load"]
