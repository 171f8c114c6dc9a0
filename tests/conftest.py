"""Fixtures: real servers (Daphne, Redis) on free loopback ports, always stopped; the test tiers.

Three kinds of test, by marker and folder (`make test` runs them all, `make test-fast` the first two):

- in-process tests (no marker): the code under test runs in the pytest process, starting no process;
  checked: such a test that starts one fails, naming the marker it needs;
- `e2e`: starts processes (Daphne, Redis, nginx, locust, Chromium, Prometheus, a benchmark): marked per
  module or test, or by using a server fixture (`target`, `misbehaving`, `foreign`, `echo`,
  `channels_live_server` and the plugin fixtures on it, `ws` and `ws_factory`);
- tests/locust/inprocess/: Locust in the pytest process. Locust monkey-patches the standard library with
  gevent on import, which hangs the asyncio tests (test_consumers.py), so that folder runs in a pytest
  process of its own (`pytest tests/locust/inprocess`) and any other pytest process leaves it out.

`timing` marks tests that measure time or rates, or fail on a loaded machine: `make test` runs them alone,
after the parallel run (`pytest -n`).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import reaper, servers
from tests.locustrun import run_locust  # noqa: F401 - re-exported for tests

INPROCESS = Path(__file__).resolve().parent / "locust" / "inprocess"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BEHAVIOUR = Path(__file__).resolve().parent / "behaviour"  # behaviour tests of tests/apps, with the plugin's fixtures
# Fixtures that start a server process: a test that uses one is end to end.
# channels_live_server is the pytest plugin's (chanload.pytest_plugin); ws and ws_factory use it; chanload_load
# starts a locust process.
SERVER_FIXTURES = {"target", "misbehaving", "foreign", "echo", "channels_live_server", "chanload_load"}


_WATCHDOG: tuple | None = None


def pytest_configure(config: pytest.Config) -> None:
    # Mark this run's processes, and start the watchdog that kills what a killed run leaves (tests/reaper.py).
    global _WATCHDOG
    _WATCHDOG = reaper.start(worker=hasattr(config, "workerinput"))


def pytest_unconfigure(config: pytest.Config) -> None:
    killed = reaper.finish(_WATCHDOG)
    if killed:  # a test or fixture that started a process did not stop it
        sys.stderr.write(f"tests/reaper.py: killed {len(killed)} process(es) this run left running: {killed}\n")


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
    if collection_path.resolve() == TEMPLATES:
        return True  # projects of users' shape, each tested in a copy with pytest of its own (test_user_project.py)
    if collection_path.resolve() == BEHAVIOUR and not all(_inside(p, BEHAVIOUR) for p in _given(config)):
        return True  # it needs its app served (--chanload-asgi): a pytest process of its own (test_apps_behaviour.py)
    return None


# Modules that start processes but are written elsewhere, until they carry the e2e mark themselves.
# The longest tests (tens of seconds), longest first: the parallel run starts them first, so that it does not
# end waiting for one of them. Only an order: a name missing here costs time, nothing else.
LONG_FIRST = (
    "tests/test_compose.py::test_every_service_command_runs_natively",
    "tests/run/test_capacity.py::test_finder_on_a_master",
    "tests/locust/test_webui.py::test_tab_merges_two_workers",
    "tests/run/test_capacity.py::test_finder_steps_until",
    "tests/watch/test_metrics.py::test_prometheus_sees",
    "tests/locust/test_webui.py::test_tab_shows_a_live_run",
    "tests/recording/test_workers.py::test_worker_killed",
    "tests/watch/test_grafana.py::test_dashboard_queries",
    "tests/test_bench_scale.py::test_connections_reports",
    "tests/test_scaled.py::",
    "tests/test_target_serve.py::test_max_pending",
)


def _timing_by_what_it_runs(item: pytest.Item) -> bool:
    # tests/test_readme.py runs the pages' commands: a throughput threshold (rps>=N) there holds on a quiet
    # machine only. Until that module marks such blocks itself.
    # The threshold may be in the block, or in a config file the block names (--config FILE).
    params = getattr(getattr(item, "callspec", None), "params", {})
    block = str(params.get("block", ""))
    if item.path.name != "test_readme.py":
        return False
    configs = re.findall(r"[\w./-]+\.conf\b", block)
    return "rps>=" in block or any("rps>=" in _read(servers.ROOT / config) for config in configs)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _module_scoped(item: pytest.Item) -> bool:
    """Whether the item uses a fixture of module (or package) scope: one made once per module, per process."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(d[-1].scope in ("module", "package") for d in defs if d)


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
        if _timing_by_what_it_runs(item):
            item.add_marker(pytest.mark.timing)
        # An end-to-end module whose module-scoped fixture starts servers or runs loads (a foreign app, a TLS stack,
        # three compared runs, a venv with chanload installed) makes it once per xdist worker that runs one of its
        # tests: its tests go to one worker together, so it is made once (`--dist loadgroup`).
        if item.get_closest_marker("e2e") and not item.get_closest_marker("xdist_group") and _module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

    def rank(item: pytest.Item) -> int:
        return next((i for i, start in enumerate(LONG_FIRST) if item.nodeid.startswith(start)), len(LONG_FIRST))

    # `pytest -n N --dist loadgroup` hands out the xdist groups first (the bad-input matrices, a minute and
    # more each, to a worker whole), then one test at a time in this order.
    items.sort(key=rank)  # stable: the others keep pytest's order


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


@contextlib.contextmanager
def _no_process_unless_e2e(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("e2e") is not None:
        yield
        return
    real = subprocess.Popen
    subprocess.Popen = _NoProcess  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]


# Around the setup (fixtures of any scope it starts) and the call of each test.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_process_unless_e2e(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_process_unless_e2e(item):
        yield
