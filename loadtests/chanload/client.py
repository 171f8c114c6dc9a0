"""A websocket client for load users: websocket-client under gevent, with every failure classified.

Each failure a user can meet is one exception class whose message says what happened in words a
user understands; Locust groups failures by that message, so it carries no per-request ids.
"""

from __future__ import annotations

import errno
import os
import struct
import time

import websocket
from websocket import ABNF

from chanload.messages import shorten

# websocket-client caps each socket read at 16 KiB (frame_buffer.recv_strict); we read ahead up to that.
READ_AHEAD = 16384
CLOSE_WAIT = 1.0  # seconds to wait for the server's close frame (RFC 6455 section 7.1.1)


class WsError(Exception):
    """A classified websocket failure. `kind` is a short stable label; `fatal` drops the connection."""

    kind = "error"
    fatal = True

    def __repr__(self) -> str:
        # Locust shows and groups failures by repr(exception): keep it the plain message.
        return str(self)


class ConnectionRefused(WsError):
    kind = "connection refused"


class HandshakeRejected(WsError):
    kind = "handshake rejected"

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"handshake rejected: HTTP {status}{' ' + reason if reason else ''}")
        self.status = status


class HandshakeTimeout(WsError):
    kind = "handshake timeout"


class ReplyTimeout(WsError):
    kind = "reply timeout"


class WrongReply(WsError):
    kind = "wrong reply"
    fatal = False  # the reply was consumed: the conversation is still in step

    def __init__(self, expected: str, got: str | bytes) -> None:
        super().__init__(f"wrong reply: expected {expected}, got {shorten(got)}")


class ClosedByServer(WsError):
    kind = "closed by server"

    def __init__(self, code: int | None, reason: str = "") -> None:
        what = f"code {code}" if code is not None else "no close code"
        super().__init__(f"closed by server: {what}{' ' + shorten(reason, 40) if reason else ''}")
        self.code = code


class ConnectionLost(WsError):
    kind = "connection lost"


class WsClient:
    """One websocket connection. `connect`, `send` and `recv` raise only `WsError` subclasses."""

    def __init__(
        self,
        url: str,
        *,
        # Timeouts
        connect_timeout: float = 5.0,
        reply_timeout: float = 5.0,
        # Handshake
        headers: list[str] | None = None,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.headers = headers or []
        self.ws: websocket.WebSocket | None = None

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def connect(self) -> None:
        try:
            ws = websocket.create_connection(
                self.url,
                timeout=self.connect_timeout,
                header=self.headers,
                # Replies are checked against the expected text; validating UTF-8 twice costs CPU.
                skip_utf8_validation=True,
                enable_multithread=False,
            )
        except websocket.WebSocketBadStatusException as exc:
            raise HandshakeRejected(exc.status_code, exc.status_message or "") from None
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise HandshakeTimeout(f"handshake timeout: no answer within {self.connect_timeout:g}s") from None
        except ConnectionRefusedError:
            raise ConnectionRefused(f"connection refused: nothing listens at {self.url}") from None
        except websocket.WebSocketConnectionClosedException:
            raise ConnectionLost("connection lost: the server closed the socket during the handshake") from None
        except (OSError, websocket.WebSocketException) as exc:
            if getattr(exc, "errno", None) == errno.ECONNREFUSED:
                raise ConnectionRefused(f"connection refused: nothing listens at {self.url}") from None
            raise ConnectionLost(f"connection lost during handshake: {exc}") from None
        ws.settimeout(self.reply_timeout)
        # websocket-client asks the socket for exactly the bytes it parses next: 2 for the header, then
        # the payload, i.e. two recv() calls (each a syscall and a gevent wait) per message. Its frame
        # buffer keeps whatever a read brings beyond the request, so reading ahead is safe and one read
        # usually brings a whole frame. Same parser, same exceptions (WebSocket._recv maps them).
        raw_recv = ws._recv
        ws.frame_buffer.recv = lambda _bufsize: raw_recv(READ_AHEAD)
        self.ws = ws

    def send(self, message: str | bytes) -> None:
        ws = self._require()
        if isinstance(message, bytes):
            frame = _frame(ABNF.OPCODE_BINARY, message)
        else:
            frame = _frame(ABNF.OPCODE_TEXT, message.encode("utf-8"))
        try:
            # websocket-client's send_frame loop minus ABNF.format, which builds the same bytes slower;
            # WebSocket._send keeps its error mapping (e.g. a send timeout is WebSocketTimeoutException).
            while frame:
                frame = frame[ws._send(frame) :]
        except (OSError, websocket.WebSocketException) as exc:
            self.abort()
            raise ConnectionLost(f"connection lost while sending: {type(exc).__name__}") from None

    def recv(self, timeout: float | None = -1.0) -> str | bytes:
        """The next text or binary message. `timeout` -1 means the reply timeout; None waits forever."""
        ws = self._require()
        if timeout != -1.0:
            ws.settimeout(timeout)
        try:
            while True:
                opcode, frame = ws.recv_data_frame(True)
                if opcode == ABNF.OPCODE_TEXT:
                    return frame.data.decode("utf-8", "replace")
                if opcode == ABNF.OPCODE_BINARY:
                    return frame.data
                if opcode == ABNF.OPCODE_CLOSE:
                    self.abort()
                    raise _closed(frame.data)
                # ping and pong: websocket-client already answered pings; keep reading.
        except (TimeoutError, websocket.WebSocketTimeoutException):
            # A late reply would put the conversation out of step: drop this connection.
            self.abort()
            wait = self.reply_timeout if timeout == -1.0 else timeout
            raise ReplyTimeout(f"reply timeout: no reply within {wait:g}s") from None
        except websocket.WebSocketConnectionClosedException:
            self.abort()
            raise ConnectionLost("connection lost: socket closed without a close frame") from None
        except (OSError, websocket.WebSocketException) as exc:
            self.abort()
            raise ConnectionLost(f"connection lost: {type(exc).__name__}") from None
        finally:
            if timeout != -1.0 and self.ws is not None:
                self.ws.settimeout(self.reply_timeout)

    def close(self, code: int = 1000) -> None:
        """Close politely (close frame, up to CLOSE_WAIT s for the server's), never raising an Exception.

        Not websocket-client's `WebSocket.close`: its bare `except: pass` swallows gevent's
        GreenletExit, so a user that Locust stops while it waits there for the server's close frame
        keeps running and the run never ends. Here GreenletExit (a BaseException) goes through.
        """
        ws, self.ws = self.ws, None
        if ws is None:
            return
        try:
            frame = _frame(ABNF.OPCODE_CLOSE, struct.pack("!H", code))
            while frame:
                frame = frame[ws._send(frame) :]
            ws.settimeout(CLOSE_WAIT)
            deadline = time.monotonic() + CLOSE_WAIT
            while time.monotonic() < deadline and ws.recv_frame().opcode != ABNF.OPCODE_CLOSE:
                pass
        except Exception:  # noqa: BLE001, S110 - closing must never fail a user; the socket goes anyway
            pass
        finally:
            ws.shutdown()

    def abort(self) -> None:
        """Drop the socket without a close handshake."""
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.shutdown()

    def _require(self) -> websocket.WebSocket:
        if self.ws is None:
            raise ConnectionLost("connection lost: not connected")
        return self.ws


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2), as websocket-client's ABNF.format makes it."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, length)
    # Section 5.3: a fresh, unpredictable 32-bit key per frame (websocket-client uses os.urandom too).
    mask = os.urandom(4)
    key = mask * (length // 4) + mask[: length % 4]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")
    return head + mask + masked


def _closed(data: bytes) -> ClosedByServer:
    # RFC 6455 section 5.5.1: an optional 2-byte status code, then an optional UTF-8 reason.
    if len(data) >= 2:
        (code,) = struct.unpack("!H", data[:2])
        return ClosedByServer(code, data[2:].decode("utf-8", "replace"))
    return ClosedByServer(None)
