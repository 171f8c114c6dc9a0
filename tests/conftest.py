"""Fixtures: real servers (Daphne, Redis) on free loopback ports, always stopped; the test tiers.

Three kinds of test, by marker and folder (`make test` runs them all, `make test-fast` the first two):

- in-process tests (no marker): the code under test runs in the pytest process, starting no process;
  checked: such a test that starts one fails, naming the marker it needs;
- `e2e`: starts processes (Daphne, Redis, nginx, locust, Chromium, Prometheus, a benchmark): marked per
  module or test, or by using a server fixture (`target`, `misbehaving`, `foreign`, `echo`);
- tests/locust/inprocess/: Locust in the pytest process. Locust monkey-patches the standard library with
  gevent on import, which hangs the asyncio tests (test_consumers.py), so that folder runs in a pytest
  process of its own (`pytest tests/locust/inprocess`) and any other pytest process leaves it out.

`timing` marks tests that measure time or rates: `make test` runs them after the parallel run, alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import servers
from tests.locustrun import run_locust  # noqa: F401 - re-exported for tests

INPROCESS = Path(__file__).resolve().parent / "locust" / "inprocess"
# Fixtures that start a server process: a test that uses one is end to end.
SERVER_FIXTURES = {"target", "misbehaving", "foreign", "echo"}


@pytest.fixture(scope="session")
def target():
    """The reference chatroom target under Daphne, shared by the session's tests."""
    with servers.daphne() as server:
        yield server


@pytest.fixture(scope="session")
def misbehaving():
    """tests/apps/misbehave.py under Daphne: a foreign app with every failure on purpose."""
    with servers.daphne("tests.apps.misbehave:app", cwd=servers.ROOT) as server:
        yield server


def _given(config: pytest.Config) -> list[Path]:
    """The paths this pytest process was given (or testpaths), resolved."""
    base = config.invocation_params.dir
    return [(base / arg.split("::")[0]).resolve() for arg in config.args]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def in_process_locust(config: pytest.Config) -> bool:
    """Whether this is the in-process Locust tier: every path given lies in tests/locust/inprocess/."""
    given = _given(config)
    return bool(given) and all(_inside(p, INPROCESS) for p in given)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.resolve() == INPROCESS and not in_process_locust(config):
        return True  # never beside the asyncio tests: it runs in a pytest process of its own
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Fail loudly if a module outside tests/locust/inprocess/ imported locust (its gevent patching hangs
    the in-process asyncio tests)."""
    if "locust" in sys.modules and not in_process_locust(session.config):
        raise pytest.UsageError(
            "a test module imported locust, which monkey-patches this pytest process with gevent and hangs "
            "the in-process asyncio tests (test_consumers.py): put tests that run Locust in this process under "
            "tests/locust/inprocess/ (their own pytest process), or drive locust in a subprocess"
        )


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not in_process_locust(config) and any(_inside(INPROCESS, p) for p in _given(config)):
        terminalreporter.write_line(
            "note: tests/locust/inprocess/ was left out: it runs Locust in the pytest process, so in one of its "
            "own: `pytest tests/locust/inprocess` (make test and make test-fast run both)"
        )


class _NoProcess:
    """subprocess.Popen for a test without the e2e marker: starting a process is refused."""

    def __init__(self, args, *_a, **_kw) -> None:
        raise pytest.UsageError(
            f"an in-process test started a process ({args!r}): mark it `e2e` (pytest.mark.e2e, per test or "
            "module), so that `make test-fast` leaves it out"
        )


@pytest.fixture(autouse=True)
def _in_process_tests_start_no_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("e2e") is None:
        monkeypatch.setattr(subprocess, "Popen", _NoProcess)
