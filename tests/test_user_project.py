"""A user's project outside this repository, tested with chanload's pytest plugin as its users would.

tests/templates/userproject/ is a small Django + Channels project with its own settings (a chat room:
join, say to the room, echo) and behaviour tests that use only the plugin's fixtures: one conversation,
a 20-member broadcast in per-sender order, a 10 s load with thresholds. Each test copies it to a temporary
folder and runs `python -m pytest` there (tests/userproject.py): on Daphne, on uvicorn, and once with a
step made to fail. No process of that run's tree, and no port they listened on, may outlive it.

chanload is `pip install`ed (a wheel of this repository) into a virtualenv that sees the system's packages, and
nothing else is done: pytest must load the plugin through the installed package's entry point, from the
virtualenv's site-packages, not from this repository's editable install (`_from_the_install` checks).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import ROOT
from tests.userproject import Installed, Run, installed_chanload, run_pytest, user_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Installed:
    """chanload, pip-installed into a virtualenv for the user's project (once for this module)."""
    return installed_chanload(tmp_path_factory.mktemp("install"))


def _from_the_install(run: Run, site: Installed) -> None:
    """pytest loaded chanload's plugin (and chanload_load's module) from the virtualenv, nowhere else."""
    files = run.plugin_files()
    # chanload.pytest.sqlite: registered with pytest-django (the in-memory SQLite test database made a file)
    assert set(files) == {"chanload.pytest.plugin", "chanload.pytest.load", "chanload.pytest.sqlite"}, run.output[:6000]
    for module, file in files.items():
        assert Path(file).is_relative_to(site.site_packages), f"{module} loaded from {file}, not the install"
        assert not Path(file).resolve().is_relative_to(ROOT), f"{module} loaded from this repository: {file}"


def _passes_everything(project: Path, site: Installed, *args: str) -> None:
    run = run_pytest(project, site, *args)
    assert run.code == 0, run.output[-6000:]
    _from_the_install(run, site)
    for test in ("test_join_echo_and_say", "test_every_member_gets_every_message_in_order",
                 "test_the_room_holds_under_load"):  # fmt: skip
        assert f"PASSED tests/test_chat.py::{test}" in run.output, run.output[-6000:]
    assert run.ports, "the watcher saw no server listening: it watched nothing"
    assert run.left_behind() == [], run.output[-3000:]


@pytest.mark.timing  # a 10 s load gated by latency thresholds
def test_a_users_project_passes_on_daphne(tmp_path, site):
    _passes_everything(user_project(tmp_path), site)


@pytest.mark.timing
def test_a_users_project_passes_on_uvicorn(tmp_path, site):
    _passes_everything(user_project(tmp_path), site, "--chanload-server", "uvicorn")


def test_a_failing_step_names_the_step_the_expectation_and_what_arrived(tmp_path, site):
    project = user_project(tmp_path)
    tests = project / "tests" / "test_chat.py"
    source = tests.read_text()
    wrong = source.replace(
        '{"type": "echo", "text": "hello"}, step="ping"', '{"type": "echo", "text": "bye"}, step="ping"'
    )
    assert wrong != source, "the template's ping step changed: update this test"
    tests.write_text(wrong)
    run = run_pytest(project, site, "-k", "test_join_echo_and_say")
    _from_the_install(run, site)
    assert run.code == 1 and "FAILED tests/test_chat.py::test_join_echo_and_say" in run.output, run.output[-6000:]
    # The error's own lines (pytest's `E` lines), not the test's source that the traceback shows too.
    said = "\n".join(line for line in run.output.splitlines() if line.startswith("E "))
    assert "ping" in said and '"bye"' in said and '"hello"' in said, run.output[-6000:]
    assert run.ports and run.left_behind() == [], run.output[-3000:]
