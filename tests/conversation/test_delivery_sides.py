"""The session's hooks into delivery's senders' side: what it notes as sent, and which receivers can be owed."""

from __future__ import annotations

import time

from chanload.conversation import marks
from chanload.recording.delivery import SendLog
from chanload.testing import FakeServer


def test_each_marked_message_sent_is_noted_with_its_marks_time_and_room():
    """Five marked messages: the log says 0..4, the path of the room (no query string) and the marks' send time."""
    server = FakeServer()
    ws = server.session(route="chat/{group}?token=secret", payload='{"m": "{mark}"}', listen=False)
    ws.connect(group="g1")
    for _ in range(5):
        ws.request()
    [(sender, row)] = ws.recording.delivery.snapshot()["senders"].items()
    log = SendLog.decode(row)
    assert sender == ws.user and (log.room, log.where, log.last_seq) == ("g1", "/chat/g1", 4)
    last = marks.find(server.clients[0].sent[-1])[0]
    assert log.last_ns == last.sent_ns <= time.time_ns()


def test_unmarked_and_unsent_messages_are_not_owed():
    """A plain message is not noted; a marked one the socket refused (not connected) is not either."""
    ws = FakeServer().session(route="chat/{group}", listen=False)
    ws.connect(group="g1")
    ws.request("plain")
    assert ws.recording.delivery.snapshot()["senders"] == {}
    ws.close()
    try:
        ws.send('{"m": "{mark}"}')
    except Exception:
        pass
    assert ws.recording.delivery.snapshot()["senders"] == {}


def test_a_receiver_that_reads_only_in_its_steps_is_owed_no_tail():
    """Without a listening reader, frames after its last step stay unread: it is never a receiver that can be owed."""
    other = marks.make("peer-1-1", 0, time.time_ns())
    ws = FakeServer(lambda text: [(other, 0.0), ("OK", 0.0)]).session(payload="m {mark}", listen=False)
    ws.connect()
    ws.request()
    snap = ws.recording.delivery.snapshot()
    assert snap["rooms"][ws.group]["delivered"] == 1 and snap["receivers"] == {}
