"""The opening handshake's pieces: one deadline for all of it, the answer read within bounds, what a failed one
raises, and the options it takes (TLS, subprotocols). `WsClient.connect` puts them together.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import websocket

from chanload.exceptions import (
    CertificateRejected,
    ConnectionLost,
    ConnectionRefused,
    HandshakeRejected,
    HandshakeTimeout,
    OptionError,
)
from chanload.wire.concurrency import green, yielder

HANDSHAKE_ANSWER = 64 * 1024  # bytes the server's answer to the upgrade may have (status line and headers)


class Expired(BaseException):
    """Thrown into a greenlet by its reply timer; caught in WsClient and turned into ReplyTimeout."""


class AnswerTooLong(Exception):
    """The server's answer to the upgrade went past HANDSHAKE_ANSWER bytes."""


class Answer:
    """The socket websocket-client reads the server's handshake answer through.

    websocket-client reads the answer a byte per recv() and keeps each byte as an object of its own, with no end:
    a server that sends a status line or headers without end would hold the reader in a loop (gevent's recv does
    not yield while bytes are there, so no timer reaches it) and grow its memory by 40 bytes a byte. Here every
    read checks the handshake's deadline and the answer's length (HANDSHAKE_ANSWER), and under gevent yields every
    4 KiB. Everything else goes to the socket.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline  # time.monotonic()
        self.read = 0
        self._yield = yielder()

    def recv(self, size: int) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("handshake timeout")
        self.read += size
        if self.read > HANDSHAKE_ANSWER:
            raise AnswerTooLong
        if self._yield is not None and self.read % 4096 == 0:
            self._yield()
        self.sock.settimeout(left)
        return self.sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Deadline:
    """`with Deadline(ws, seconds)`: the block gets `seconds` in all. Under gevent a timer throws Expired into
    the greenlet; without it a timer thread shuts `ws`'s socket down, which ends the read it blocks in
    (`fired` says so)."""

    def __init__(self, ws: websocket.WebSocket, seconds: float) -> None:
        self.ws = ws
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.fired = False
        self._timer: Any = None  # a gevent Timeout or a threading.Timer

    def __enter__(self) -> Deadline:
        if green():
            import gevent

            timeout = gevent.Timeout(self.seconds, Expired)
            timeout.start()
            self._timer = timeout
        else:
            thread = threading.Timer(self.seconds, self._fire)
            thread.daemon = True
            thread.start()
            self._timer = thread
        return self

    def _fire(self) -> None:
        self.fired = True
        sock = self.ws.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __exit__(self, *exc_info) -> None:
        timer, self._timer = self._timer, None
        if isinstance(timer, threading.Timer):
            timer.cancel()
        elif timer is not None:
            timer.close()


def handshake_error(exc: BaseException, expired: bool, connect_timeout: float, server: str) -> BaseException:
    """What a failed handshake raises: a WsError that says what happened (anything else as it is)."""
    if expired or isinstance(exc, Expired | TimeoutError | websocket.WebSocketTimeoutException):
        return HandshakeTimeout(f"handshake timeout: no answer within {connect_timeout:g}s")
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return HandshakeRejected(exc.status_code, phrase(exc.status_code))  # never the server's own words
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CertificateRejected(server, exc.verify_message or str(exc))
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return ConnectionRefused(f"connection refused: nothing listens at {server}")
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return ConnectionLost("connection lost: the server closed the socket during the handshake")
    if isinstance(exc, AnswerTooLong):
        return ConnectionLost(f"connection lost during handshake: an answer longer than {HANDSHAKE_ANSWER} bytes")
    if isinstance(exc, OSError):
        return ConnectionLost(f"connection lost during handshake: {type(exc).__name__}")
    if isinstance(exc, websocket.WebSocketException):
        # websocket-client's words up to the server's own (which may differ on every connection: Locust would
        # keep one failure row for each), e.g. "Invalid header line: b'...'" -> "Invalid header line".
        said = str(exc).split(":")[0].strip()[:80] or type(exc).__name__
        return ConnectionLost(f"connection lost during handshake: {said}")
    return exc  # GreenletExit, KeyboardInterrupt, a bug: not a failure of the server's


def phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status ("" for one it does not know)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def tls_options(ca_file: str | None, insecure: bool) -> dict | None:
    """websocket-client's `sslopt` for wss://: trust `ca_file`'s CAs (instead of the system's), or verify nothing."""
    if insecure:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    if ca_file:
        return {"ca_certs": ca_file}
    return None


def subprotocol_names(names: Iterable[str] | str, option: str = "subprotocols") -> list[str]:
    """Subprotocol names as offered: each an RFC 7230 token (RFC 6455 section 4.1), else an OptionError.

    A single string is one name. `option` is what the message names: a constructor argument, a per-call
    one, or `--ws-subprotocol`.
    """
    listed = [names] if isinstance(names, str) else list(names)
    for name in listed:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            several = f"repeat {option}" if option.startswith("--") else "give a list"
            raise OptionError(
                f"{option} {name!r}: a subprotocol is one token, e.g. graphql-transport-ws: letters, digits and "
                f"!#$%&'*+-.^_`|~, no spaces, commas or separators such as /:;=\"(); to offer several, {several}"
            )
    return listed


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 7230 section 3.2.6: tchar
