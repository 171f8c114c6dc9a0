"""Drop causes: one stable label per way a connection ends or an attempt fails."""

from __future__ import annotations

import pytest

from chanload.exceptions import (
    ClosedByServer,
    ConnectionLost,
    ConnectionRefused,
    HandshakeRejected,
    HandshakeTimeout,
    ReplyTimeout,
    WrongReply,
)
from chanload.recording.counters import Ledger
from chanload.recording.drops import cause


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (ClosedByServer(1001, "going away"), "close 1001"),
        (ClosedByServer(1012), "close 1012"),
        (ClosedByServer(None), "close without code"),
        (ConnectionLost("socket closed without a close frame"), "abnormal close 1006"),
        (ConnectionLost("ConnectionResetError"), "reset"),
        (ConnectionLost("BrokenPipeError", during="while sending"), "reset"),
        (ConnectionLost("protocol error: bad frame"), "other: connection lost"),
        (ReplyTimeout(5.0), "timeout"),
        (ConnectionRefused("127.0.0.1:9"), "refused connect"),
        (HandshakeRejected(503), "refused handshake 503"),
        (HandshakeTimeout(5.0), "handshake timeout"),
        (WrongReply("OK", "no"), "other: wrong reply"),
    ],
)
def test_causes(exc, label):
    assert cause(exc) == label


def test_drop_counts_add_across_workers_snapshots():
    a, b = Ledger(), Ledger()
    a.drops["close 1001"] += 2
    b.drops["close 1001"] += 1
    b.attempts_failed["refused handshake 502"] += 4
    b.reconnects = 3
    total = Ledger.total([a.snapshot(), b.snapshot()])
    assert total.drops == {"close 1001": 3}
    assert total.attempts_failed == {"refused handshake 502": 4}
    assert total.reconnects == 3
