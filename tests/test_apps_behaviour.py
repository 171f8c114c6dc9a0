"""tests/behaviour/: behaviour tests of tests/apps/foreign written with the pytest plugin's fixtures, run as a
user runs them: pytest in a process of its own, with chanload installed (its pytest11 entry point), the settings
given by pytest-django's --ds (the app is their ASGI_APPLICATION: no --chanload-asgi) and pytest-django's test
database served, under pytest-xdist (two workers: a server and a test database each). No process of that run,
and no port it listened on, may outlive it; the real database is never written."""

from __future__ import annotations

import re

import pytest

from tests.servers import APPS_DIR, ROOT
from tests.userproject import installed_chanload, run_pytest

pytestmark = pytest.mark.e2e


def test_the_foreign_apps_behaviour_tests_pass(tmp_path):
    site = installed_chanload(tmp_path / "install")
    run = run_pytest(
        ROOT,
        site,
        "tests/behaviour",
        "--ds",
        "tests.behaviour.settings",
        "-n",
        "2",  # pytest-xdist: a server (and a test database) per worker
        pythonpath=[str(APPS_DIR)],
        env={"DJANGO_DB_PATH": str(tmp_path / "db.sqlite3")},
    )
    assert run.code == 0, run.output[-6000:]
    passed = set(re.findall(r"^PASSED tests/behaviour/test_foreign_app\.py::(\w+)", run.output, re.M))
    tests = re.findall(r"^def (test_\w+)", (ROOT / "tests/behaviour/test_foreign_app.py").read_text(), re.M)
    assert len(tests) >= 14 and passed == set(tests), run.output[-6000:]
    # No --chanload-asgi: the app the lobby and API tests reached is the settings' ASGI_APPLICATION (--ds).
    assert not (tmp_path / "db.sqlite3").exists(), "the server wrote the real database, not the test one"
    assert not list(tmp_path.glob("*test_db*")), "pytest-django's test database was left behind"
    assert len(run.ports) >= 2, f"one server per xdist worker, saw ports {run.ports}"
    assert run.left_behind() == [], run.output[-3000:]
    # Loaded through the installed entry point. Inside this repository its pyproject's `pythonpath` (loadtests/)
    # comes first, so the modules are the repository's: where a user's project loads them from is
    # test_user_project.py's to check.
    # chanload.pytest.sqlite: registered at configure time with pytest-django (in-memory SQLite made a file).
    plugins = {"chanload.pytest.plugin", "chanload.pytest.load", "chanload.pytest.sqlite"}
    assert set(run.plugin_files()) == plugins, run.output[:3000]
