"""An in-memory SQLite test database made a temporary file, so that channels_live_server's process can share it.

`startproject` writes SQLite settings with no TEST NAME, and Django's test database is then in memory: only
the pytest process could see it, never the server in another process. When a session uses
channels_live_server (or `ws`, `ws_factory`, `chanload_load`), this gives each such database a temporary
file instead, says so once, and removes the folder at the end. It does it through pytest-django's
documented hook for changing the databases' settings before they are made, the session fixture
`django_db_modify_db_settings`: ours requests the one it overrides (pytest-django's, with its xdist and tox
suffixes), so both apply. The pytest plugin registers this module at configure time, after pytest-django,
so that ours is the one pytest uses; a project's own override in a conftest.py still wins (then the plugin
refuses an in-memory database with what to set, as before).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURE = "channels_live_server"
NAME = "chanload.pytest.sqlite"
_GIVEN = pytest.StashKey[dict[str, str]]()  # alias -> the file given, for the plugin's refusal to name


def register(config: pytest.Config) -> None:
    """Register this module's fixture (pytest_configure: after pytest-django, so that it overrides its own)."""
    if config.pluginmanager.hasplugin("django") and config.pluginmanager.get_plugin(NAME) is None:
        config.pluginmanager.register(sys.modules[__name__], NAME)


def in_memory(db: dict[str, Any]) -> bool:
    """Whether Django would make this database's test database in memory (sqlite3 creation's own rule)."""
    if not str(db.get("ENGINE", "")).endswith("sqlite3"):
        return False
    name = str((db.get("TEST") or {}).get("NAME") or ":memory:")
    return name == ":memory:" or "mode=memory" in name


def uses_live_server(session: pytest.Session) -> bool:
    """Whether any collected test uses channels_live_server (its fixture closure names it)."""
    return any(FIXTURE in getattr(item, "fixturenames", ()) for item in session.items)


def give_files(databases: dict[str, dict[str, Any]], folder: Path) -> dict[str, str]:
    """Each in-memory SQLite test database made a file in `folder` (settings changed in place): alias -> file."""
    given = {}
    for alias, db in databases.items():
        if in_memory(db):
            path = str(folder / f"test_{alias}.sqlite3")
            db.setdefault("TEST", {})["NAME"] = path
            given[alias] = path
    return given


def note(config: pytest.Config, given: dict[str, str]) -> None:
    """Say once, on the terminal, which databases got a file and why."""
    text = ", ".join(f"{alias!r} -> {path}" for alias, path in given.items())
    line = (
        f"chanload: the test database ({text}) would be in-memory SQLite, which the server of channels_live_server "
        "(another process) cannot share: it is a temporary file for this session, removed at the end"
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None, request: pytest.FixtureRequest) -> Iterator[None]:
    """pytest-django's hook, then: an in-memory SQLite test database becomes a temporary file (see the module)."""
    if not uses_live_server(request.session):
        yield
        return
    from django.conf import settings

    folder = Path(tempfile.mkdtemp(prefix="chanload-testdb-"))
    try:
        given = give_files(settings.DATABASES, folder)
        if given:
            request.config.stash[_GIVEN] = given
            note(request.config, given)
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
