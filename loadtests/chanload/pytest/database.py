"""Django's test database for `channels_live_server`: the server, another process, serves pytest-django's.

`django_db` says whether there is one to serve (pytest-django active, settings with a database);
`served_databases` names them (an in-memory SQLite one that `chanload.pytest.sqlite` could not make a file is
refused, with what to set); `real_database` is the
warning when Django settings name a database but pytest-django is not active.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


def django_db(config: pytest.Config) -> bool:
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


def real_database(config: pytest.Config) -> str | None:
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


def served_databases(request: pytest.FixtureRequest) -> dict[str, str]:
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
