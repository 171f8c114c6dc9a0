"""A connection read as frames arrive: one reader per listening session, and its queue.

Without it a session reads its socket only while a step waits for a frame. A relay chat's members
receive each other's messages between their own round trips, so with `listen` a reader reads every
frame the moment it comes: in a greenlet where gevent runs the sockets (Locust), else in a thread
(`chanload.wire.concurrency` decides). Each frame goes to `sort` first, which records the deliveries
it carries; the rest, and the error that ended the connection, are queued for the step that awaits
them, with their arrival times.

Bounded, the same for both: at most READ_AHEAD frames, and at most `limit` bytes of them (the connection's
--ws-max-message), wait in the queue. When a step does not take them (a user thinking, a slow script), the
reader stops reading until it does, and the server's sends back up in TCP: back-pressure, never a queue
without end. Deliveries are recorded as they are read and never queued.

A greenlet is killed by `stop`; a thread cannot be, so it waits for the socket (`client.ready`) at most
POLL s at a time and checks between.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from chanload.exceptions import WsError
from chanload.wire.concurrency import green
from chanload.wire.framing import MAX_MESSAGE, Frame

# sort(frame, arrival_ns) -> "delivery" (another member's message, recorded), "own" (this connection's), None
Sort = Callable[[Frame, int], str | None]

READ_AHEAD = 1000  # frames a listening connection reads ahead of the steps that take them
POLL = 0.05  # seconds a reader thread waits for the socket, or for room, between checks for stop()
JOIN = 5.0  # seconds stop() waits for a reader thread


class Reader:
    """Reads `client` until the connection ends or `stop` is called: in a greenlet, or with `threads`, a thread.

    `threads`: None (default) decides by whether gevent runs the sockets. `ended`, if given, is called when the
    connection ends under it (the error is queued too): from then on nothing more can arrive. `lock`, if given,
    is held while `sort` and `ended` run (a session whose steps run in another thread keeps its books with it).
    """

    def __init__(
        self,
        client: Any,
        sort: Sort,
        ended: Callable[[], None] | None = None,
        *,
        threads: bool | None = None,
        lock: Any = None,
    ) -> None:
        self._limit = getattr(client, "max_message", 0) or MAX_MESSAGE
        self._bytes = 0  # payload bytes of the frames queued
        self._stopped = False
        self._guard = lock if lock is not None else contextlib.nullcontext()
        self._greenlet: Any = None
        # When the connection ended under the reader (perf_counter, time_ns); None while it lasts or once stopped.
        self.ended_at: tuple[float, int] | None = None
        self._thread: threading.Thread | None = None
        if green() if threads is None else not threads:
            import gevent  # listening under Locust: gevent runs already
            from gevent.event import Event
            from gevent.queue import Empty, Full, Queue

            self._frames: Any = Queue(READ_AHEAD)  # put() waits while it is full
            self._room: Any = Event()  # set when a get() made room under the byte limit
            self._poll: float | None = None  # a greenlet waits without end: stop() kills it
            self._count: Any = contextlib.nullcontext()  # greenlets switch only where they wait
            self._empty, self._full = Empty, Full
            self._greenlet = gevent.spawn(self._run, client, sort, ended)
        else:
            import queue

            self._frames = queue.Queue(READ_AHEAD)
            self._room = threading.Event()
            self._poll = POLL
            self._count = threading.Lock()  # _bytes is changed by the reader and by the steps' thread
            self._empty, self._full = queue.Empty, queue.Full
            self._thread = threading.Thread(
                target=self._run, args=(client, sort, ended), name="chanload-reader", daemon=True
            )
            self._thread.start()

    def get(self, deadline: float) -> tuple[Frame, float, bool] | None:
        """The next frame that is not a delivery, as (frame, arrival, own), or None at `deadline` (perf_counter).

        Raises the `WsError` that ended the connection.
        """
        try:
            item = self._frames.get(timeout=max(deadline - time.perf_counter(), 0.0))
        except self._empty:
            return None
        if isinstance(item, WsError):
            raise item
        self._took(len(item[0]))
        return item

    def error(self) -> WsError | None:
        """The error that ended the connection under the reader, if it is queued and no step has taken it yet."""
        for item in reversed(self._frames.queue):
            if isinstance(item, WsError):
                return item
        return None

    def _took(self, size: int) -> None:
        """A step took a frame of `size` bytes off the queue: room for the reader."""
        with self._count:
            self._bytes -= size
        self._room.set()

    def stop(self) -> None:
        """Stop reading and wait for the reader: a close handshake must not read the socket while it still does."""
        self._stopped = True
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=1.0)
        elif self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout=JOIN)

    def _put(self, item: Any, size: int) -> bool:
        """Queue `item` once there is room (READ_AHEAD frames, `limit` bytes); False if stopped meanwhile."""
        while self._bytes and self._bytes + size > self._limit:
            if self._stopped:
                return False
            self._room.clear()
            if self._bytes and self._bytes + size > self._limit:
                self._room.wait(self._poll)  # until a step takes some: the socket is not read meanwhile
        with self._count:
            self._bytes += size
        while not self._stopped:
            try:
                self._frames.put(item, timeout=self._poll)
                return True
            except self._full:
                continue
        return False

    def _run(self, client: Any, sort: Sort, ended: Callable[[], None] | None) -> None:
        poll = self._poll
        while not self._stopped:
            if poll is not None and not client.ready(poll):
                continue
            if self._stopped:
                return
            try:
                frame = client.recv(timeout=None)
            except WsError as exc:
                if self._stopped:
                    return  # closed by the session itself
                self.ended_at = (time.perf_counter(), time.time_ns())  # the drop, before a step notices it
                self._put(exc, 0)
                if ended is not None:
                    with self._guard:
                        ended()
                return
            with self._guard:
                kind = sort(frame, client.arrival_ns)
            if kind != "delivery" and not self._put((frame, client.arrival, kind == "own"), len(frame)):
                return
