"""The reconnect policy (--ws-reconnect), churn (--ws-lifetime) and a user's outage bookkeeping, as units."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from chanload.conversation.reconnect import Policy, Reconnector, lifetime
from chanload.conversation.recording import LocalRecording
from chanload.exceptions import ClosedByServer, ConnectionRefused, HandshakeRejected, OptionError
from chanload.recording.types import RECONNECT
from chanload.run.settings import settings_from


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("now", Policy()),
        ("", Policy()),
        ("off", Policy("off")),
        ("backoff:0.5-30", Policy("backoff", 0.5, 30.0)),
        (" BACKOFF:1-1 ", Policy("backoff", 1.0, 1.0)),
    ],
)
def test_policies_parse(text, policy):
    assert Policy.parse(text) == policy


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("later", "expected now, off, or backoff:MIN-MAX"),
        ("backoff", "backoff takes MIN-MAX seconds"),
        ("backoff:", "backoff takes MIN-MAX seconds"),
        ("backoff:5", "backoff takes MIN-MAX seconds"),
        ("backoff:3-1", "need 0 < MIN <= MAX"),
        ("backoff:0-1", "need 0 < MIN <= MAX"),
    ],
)
def test_a_wrong_policy_is_refused_naming_the_option(text, says):
    with pytest.raises(OptionError, match="--ws-reconnect") as caught:
        Policy.parse(text)
    assert says in str(caught.value)


def test_settings_take_the_policy_and_the_lifetime_and_refuse_wrong_ones():
    s = settings_from(SimpleNamespace(ws_reconnect="backoff:0.5-30", ws_lifetime="5-15"), "ws://127.0.0.1:1")
    assert s.reconnect == Policy("backoff", 0.5, 30.0) and s.lifetime == (5.0, 15.0)
    assert settings_from(SimpleNamespace(), "ws://127.0.0.1:1").reconnect == Policy()
    with pytest.raises(OptionError, match="--ws-lifetime '15-5'"):
        settings_from(SimpleNamespace(ws_lifetime="15-5"), "ws://127.0.0.1:1")
    with pytest.raises(OptionError, match="--ws-reconnect 'sometimes'"):
        settings_from(SimpleNamespace(ws_reconnect="sometimes"), "ws://127.0.0.1:1")


def test_lifetime_forms():
    assert lifetime("") is None and lifetime("0") is None
    assert lifetime("3") == (3.0, 3.0)
    for bad in ("-1", "a-b", "0-5", "x"):
        with pytest.raises(OptionError, match="--ws-lifetime"):
            lifetime(bad)


def test_backoff_delay_is_full_jitter_between_min_and_a_doubling_cap_never_over_max():
    p = Policy("backoff", 0.5, 30.0)
    assert [p.delay(n, 0.0) for n in range(1, 5)] == [0.5, 0.5, 0.5, 0.5]  # the floor
    assert [p.delay(n, 1.0) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # the cap
    assert p.delay(3, 0.5) == 0.5 + 0.5 * (4.0 - 0.5)
    assert all(0.5 <= p.delay(n) <= 30.0 for n in range(1, 200))
    assert Policy().delay(5) == 0.0 and Policy("off").delay(5) == 0.0


def test_an_outage_is_counted_by_cause_and_its_end_is_one_reconnect_sample():
    rec = LocalRecording()
    back = Reconnector(Policy("backoff", 0.01, 0.02))
    assert back.before() == 0.0  # the first connect of a user: at once
    back.ready(rec, "room/[group]")
    assert rec.ledger.reconnects == 0  # not an outage
    back.message_ok()
    back.dropped(ClosedByServer(1012, "restart"), rec)
    assert rec.ledger.drops == {"close 1012": 1}
    first = back.before()
    assert 0.01 <= first <= 0.02  # attempt 1 after a connection that lived: MIN..2*MIN
    back.failed(ConnectionRefused("127.0.0.1:1"), rec)
    back.before()
    back.failed(HandshakeRejected(502), rec)
    back.before()
    back.ready(rec, "room/[group]")
    assert rec.ledger.attempts_failed == {"refused connect": 1, "refused handshake 502": 1}
    assert rec.ledger.reconnects == 1 and rec.ledger.reconnect_attempts == 3
    (piece,) = [p for p in rec.recorder.drain() if p.key == (RECONNECT, "room/[group]")]
    assert piece.histogram.get_total_count() == 1


def test_an_outage_starts_when_the_reader_saw_the_drop_not_when_a_step_noticed():
    """The `WS reconnect` sample runs from the drop the reader stamped (`at`), a think time before the step."""
    rec = LocalRecording()
    back = Reconnector(Policy())
    back.ready(rec, "room/[group]")
    seen = time.perf_counter() - 1.5  # the reader saw the end 1.5 s before the user's next send failed
    back.dropped(ClosedByServer(1012, "restart"), rec, at=seen)
    assert back.down_since == seen
    back.before()
    back.ready(rec, "room/[group]")
    (piece,) = [p for p in rec.recorder.drain() if p.key == (RECONNECT, "room/[group]")]
    assert piece.histogram.get_max_value() >= 1_500_000  # microseconds (HDR's bucket top): the 1.5 s away are in it
    later = Reconnector(Policy())
    later.dropped(ClosedByServer(1012, "restart"), rec, at=time.perf_counter() + 60)  # never after the notice
    assert later.down_since <= time.perf_counter()


def test_backoff_keeps_growing_for_connections_that_did_not_live():
    rec = LocalRecording()
    back = Reconnector(Policy("backoff", 1.0, 1000.0))
    back.before()
    back.ready(rec, "r")
    back.message_ok()
    for _ in range(3):  # each reconnect dies before a message: no reset
        back.dropped(ClosedByServer(1011), rec)
        back.before()
        back.ready(rec, "r")
    back.dropped(ClosedByServer(1011), rec)
    assert back.attempt == 3  # next attempt is the 4th: its cap 16 s
    back.message_ok()  # would the new one have lived...
    assert back.attempt == 0


def test_off_leaves_the_user_down_and_counts_it():
    rec = LocalRecording()
    back = Reconnector(Policy("off"))
    back.dropped(ClosedByServer(1001), rec)
    assert back.stays_down and rec.ledger.stayed_down == 1 and rec.ledger.drops == {"close 1001": 1}


def test_a_lifetime_sets_a_deadline_and_a_churn_close_is_not_a_drop():
    rec = LocalRecording()
    back = Reconnector(Policy(), (1000.0, 1000.0))
    back.before()
    back.ready(rec, "r")
    assert back.deadline > 0 and not back.expired()
    back.deadline = 1e-9  # as if its lifetime were over
    assert back.expired()
    back.closed_by_churn(rec)
    assert back.churned and rec.ledger.churn_closes == 1 and not rec.ledger.drops
    assert back.before() == 0.0
