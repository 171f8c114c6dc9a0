"""tests/behaviour/: behaviour tests of tests/apps/foreign written with the pytest plugin's fixtures, run as a
user runs them: pytest in a process of its own, with chanload installed (its pytest11 entry point) and the app
named by --chanload-asgi. No process of that run, and no port it listened on, may outlive it."""

from __future__ import annotations

import os
import re

import pytest

from tests.servers import APPS_DIR, ROOT
from tests.userproject import installed_chanload, run_pytest

pytestmark = pytest.mark.e2e


def test_the_foreign_apps_behaviour_tests_pass(tmp_path):
    site = installed_chanload(tmp_path / "site-packages")
    run = run_pytest(
        ROOT,
        site,
        "tests/behaviour",
        "--chanload-asgi",
        "foreign.asgi:application",
        pythonpath=[str(APPS_DIR)],
        env={"DJANGO_DB_PATH": str(tmp_path / "db.sqlite3")},
    )
    assert run.code == 0, run.output[-6000:]
    passed = set(re.findall(r"^PASSED tests/behaviour/test_foreign_app\.py::(\w+)", run.output, re.M))
    assert len(passed) == 5, run.output[-6000:]
    assert run.ports and run.left_behind() == [], run.output[-3000:]
    assert os.path.exists(site / "chanload")
