"""Test doubles for users' own tests: a scripted server, so a `Session` runs with no network and no Locust.

    from chanload.testing import FakeServer

    server = FakeServer(lambda text: [("OK", 0.0002)])  # each sent text brings these frames
    ws = server.session(route="room/{group}")
    ws.connect()
    assert ws.request("hello") == "OK"
    assert ws.recording.ledger.ok == 1

A reply is a (frame, delay in seconds) pair: its arrival is stamped `delay` after the send, as the
kernel would stamp it, so latencies recorded through a fake are known in advance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from chanload.conversation.session import Session
from chanload.exceptions import ConnectionRefused, ReplyTimeout
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
        self.clients[client].inbox.append((frame, time.perf_counter() + delay))


class FakeClient:
    """Stands in for `WsClient`: what was sent, what is queued to arrive, whether it was closed."""

    def __init__(
        self,
        server: FakeServer,
        url: str,
        *,
        connect_timeout: float = 5.0,
        reply_timeout: float = 5.0,
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
        self.inbox: list[tuple[Frame, float]] = []
        self.arrival = 0.0  # perf_counter time the last frame arrived
        self.arrival_ns = 0  # the same, as CLOCK_REALTIME ns (the kernel's stamp)
        self.closed = False

    def connect(self) -> None:
        if self.server.refuse:
            # As WsClient: the message names the host, never the path (it may carry ids or a token).
            raise ConnectionRefused(f"connection refused: nothing listens at {urlsplit(self.url).netloc}")

    def send(self, text: Frame) -> None:
        self.sent.append(text)
        now = time.perf_counter()
        self.inbox += [(frame, now + delay) for frame, delay in self.server.respond(text)]

    def recv(self, timeout: float = -1.0) -> Frame:
        """The next queued frame; none queued is a reply timeout at once (a fake does not wait)."""
        if not self.inbox:
            self.abort()
            wait = self.reply_timeout if timeout < 0 else timeout
            raise ReplyTimeout(f"reply timeout: no reply within {wait:g}s")
        frame, arrival = self.inbox.pop(0)
        self.arrival = arrival
        self.arrival_ns = time.time_ns() - int((time.perf_counter() - arrival) * 1e9)
        return frame

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


__all__ = ["FakeClient", "FakeServer"]
