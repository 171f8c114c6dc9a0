"""chanload.testing: the fake server users test their own conversations with, no network and no Locust."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from chanload.conversation import marks
from chanload.conversation.session import CONNECT, MESSAGE
from chanload.exceptions import ConnectionLost, ConnectionRefused, ReplyTimeout
from chanload.pytest import BehaviourSession
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


# Listening sessions: the reader waits in recv(timeout=None) until a frame is queued or the client is closed.

# A plain Session's reader is a gevent greenlet (as under Locust): run in an interpreter of its own, since gevent
# (patched, as Locust patches, or not) must not come into the pytest process.
_GREENLET_READER = """
import json, sys, time
if sys.argv[1] == "patched":
    from gevent import monkey

    monkey.patch_all()
from chanload.conversation import marks
from chanload.testing import FakeServer

out = {}
server = FakeServer(lambda text: [("re " + text, 0.0)])
ws = server.session(listen=True, reply_timeout=2.0)
ws.connect()
out["replies"] = [ws.request("a", "re a"), ws.request("b", "re b")]
server.push("news")
out["pushed"] = ws.expect("news")
ws.close()
out["closed"] = server.clients[0].closed

server = FakeServer()  # every message answered OK
marked = server.session(payload='{"m": "{mark}"}', reply_timeout=2.0)  # {mark} turns listening on
marked.connect()
server.push(marks.make("peer-1-1", 0, time.time_ns()))  # another member's marked message, before our reply
out["listen"] = marked.listen
out["marked_reply"] = marked.request()
out["rooms"] = marked.recording.delivery.snapshot()["rooms"]
out["failed"] = ws.recording.ledger.failed + marked.recording.ledger.failed
marked.close()
print(json.dumps(out))
"""


@pytest.mark.e2e  # an interpreter of its own
@pytest.mark.parametrize("gevent", ["plain", "patched"])
def test_a_listening_session_on_the_fake_reads_it_in_a_greenlet(gevent):
    """listen=True: two requests and a pushed frame arrive through the reader greenlet; a {mark} payload's session
    counts another member's pushed marked message as delivered. Under gevent as it is, and monkey-patched."""
    proc = subprocess.run([sys.executable, "-c", _GREENLET_READER, gevent], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr  # a reader greenlet that died prints its error there
    out = json.loads(proc.stdout)
    assert out["replies"] == ["re a", "re b"] and out["pushed"] == "news" and out["closed"] is True
    assert out["listen"] is True and out["marked_reply"] == "OK"
    [(room, counts)] = out["rooms"].items()
    assert counts["delivered"] == 1 and counts["missing"] == 0 and counts["duplicated"] == 0, out["rooms"]
    assert out["failed"] == 0


@pytest.mark.timing  # "at once": under 2 s where the join timeout is 5 s
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_behaviour_session_on_the_fake_reads_it_in_a_thread_and_closes_at_once():
    """BehaviourSession (the plugin's ws) on a fake: its reader thread takes the replies, a push and another member's
    marked message; close() stops the thread without waiting out a join timeout, and the thread raised nothing."""
    server = FakeServer(lambda text: [("re " + text, 0.0)])
    ws = BehaviourSession("ws://127.0.0.1:9", client_factory=server.connect, reply_timeout=2.0)
    ws.connect("room/")
    assert ws.request("a", "re a") == "re a" and ws.request("b", "re b") == "re b"
    server.push(marks.make("peer-1-1", 0, time.time_ns()))
    server.push("news")
    assert ws.expect("news") == "news"
    assert ws.deliveries == [(ws.user, "peer-1-1", 0)]
    reader = ws._reader._thread  # type: ignore[union-attr]
    began = time.monotonic()
    ws.close()
    took = time.monotonic() - began
    assert not reader.is_alive() and took < 2.0, f"close() took {took:.2f}s"  # the join timeout is 5 s
    assert ws.received == ["re a", "re b", ws.received[2], "news"] and ws.recording.ledger.failed == 0


def test_recv_without_a_timeout_waits_for_a_frame_and_ends_on_close():
    """recv(timeout=None) in a thread: returns the frame another thread queues, then ConnectionLost once closed."""
    server = FakeServer(lambda text: [])
    ws = server.session()
    ws.connect()
    client = server.clients[0]
    got: list[object] = []

    def read() -> None:
        for _ in range(2):
            try:
                got.append(client.recv(timeout=None))
            except ConnectionLost as exc:
                got.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert not client.ready(0.05) and got == []  # nothing queued: it waits
    server.push("late")
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == ["late"]
    client.close()
    reader.join(10)
    assert not reader.is_alive() and isinstance(got[1], ConnectionLost) and client.ready(0)


def test_the_fake_and_the_real_client_are_transports():
    """`client_factory` makes a `Transport`: the fake client has every call a session and its reader use."""
    from chanload.wire.client import WsClient
    from chanload.wire.transport import Transport

    assert isinstance(FakeServer().connect("ws://127.0.0.1:9/room/"), Transport)
    assert isinstance(WsClient("ws://127.0.0.1:9/room/"), Transport)


def test_a_plain_session_listens_in_a_thread_where_gevent_does_not_run_the_sockets():
    """One reader, its backend chosen in one place: no gevent here, so a listening `Session` reads in a thread."""
    server = FakeServer(lambda text: [("re " + text, 0.0)])
    ws = server.session(listen=True, reply_timeout=2.0)
    ws.connect("room/")
    assert ws.request("a", "re a") == "re a"
    assert ws._reader is not None and ws._reader._thread is not None and ws._reader._greenlet is None
    ws.close()
