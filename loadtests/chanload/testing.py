"""Test doubles for users' own tests: a scripted server, so a `Session` runs with no network and no Locust.

    from chanload.testing import FakeServer

    server = FakeServer(lambda text: [("OK", 0.0002)])  # each sent text brings these frames
    ws = server.session(route="room/{group}")
    ws.connect()
    assert ws.request("hello") == "OK"
    assert ws.recording.ledger.ok == 1

A reply is a (frame, delay in seconds) pair: its arrival is stamped `delay` after the send, as the
kernel would stamp it, so latencies recorded through a fake are known in advance.

A listening session (`listen=True`, or a payload with `{mark}`) reads its fake as it reads a socket:
`recv(timeout=None)` waits until a frame is queued (a send's replies, a `push`) or the client is closed
(then `ConnectionLost`, as a real closed connection), in a thread (the pytest plugin's sessions) or in a
gevent greenlet (a plain `Session`'s reader). gevent is imported only by code already running under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from chanload.conversation.session import Session
from chanload.exceptions import ConnectionLost, ConnectionRefused, ReplyTimeout
from chanload.wire.concurrency import in_greenlet
from chanload.wire.defaults import DEFAULTS
from chanload.wire.framing import Frame

Respond = Callable[[Frame], Iterable[tuple[Frame, float]]]


def _ok(text: Frame) -> list[tuple[Frame, float]]:
    return [("OK", 0.0)]


class FakeServer:
    """A scripted server: `respond(text)` gives the frames (with their delays) that a sent message brings.

    Args:
        respond: the script; default, every message is answered `OK` at once.
        refuse: refuse every connection (`ConnectionRefused`), as a target that is down.
    """

    def __init__(self, respond: Respond = _ok, *, refuse: bool = False) -> None:
        self.respond = respond
        self.refuse = refuse
        self.clients: list[FakeClient] = []  # every client made, in order

    def connect(self, url: str, **options: Any) -> FakeClient:
        """A client for `url` (the signature of `WsClient`); `Session(client_factory=server.connect)`."""
        client = FakeClient(self, url, **options)
        self.clients.append(client)
        return client

    def session(self, host: str = "ws://127.0.0.1:9", **kwargs: Any) -> Session:
        """A `Session` whose connections are this server's (other arguments as `Session`'s)."""
        return Session(host, client_factory=self.connect, **kwargs)

    def push(self, frame: Frame, delay: float = 0.0, client: int = -1) -> None:
        """Queue a frame the server sends on its own (a welcome, a broadcast) on a client, the last by default."""
        self.clients[client].queue([(frame, delay)])


class FakeClient:
    """Stands in for `WsClient` (a `chanload.wire.transport.Transport`): what was sent, what is queued to arrive,
    whether it was closed.

    `recv(timeout=None)` waits for a frame as a socket read would (a listening session's reader calls it);
    `ready(timeout)` is the readiness a thread reader polls where it would select a socket.
    """

    def __init__(
        self,
        server: FakeServer,
        url: str,
        *,
        connect_timeout: float = DEFAULTS.connect_timeout,
        reply_timeout: float = DEFAULTS.reply_timeout,
        headers: Iterable[str] = (),
        subprotocols: Iterable[str] = (),
        max_message: int = 0,  # WsClient's limits and TLS: nothing to enforce on a scripted frame
        tls: dict | None = None,
    ) -> None:
        self.server = server
        self.url = url
        self.headers = list(headers)
        self.subprotocols = list(subprotocols)
        self.reply_timeout = reply_timeout
        self.sent: list[Frame] = []
        self.inbox: list[tuple[Frame, float]] = []  # (frame, perf_counter arrival): queue() adds, recv() takes
        self.arrival = 0.0  # perf_counter time the last frame arrived
        self.arrival_ns = 0  # the same, as CLOCK_REALTIME ns (the kernel's stamp)
        self.closed = False
        self._changed = threading.Condition()  # notified when a frame is queued or the client closed
        self._greenlet_wake: Any = None  # a gevent Event, once a greenlet waits on this client

    def connect(self) -> None:
        if self.server.refuse:
            # As WsClient: the message names the host, never the path (it may carry ids or a token).
            raise ConnectionRefused(urlsplit(self.url).netloc)

    def send(self, text: Frame) -> None:
        self.sent.append(text)
        self.queue(list(self.server.respond(text)))

    def queue(self, frames: Iterable[tuple[Frame, float]]) -> None:
        """Queue (frame, delay) pairs to arrive, each stamped `delay` s from now; wakes a reader waiting in recv."""
        now = time.perf_counter()
        with self._changed:
            self.inbox += [(frame, now + delay) for frame, delay in frames]
        self._wake()

    def recv(self, timeout: float | None = -1.0) -> Frame:
        """The next queued frame. With none queued: a timeout (-1, the reply timeout, or seconds) is a reply
        timeout at once (a fake does not wait); None waits for one, as a listening session's reader does, and
        raises `ConnectionLost` once the client is closed."""
        if timeout is None:
            self._wait(None)
            if not self.inbox:
                raise ConnectionLost("the fake connection was closed")
        elif not self.inbox:
            self.abort()
            wait = self.reply_timeout if timeout < 0 else timeout
            raise ReplyTimeout(wait)
        with self._changed:
            frame, arrival = self.inbox.pop(0)
        self.arrival = arrival
        self.arrival_ns = time.time_ns() - int((time.perf_counter() - arrival) * 1e9)
        return frame

    def ready(self, timeout: float) -> bool:
        """Whether recv() would return at once (a frame queued, or the client closed), waiting up to `timeout` s.

        The readiness a thread reader polls between its checks for stop, as it selects a real socket.
        """
        return self._wait(timeout)

    def close(self) -> None:
        self.closed = True
        self._wake()

    def abort(self) -> None:
        self.closed = True
        self._wake()

    def _wait(self, timeout: float | None) -> bool:
        """Wait until a frame is queued or the client is closed (True), or `timeout` s passed (False)."""
        if self.inbox or self.closed:
            return True
        if in_greenlet():
            from gevent.event import Event  # only here: gevent is imported already, and we run under it

            if self._greenlet_wake is None:
                self._greenlet_wake = Event()
            wake = self._greenlet_wake
            while not (self.inbox or self.closed):
                wake.clear()  # nothing switches between the check and the wait: a wake-up cannot be lost
                if not wake.wait(timeout) and timeout is not None:
                    break
            return bool(self.inbox or self.closed)
        with self._changed:
            return self._changed.wait_for(lambda: bool(self.inbox or self.closed), timeout)

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()
        if self._greenlet_wake is not None:
            self._greenlet_wake.set()


__all__ = ["FakeClient", "FakeServer"]
