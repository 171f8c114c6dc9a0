"""A connection read as frames arrive: one greenlet per listening session, and its queue.

Without it a session reads its socket only while a step waits for a frame. A relay chat's members
receive each other's messages between their own round trips, so with `listen` a reader greenlet
reads every frame the moment it comes. Each frame goes to `sort` first, which records the deliveries
it carries; the rest, and the error that ended the connection, are queued for the step that awaits
them, with their arrival times.

Bounded: at most READ_AHEAD frames, and at most `limit` bytes of them (the connection's --ws-max-message),
wait in the queue. When a step does not take them (a user thinking, a slow script), the reader stops
reading until it does, and the server's sends back up in TCP: back-pressure, never a queue without end.
Deliveries are recorded as they are read and never queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# sort(frame, arrival_ns) -> "delivery" (another member's message, recorded), "own" (this connection's), None
from chanload.exceptions import WsError
from chanload.wire.client import WsClient
from chanload.wire.framing import MAX_MESSAGE, Frame

Sort = Callable[[Frame, int], str | None]

READ_AHEAD = 1000  # frames a listening connection reads ahead of the steps that take them


class Reader:
    """Reads `client` in a greenlet of its own until the connection ends or `stop` is called.

    `ended`, if given, is called when the connection ends under it (the error is queued too): from then on
    nothing more can arrive.
    """

    def __init__(self, client: WsClient, sort: Sort, ended: Callable[[], None] | None = None) -> None:
        import gevent  # listening needs gevent, as Locust runs it
        from gevent.event import Event
        from gevent.queue import Empty, Queue

        self._frames = Queue(READ_AHEAD)  # put() waits while it is full
        self._empty = Empty
        self._limit = getattr(client, "max_message", 0) or MAX_MESSAGE
        self._bytes = 0  # payload bytes of the frames queued
        self._room = Event()  # set when a get() made room under the byte limit
        self._greenlet = gevent.spawn(self._run, client, sort, ended)

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
        self._bytes -= size
        self._room.set()

    def stop(self) -> None:
        """End the greenlet and wait for it: a close handshake must not read the socket while it still does."""
        self._greenlet.kill(block=True, timeout=1.0)

    def _run(self, client: WsClient, sort: Sort, ended: Callable[[], None] | None) -> None:
        frames = self._frames
        while True:
            try:
                frame = client.recv(timeout=None)
            except WsError as exc:
                frames.put(exc)
                if ended is not None:
                    ended()
                return
            kind = sort(frame, client.arrival_ns)
            if kind != "delivery":
                while self._bytes and self._bytes + len(frame) > self._limit:
                    self._room.clear()
                    self._room.wait()  # until a step takes some: the socket is not read meanwhile
                self._bytes += len(frame)
                frames.put((frame, client.arrival, kind == "own"))
