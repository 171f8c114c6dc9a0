"""The listening reader (chanload.wire.reader): deliveries recorded and dropped, the rest queued, the end raised.

Greenlets on gevent's hub (`threads=False`: gevent does not run this process's sockets), with a scripted
client that cooperates (no monkey-patching needed).
"""

from __future__ import annotations

import time

import gevent
import pytest

from chanload.exceptions import ConnectionLost
from chanload.wire.reader import READ_AHEAD, Reader
from tests.settle import settled


class ScriptedClient:
    """recv() gives each scripted frame after a short pause, then raises `end` (or blocks, if None)."""

    def __init__(self, frames: list[str], end: Exception | None) -> None:
        self.frames, self.end = list(frames), end
        self.arrival, self.arrival_ns = 0.0, 0
        self.reads = 0

    def recv(self, timeout=-1.0):
        gevent.sleep(0.001)
        if not self.frames:
            if self.end is None:
                gevent.sleep(3600)
            raise self.end
        self.reads += 1
        self.arrival, self.arrival_ns = time.perf_counter(), time.time_ns()
        return self.frames.pop(0)


def sort(frame, arrival_ns):
    return {"d": "delivery", "o": "own"}.get(frame[0])


def test_frames_other_than_deliveries_are_queued_in_order_with_their_arrival_and_own_flag():
    client = ScriptedClient(["d1", "o2", "x3", "d4", "x5"], ConnectionLost("connection lost: socket closed"))
    reader = Reader(client, sort, threads=False)
    got = [reader.get(time.perf_counter() + 2) for _ in range(3)]
    assert [(frame, own) for frame, _, own in got] == [("o2", True), ("x3", False), ("x5", False)]
    assert got[0][1] <= got[1][1] <= got[2][1] <= time.perf_counter()
    # The error that ended the connection is raised to the step that awaits the next frame.
    with pytest.raises(ConnectionLost):
        reader.get(time.perf_counter() + 2)
    assert client.reads == 5


def test_get_returns_none_at_its_deadline_and_stop_ends_the_reading():
    client = ScriptedClient(["x1"], None)
    reader = Reader(client, sort, threads=False)
    assert reader.get(time.perf_counter() + 2)[0] == "x1"
    start = time.perf_counter()
    with gevent.Timeout(10, AssertionError("get() kept waiting past its deadline")):  # a hang's safety net
        assert reader.get(start + 0.05) is None
    assert time.perf_counter() - start >= 0.04  # not before it
    reader.stop()
    assert reader._greenlet.dead


def test_ended_is_called_when_the_connection_ends_under_it_not_when_stopped():
    """The delivery books learn when a receiver stopped reading: the connection's end, never a stop of ours."""
    calls: list[str] = []
    reader = Reader(
        ScriptedClient(["x1"], ConnectionLost("connection lost: closed")),
        sort,
        lambda: calls.append("end"),
        threads=False,
    )
    reader.get(time.perf_counter() + 2)
    with pytest.raises(ConnectionLost):
        reader.get(time.perf_counter() + 2)
    assert calls == ["end"]
    stopped = Reader(ScriptedClient([], None), sort, lambda: calls.append("stopped"), threads=False)
    gevent.sleep(0.01)
    stopped.stop()
    assert calls == ["end"] and stopped.ended_at is None


def test_the_reader_stamps_when_the_connection_ended_before_a_step_notices():
    """A listening user notices a drop at its next step, a think time later: the outage starts at the reader's stamp."""
    reader = Reader(ScriptedClient([], ConnectionLost("connection lost: reset")), sort, threads=False)
    settled(gevent.sleep, lambda: int(reader.ended_at is not None), 1)
    assert reader.ended_at is not None
    ended_perf, ended_ns = reader.ended_at
    gevent.sleep(0.05)  # the user thinks
    noticed = time.perf_counter()
    with pytest.raises(ConnectionLost):
        reader.get(noticed + 2)
    assert (
        ended_perf <= noticed - 0.04 and abs(ended_ns / 1e9 - time.time() + (noticed - ended_perf)) < 1
    )  # not timing: the stamp's own clock pair


class FloodingClient:
    """recv() gives a frame of `size` bytes each time, without end (a server that pushes as fast as it can)."""

    def __init__(self, size: int, max_message: int = 1 << 20) -> None:
        self.size, self.max_message = size, max_message
        self.arrival, self.arrival_ns = 0.0, 0
        self.reads = 0

    def recv(self, timeout=-1.0):
        gevent.sleep(0)
        self.reads += 1
        return "x" * self.size


def test_frames_nobody_takes_stop_the_reading_at_read_ahead_frames():
    """Small frames that no step takes: the reader reads READ_AHEAD of them (and the one it holds), then stops
    reading; each frame a step takes lets it read one more."""
    client = FloodingClient(10)
    reader = Reader(client, sort, threads=False)
    assert settled(gevent.sleep, lambda: client.reads, READ_AHEAD + 1) == READ_AHEAD + 1
    for _ in range(5):
        reader.get(time.perf_counter() + 1)
    assert settled(gevent.sleep, lambda: client.reads, READ_AHEAD + 6) == READ_AHEAD + 6
    reader.stop()


def test_frames_nobody_takes_stop_the_reading_at_max_message_bytes():
    """Large frames: at most `max_message` bytes of them wait (here 10 frames of 100 KB in 1 MB)."""
    client = FloodingClient(100_000, max_message=1_000_000)
    reader = Reader(client, sort, threads=False)
    assert settled(gevent.sleep, lambda: client.reads, 11) == 11  # ten queued, the eleventh held until there is room
    assert reader._bytes == 1_000_000
    reader.get(time.perf_counter() + 1)
    assert settled(gevent.sleep, lambda: client.reads, 12) == 12 and reader._bytes == 1_000_000
    reader.stop()
