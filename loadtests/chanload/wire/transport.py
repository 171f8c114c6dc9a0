"""`Transport`: what a session needs of a websocket client, and so what `Session(client_factory=...)` must make.

`WsClient` is the real one; `chanload.testing.FakeClient` a scripted one. A factory is called as
`factory(url, connect_timeout=, reply_timeout=, headers=, subprotocols=, max_message=, tls=)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from chanload.wire.framing import Frame


@runtime_checkable
class Transport(Protocol):
    """One websocket connection, as a `Session` drives it. Every failure is a `chanload.WsError` subclass."""

    url: str
    headers: list[str]
    subprotocols: list[str]
    arrival: float  # when the bytes of the last frame `recv` returned arrived: perf_counter seconds
    arrival_ns: int  # the same as CLOCK_REALTIME ns (the kernel's stamp where there is one)

    def connect(self) -> None:
        """The handshake, within the connect timeout."""

    def send(self, text: Frame) -> None:
        """Send one message (text or bytes)."""

    def recv(self, timeout: float | None = -1.0) -> Frame:
        """The next message: -1 waits up to the reply timeout, a number that many seconds, None without end."""

    def ready(self, timeout: float) -> bool:
        """Whether `recv` would return without waiting long, found within `timeout` s (a reader thread's poll)."""

    def close(self) -> None:
        """Close politely (a close frame, code 1000)."""

    def abort(self) -> None:
        """Drop the connection at once."""


# Session(client_factory=...): makes a Transport for a URL and the session's options.
ClientFactory = Callable[..., Transport]

__all__ = ["ClientFactory", "Transport"]
