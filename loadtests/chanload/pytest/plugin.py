"""chanload's pytest plugin (the `pytest11` entry point `chanload`): behaviour tests of a Channels app.

Fixtures:

- `channels_live_server` (session): the app under test served by Daphne (default) or uvicorn in a
  subprocess on a free loopback port, stopped at the end of the session whatever happens. The app is
  `--chanload-asgi module:attr` (ini `chanload_asgi`), else Django's `ASGI_APPLICATION` from the settings
  (`DJANGO_SETTINGS_MODULE`, or pytest-django's `--ds`); the server is `--chanload-server daphne|uvicorn`
  (ini `chanload_server`). `.url` is `ws://127.0.0.1:PORT`, `.http_url` its http twin, `.log()` the
  server's output; a failing test's report gets the log lines written during the test. The server dies with
  the pytest process, even one killed with no teardown (kill -9, a crashed xdist worker): see `launcher`.
  With pytest-django and Django settings that have a database, the server serves the TEST database (as
  `ChannelsLiveServerTestCase` does) and every test that uses it runs with a transactional database
  (`django_db(transaction=True)`), so that what a test writes is committed and the server sees it. An
  in-memory SQLite test database (`startproject`'s settings) cannot be shared with another process: it is
  made a temporary file for the session (`chanload.pytest.sqlite`), or, where that cannot be done,
  refused with what to set.
  Without pytest-django, the server serves the settings' own DATABASES: a `RealDatabaseWarning` says so.
- `ws`: a `chanload.pytest.BehaviourSession` on that server (`Session`'s calls: connect, request, send,
  expect, login, login_token; opening steps), closed at teardown. A failed step's error carries a note:
  the step, what was expected, what arrived and the last frames.
- `--chanload-trace` (ini `chanload_trace`): each `ws` and `ws_factory` session prints its conversation frame by
  frame to stderr, secrets masked, as `--ws-trace` does in a Locust run.
- `ws_factory`: `ws_factory(**session_kwargs)` makes more sessions (closed at teardown, usable from
  threads); `ws_factory.run(n, conversation)` runs n conversations at once and returns what each saw,
  with the delivery accounting (`chanload.pytest.Crowd`).

Nothing here imports Locust or gevent; unused, the plugin costs an option group and two cheap hooks.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from chanload.pytest.database import RealDatabaseWarning, django_db, real_database, served_databases
from chanload.pytest.launcher import DATABASES_ENV, PARENT_ENV
from chanload.pytest.server import LOG_FROM, LOG_SHOWN, SERVER, LiveServer, child_env, log_from_now

if TYPE_CHECKING:  # imported by the fixtures when used: an unused plugin imports no session, no websocket client
    from chanload.pytest.crowd import SessionFactory
    from chanload.pytest.session import BehaviourSession

SERVERS = ("daphne", "uvicorn")
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
    group.addoption(
        "--chanload-trace",
        dest="chanload_trace",
        action="store_true",
        default=None,
        help="print the conversation of each ws and ws_factory session frame by frame, secrets masked, as "
        "--ws-trace does (to stderr: shown under a failing test, or live with -s); ini key chanload_trace",
    )
    parser.addini("chanload_asgi", "the ASGI application channels_live_server serves (module:attr)", default="")
    parser.addini("chanload_server", "daphne or uvicorn: the server channels_live_server runs", default="daphne")
    parser.addini("chanload_trace", "trace each ws and ws_factory session (as --chanload-trace)", type="bool")


def _trace(config: pytest.Config) -> bool:
    """--chanload-trace, else the ini key chanload_trace."""
    given = config.getoption("chanload_trace")
    return bool(given if given is not None else config.getini("chanload_trace"))


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


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-django: an in-memory SQLite test database becomes a temporary file (`chanload.pytest.sqlite`)."""
    from chanload.pytest.sqlite import register

    register(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use channels_live_server get a transactional test database (with pytest-django and a database)."""
    users = [item for item in items if FIXTURE in getattr(item, "fixturenames", ())]
    if not users or not django_db(config):
        return
    for item in users:
        if item.get_closest_marker("django_db") is None:
            item.add_marker(pytest.mark.django_db(transaction=True))


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
    if django_db(request.config):
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
    if django_db(config):
        extra[DATABASES_ENV] = json.dumps(served_databases(request))
    elif warning := real_database(config):
        warnings.warn(RealDatabaseWarning(warning), stacklevel=1)
    extra[PARENT_ENV] = str(os.getpid())  # it dies with this process, even one killed with no teardown
    live = LiveServer(
        app, kind, cwd=config.rootpath, log_dir=tmp_path_factory.mktemp("chanload-server"), env=child_env(extra)
    )
    config.stash[SERVER] = live
    try:
        yield live
    finally:
        live.stop()
        del config.stash[SERVER]


@pytest.fixture
def ws_factory(request: pytest.FixtureRequest, channels_live_server: LiveServer) -> Iterator[SessionFactory]:
    """`ws_factory(**session_kwargs)`: more sessions on the live server; `.run(n, conversation)`: n at once."""
    from chanload.pytest.crowd import SessionFactory

    factory = SessionFactory(channels_live_server.url, **({"trace": True} if _trace(request.config) else {}))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def ws(request: pytest.FixtureRequest, channels_live_server: LiveServer) -> Iterator[BehaviourSession]:
    """A session on the live server (`Session`'s calls; a failed step explains itself), closed at teardown."""
    from chanload.pytest.session import BehaviourSession

    session = BehaviourSession(channels_live_server.url, trace=_trace(request.config))
    try:
        yield session
    finally:
        session.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and (LOG_FROM in item.stash or FIXTURE in getattr(item, "fixturenames", ())):
        _attach_log(item, report)
    return report


def _attach_log(item: pytest.Item, report: pytest.TestReport) -> None:
    """The server's log lines written since the test began, as a section of its report."""
    live = item.config.stash.get(SERVER, None)
    if live is None:
        return
    start = item.stash.get(LOG_FROM, 0)
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
pytest_plugins = ["chanload.pytest.load"]
