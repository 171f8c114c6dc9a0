"""chanload.behaviour without a server: what `ws_factory.run` makes of what each member saw."""

from __future__ import annotations

import pytest

from chanload.pytest import BehaviourSession, Crowd, MemberResult
from chanload.pytest.crowd import account as _account


def _member(index: int, user: str, room: str = "/chat/big") -> MemberResult:
    session = BehaviourSession("ws://127.0.0.1:9")
    session.joined.append((user, room, 0))
    return MemberResult(index, session)


def test_each_member_is_owed_every_other_members_marked_messages_once_and_in_order():
    sender, repeats, silent, elsewhere = _member(0, "a"), _member(1, "b"), _member(2, "c"), _member(3, "d", "/chat/x")
    sender.session.sent_marks += [("a", 0, 10), ("a", 1, 20), ("a", 2, 30)]
    repeats.session.deliveries += [("b", "a", 0), ("b", "a", 2), ("b", "a", 2), ("b", "a", 1)]
    late = _member(4, "e")
    late.session.joined[0] = ("e", "/chat/big", 25)  # joined after a's first two: owed #2 only
    late.session.deliveries.append(("e", "a", 2))
    members = [sender, repeats, silent, elsewhere, late]
    _account(members)
    assert repeats.heard == {"a": [0, 2, 2, 1]} and not repeats.missing
    assert repeats.duplicated == {"a": [2]} and repeats.reordered == {"a": [1]}
    assert silent.missing == {"a": [0, 1, 2]}
    assert elsewhere.complete and late.complete and sender.complete
    crowd = Crowd(members, {}, {}, settled=5.0)
    assert not crowd.complete
    with pytest.raises(AssertionError) as info:
        crowd.check()
    text = str(info.value)
    assert "3 delivery problems among 5 members" in text
    assert "member 1 got twice a's #2" in text and "member 1 got out of order a's #1" in text
    assert "member 2 missed a's #0, #1, #2" in text
    assert "not received 5.0 s after the last conversation returned" in text and "settle=SECONDS" in text


def test_the_thread_reader_stops_reading_at_its_bounds():
    """The behaviour tests' reader (a thread, not a greenlet) is bounded as the load's is: READ_AHEAD frames and
    `max_message` bytes wait at most; each frame taken lets one more be read."""
    import threading
    import time

    from chanload.pytest.session import ThreadReader
    from chanload.wire.reader import READ_AHEAD

    class Flooding:
        arrival, arrival_ns, max_message = 0.0, 0, 1_000_000

        def __init__(self, size: int) -> None:
            self.size, self.reads = size, 0

        def ready(self, timeout):
            return True  # always something to read

        def recv(self, timeout=None):
            self.reads += 1
            return "x" * self.size

    from tests.settle import settled

    def wait(count, expected: int) -> int:
        return settled(time.sleep, count, expected)

    small = Flooding(10)
    reader = ThreadReader(small, lambda frame, ns: None, lambda: None, threading.RLock())
    assert wait(lambda: small.reads, READ_AHEAD + 1) == READ_AHEAD + 1
    reader.get(time.perf_counter() + 1)
    assert wait(lambda: small.reads, READ_AHEAD + 2) == READ_AHEAD + 2
    reader.stop()
    large = Flooding(100_000)
    reader = ThreadReader(large, lambda frame, ns: None, lambda: None, threading.RLock())
    assert wait(lambda: large.reads, 11) == 11 and reader._bytes == 1_000_000  # ten queued, one held until room
    reader.stop()


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failed_steps_note_shortens_a_long_frame():
    """A 5,000-character reply to a failing step: the note names the step, the expectation and what arrived,
    each frame cut to about 120 characters (`...`); the whole frame is nowhere in it, so the report stays readable."""
    from chanload.exceptions import WrongReply
    from chanload.testing import FakeServer

    huge = '{"type": "dump", "rows": "' + "x" * 5_000 + '"}'
    server = FakeServer(lambda text: [(huge, 0.0)])
    ws = BehaviourSession("ws://127.0.0.1:9", client_factory=server.connect, reply_timeout=2.0)
    try:
        ws.connect("room/")
        with pytest.raises(WrongReply) as failed:
            ws.request("dump please", {"type": "small"}, step="dump")
    finally:
        ws.close()
    note = "\n".join(failed.value.__notes__)
    assert "chanload step 'dump' (request) failed" in note and 'expected: json \'{"type": "small"}\'' in note
    arrived = next(line for line in note.splitlines() if line.strip().startswith("arrived:"))
    assert arrived.startswith('  arrived:  1 frame, the last \'{"type": "dump", "rows": "xxx') and arrived.endswith(
        "..."
    )
    assert max(len(line) for line in note.splitlines()) < 200, note  # the arrived line, the received frame too
    assert "x" * 200 not in note and len(note) < 2_000, note
