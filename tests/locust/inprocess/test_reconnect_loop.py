"""The users' reconnect loop (chanload.locust.users.reconnect) on a scripted server: attempts by the policy, the
same room, the opening steps again, one WS reconnect sample; a drop counted by its cause."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chanload.conversation.login import Obtained
from chanload.conversation.reconnect import Policy, Reconnector
from chanload.exceptions import ClosedByServer, ConnectionRefused
from chanload.locust.users import reconnect
from chanload.recording.types import CONNECT, RECONNECT
from chanload.testing import FakeServer


class Flaky(FakeServer):
    """Refuses the next `refusals` connections, then accepts."""

    refusals = 0

    def connect(self, url, **options):
        client = super().connect(url, **options)
        if self.refusals:
            self.refusals -= 1
            client.connect = _refuse  # type: ignore[method-assign]
        return client


def _refuse():
    raise ConnectionRefused("127.0.0.1:9")


class Login:
    """Stands in for a session's login: counts the times it runs (before a connect, when due)."""

    due, worked, runs = True, False, 0

    def __call__(self, recording, host, timeout):
        self.runs += 1
        self.due = False
        return Obtained()  # nothing to apply: the fake server asks for no session


def samples(ws) -> dict:
    return {p.key: p.histogram.get_total_count() for p in ws.recording.recorder.drain()}


def test_after_a_drop_backoff_retries_until_it_connects_to_the_same_room_and_runs_the_opening_again():
    server = Flaky()
    ws = server.session(groups="g0-g99", opening=["[join] join => OK"])
    user = SimpleNamespace(ws=ws)
    ws._login = login = Login()
    back = Reconnector(Policy("backoff", 0.001, 0.004))
    reconnect(user, back)
    assert login.runs == 1
    room, first = ws.group, ws.user
    ws.request()
    back.message_ok()
    samples(ws)
    ws._detach()  # the server dropped it (as a step's fatal failure does)
    back.dropped(ClosedByServer(1012), ws.recording)
    server.refusals = 2
    reconnect(user, back)
    assert ws.connected and ws.group == room and ws.user != first
    assert server.clients[-1].sent == ["join"]  # the opening step ran again on the new connection
    assert login.runs == 2  # and the login, before it
    ledger = ws.recording.ledger
    assert ledger.drops == {"close 1012": 1} and ledger.attempts_failed == {"refused connect": 2}
    assert ledger.reconnects == 1 and ledger.reconnect_attempts == 3
    got = samples(ws)
    assert got[(RECONNECT, ws.name)] == 1 and got[(CONNECT, ws.name)] == 1


def test_under_now_a_failed_attempt_is_raised_and_the_next_turn_ends_the_same_outage():
    server = Flaky()
    ws = server.session()
    user = SimpleNamespace(ws=ws)
    back = Reconnector(Policy())
    reconnect(user, back)
    ws._detach()
    back.dropped(ClosedByServer(1001), ws.recording)
    server.refusals = 1
    with pytest.raises(ConnectionRefused):
        reconnect(user, back)  # the task ends here and pauses (users._quiet), as before the policy
    reconnect(user, back)
    assert ws.recording.ledger.reconnects == 1 and ws.recording.ledger.reconnect_attempts == 2


def test_a_churn_reconnect_is_the_connect_row_named_churn():
    server = FakeServer()
    ws = server.session()
    user = SimpleNamespace(ws=ws)
    back = Reconnector(Policy(), (1.0, 1.0))
    reconnect(user, back)
    ws.close()
    back.closed_by_churn(ws.recording)
    reconnect(user, back)
    got = samples(ws)
    assert got[(CONNECT, f"{ws.name} churn")] == 1 and (RECONNECT, ws.name) not in got
