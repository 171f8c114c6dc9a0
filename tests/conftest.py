"""Fixtures: real servers (Daphne, Redis) on free loopback ports, always stopped; a locust runner."""

from __future__ import annotations

import sys

import pytest

from tests import servers
from tests.locustrun import run_locust  # noqa: F401 - re-exported for tests


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


def pytest_collection_finish(session):
    """Fail loudly if collection imported locust: its gevent monkey-patching hangs the asyncio tests."""
    if "locust" in sys.modules:
        raise pytest.UsageError(
            "a test module imported locust, which monkey-patches this pytest process with gevent and hangs "
            "the in-process asyncio tests (test_consumers.py); drive locust in a subprocess instead"
        )
