"""A connection read as frames arrive: one greenlet per listening session, and its queue.

Without it a session reads its socket only while a step waits for a frame. A relay chat's members
receive each other's messages between their own round trips, so with `listen` a reader greenlet
reads every frame the moment it comes. Each frame goes to `sort` first, which records the deliveries
it carries; the rest, and the error that ended the connection, are queued for the step that awaits
them, with their arrival times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# sort(frame, arrival_ns) -> "delivery" (another member's message, recorded), "own" (this connection's), None
from chanload.exceptions import WsError
from chanload.wire.client import WsClient
from chanload.wire.framing import Frame

Sort = Callable[[Frame, int], str | None]


class Reader:
    """Reads `client` in a greenlet of its own until the connection ends or `stop` is called.

    `ended`, if given, is called when the connection ends under it (the error is queued too): from then on
    nothing more can arrive.
    """

    def __init__(self, client: WsClient, sort: Sort, ended: Callable[[], None] | None = None) -> None:
        import gevent  # listening needs gevent, as Locust runs it
        from gevent.queue import Empty, Queue

        self._frames = Queue()
        self._empty = Empty
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
        return item

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
                frames.put((frame, client.arrival, kind == "own"))
