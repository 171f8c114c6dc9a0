"""--ws-subprotocol end to end: a Channels app under Daphne that picks a subprotocol, or none.

The app is tests/apps/subprotocols.py. Daphne (autobahn) itself drops a handshake whose app picks a name
that was not offered, so a server that answers with one is a raw peer in tests/wire/test_client.py.
"""

from __future__ import annotations

import os

import pytest

from tests import servers
from tests.locustrun import run_locust

pytestmark = pytest.mark.e2e

USERS = servers.APPS_DIR / "subprotocol_users.py"


@pytest.fixture(scope="module")
def picker():
    with servers.daphne("tests.apps.subprotocols:app", cwd=servers.ROOT) as server:
        yield server


def test_offered_subprotocols_get_their_round_trips(tmp_path, picker):
    """Two --ws-subprotocol, in order: the app picks the first offered and says so in every reply."""
    run = run_locust(
        tmp_path, picker.ws_url, "RoomUser", "--ws-path", "pick/{group}", "--ws-think", "0.05",
        "--ws-subprotocol", "chat.v2", "--ws-subprotocol", "graphql-transport-ws", "--ws-expect", "OK chat.v2",
        users=2, run_time="2s",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["ok"] > 0 and counters["failed"] == 0, counters
    assert counters["connect_failures"] == 0 and counters["failure_kinds"] == {}, counters
    assert run.failures() == []


def test_a_user_class_offers_its_own_subprotocols(tmp_path, picker, monkeypatch):
    """`subprotocols = (...)` on the class, no option: offered in every handshake."""
    # Locust puts the locustfile's folder (tests/apps) first on sys.path, not loadtests/: make sure the
    # locustfile imports this checkout's chanload, wherever an installed one points.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(servers.ROOT / "loadtests"), str(servers.ROOT)]))
    run = run_locust(tmp_path, picker.ws_url, "GraphqlUser", "--ws-think", "0.05", users=2, run_time="2s",
                     locustfile=USERS)  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    counters = run.summary["counters"]
    assert counters["ok"] > 0 and counters["failed"] == 0 and counters["connect_failures"] == 0, counters


def test_a_server_that_picks_none_fails_every_connect_as_subprotocol_rejected(tmp_path, picker):
    """From a config file's list; each connect is a `subprotocol rejected` failure naming what was offered."""
    config = tmp_path / "run.conf"
    config.write_text('ws-subprotocol = ["graphql-transport-ws"]\nws-path = none/{group}\n')
    run = run_locust(tmp_path, picker.ws_url, "RoomUser", "--config", str(config), users=2, run_time="2s")
    assert run.code == 1, run.output[-3000:]  # failures, and nothing worse
    counters = run.summary["counters"]
    assert counters["connects"] == 0 and counters["connect_failures"] > 0, counters
    assert counters["failure_kinds"] == {"subprotocol rejected": counters["connect_failures"]}, counters
    assert counters["sent"] == 0
    assert run.row("WS connect", "none/[group]")["failures"] == counters["connect_failures"]
    failures = {(f["Method"], f["Name"]): f["Error"] for f in run.failures()}
    assert failures == {
        ("WS connect", "none/[group]"): "subprotocol rejected: offered 'graphql-transport-ws'; the server picked none"
    }
