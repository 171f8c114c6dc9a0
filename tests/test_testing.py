"""chanload.testing: the fake server users test their own conversations with, no network and no Locust."""

from __future__ import annotations

import time

import pytest

from chanload.conversation.session import CONNECT, MESSAGE
from chanload.exceptions import ConnectionRefused, ReplyTimeout
from chanload.testing import FakeServer


def test_a_session_on_the_fake_records_known_latencies():
    """A reply scripted 2 ms after the send is recorded as a 2 ms round trip, to the microsecond."""
    server = FakeServer(lambda text: [(f"echo {text}", 0.002)])
    ws = server.session(route="ws/echo/{group}", groups="lobby", payload="hi {seq}", expect="re:echo hi [0-9]+")
    ws.connect()
    before = time.perf_counter()
    assert ws.request() == "echo hi 0"
    took_us = (time.perf_counter() - before) * 1e6  # the fake stamps its reply 2 ms after it got the text, in here
    assert server.clients[0].url == "ws://127.0.0.1:9/ws/echo/lobby" and server.clients[0].sent == ["hi 0"]
    (piece,) = [p for p in ws.recording.recorder.drain() if p.key == (MESSAGE, "ws/echo/[group]")]
    assert piece.histogram.get_total_count() == 1
    # 2 ms, plus the few us between the session's clock and the fake's (more if the machine preempts this process
    # there, never more than the whole call took); HDR's 3 significant digits round within 1 us here.
    assert 1999 <= piece.histogram.get_max_value() <= 2001 + took_us
    assert ws.recording.ledger.reconciles and ws.recording.ledger.ok == 1


def test_pushed_frames_and_silence():
    """push() queues a frame the server sends on its own; no frame at all is a reply timeout, recorded."""
    server = FakeServer(lambda text: [])
    ws = server.session()
    ws.connect()
    server.push("welcome")
    assert ws.expect("welcome") == "welcome"
    with pytest.raises(ReplyTimeout):
        ws.request("anyone?")
    assert ws.recording.ledger.failed == 1 and ws.recording.ledger.failure_kinds["reply timeout"] == 1


def test_a_refusing_server_is_a_counted_refusal():
    """refuse=True stands for a target that is down: ConnectionRefused, counted as a failed connect."""
    ws = FakeServer(refuse=True).session()
    with pytest.raises(ConnectionRefused, match="127.0.0.1:9"):
        ws.connect()
    assert ws.recording.ledger.connect_failures == 1 and ws.connect_failed
    pieces = ws.recording.recorder.drain()
    assert [(p.key, p.histogram.get_total_count(), p.failures) for p in pieces] == [((CONNECT, "room/[group]"), 0, 1)]
