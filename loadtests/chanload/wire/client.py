"""A websocket client for load users: every failure classified, every round trip as cheap as we can make it.

The opening handshake is websocket-client's (`create_connection`: headers, Origin, proxies, TLS);
the subprotocol the server picked is checked here (`SubprotocolRejected`).
After it, frames go straight over the socket through `chanload.wire.framing`: under gevent the wait for
a reply is one event-loop wait on the socket with one reusable timer for the reply timeout, so a
round trip costs a send, a wait and a read (benchmarks/README.md, "cost", has the measurements).
Outside gevent (the unit tests) the same code waits with plain socket timeouts.

Its rooms: the handshake's pieces (`chanload.wire.handshake`), waiting and arrival stamps
(`chanload.wire.waiting`), frames and what a close frame means (`chanload.wire.framing`, no I/O).

Each failure a user can meet is one exception class whose message says what happened in words a
user understands; Locust groups failures by that message, so it carries no per-request ids.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from urllib.parse import urlsplit

import websocket
from websocket import _http as ws_http  # its TCP (+ proxy) and TLS set-up, before the handshake reads our socket

from chanload.exceptions import (
    ConnectionLost,
    MessageTooBig,
    ProtocolError,
    ReplyTimeout,
    SubprotocolRejected,
)
from chanload.wire import framing
from chanload.wire.defaults import DEFAULTS
from chanload.wire.framing import close_error
from chanload.wire.framing import close_error as _closed  # noqa: F401 - an older name, kept for its tests
from chanload.wire.handshake import (
    Answer,
    Deadline,
    Expired,
    handshake_error,
)
from chanload.wire.handshake import subprotocol_names as subprotocol_names
from chanload.wire.handshake import tls_options as tls_options
from chanload.wire.waiting import ANCILLARY, READ_SIZE, SO_TIMESTAMPNS, GeventWait, stamp

CLOSE_WAIT = 1.0  # seconds to wait for the server's close frame (RFC 6455 section 7.1.1)


class WsClient:
    """One websocket connection. `connect`, `send` and `recv` raise only `WsError` subclasses."""

    keep_answer = False  # keep the handshake's answer after connect (`ws.getheaders()`): the trace prints it

    def __init__(
        self,
        url: str,
        *,
        # Timeouts
        connect_timeout: float = DEFAULTS.connect_timeout,
        reply_timeout: float = DEFAULTS.reply_timeout,
        # Handshake
        headers: list[str] | None = None,
        subprotocols: list[str] | None = None,
        # Limits and TLS
        max_message: int = framing.MAX_MESSAGE,
        tls: dict | None = None,
    ) -> None:
        self.url = url
        # Failure messages name the server, never the path: Locust groups failures by message, and
        # a path with a room or an id in it would make one row per room.
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        self.server = f"{host}:{parts.port or (443 if parts.scheme == 'wss' else 80)}"
        self.subprotocols = subprotocols or []
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.headers = headers or []
        self.max_message = max_message
        self.tls = tls  # websocket-client's sslopt for wss:// (ca_certs, or cert_reqs CERT_NONE); None: its defaults
        self.ws: websocket.WebSocket | None = None
        self._decoder = framing.Decoder(max_message)
        self._sock: socket.socket | None = None
        self._gevent: GeventWait | None = None
        self._recvmsg = False  # read with recvmsg() and take the kernel's stamps (not on TLS sockets)
        # When the bytes that completed the last message returned by recv() arrived: perf_counter
        # seconds and CLOCK_REALTIME ns; from the kernel's receive timestamp when there is one.
        self.arrival = 0.0
        self.arrival_ns = 0

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def connect(self) -> None:
        """The opening handshake, all of it (TCP, TLS, the upgrade) within `connect_timeout` s.

        websocket-client's timeout is per socket read, so a server that trickles its answer a byte at a time
        would never time out; here one deadline covers the whole: a gevent timer under gevent, else a timer
        thread that shuts the socket down.
        """
        ws = websocket.WebSocket(sslopt=self.tls, enable_multithread=False)
        ws.settimeout(self.connect_timeout)
        deadline = Deadline(ws, self.connect_timeout)
        sock = None
        try:
            with deadline:
                sock, _ = ws_http.connect(self.url, ws.sock_opt, ws_http.proxy_info(), None)  # TCP, proxy, TLS
                ws.connect(self.url, header=self._handshake_headers(), socket=Answer(sock, deadline.at))
                ws.sock = sock  # the socket itself from now on, not the reader of the answer
        except BaseException as exc:
            ws.shutdown()
            if sock is not None and ws.sock is None:
                sock.close()
            raise handshake_error(exc, deadline.fired, self.connect_timeout, self.server) from None
        self._opened(ws)

    def _opened(self, ws: websocket.WebSocket) -> None:
        # websocket-client reads the handshake answer byte by byte, so nothing after it is consumed yet.
        sock = ws.sock
        if sock is None:  # websocket-client drops its socket when the handshake fails without raising
            raise ConnectionLost("connection lost during handshake: the socket was closed")
        if (ws.getheaders() or {}).get("sec-websocket-extensions"):  # none is offered: section 4.1, fail it
            ws.shutdown()
            raise ConnectionLost("connection lost during handshake: the server named an extension that was not offered")
        if self.subprotocols:
            picked = (ws.getheaders() or {}).get("sec-websocket-protocol")
            if picked not in self.subprotocols:
                ws.shutdown()  # RFC 6455 section 4.1: fail the connection, no close handshake
                raise SubprotocolRejected(self.subprotocols, picked)
        sock.settimeout(self.reply_timeout)
        self._sock = sock
        self._decoder = framing.Decoder(self.max_message)
        # wss://: the bytes must go through the TLS layer (its recv), so no raw-socket fast path, and
        # no kernel stamps (recvmsg does not exist there): arrival is read when the read returns.
        tls = hasattr(sock, "cipher")
        self._recvmsg = False
        if SO_TIMESTAMPNS is not None and not tls:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._recvmsg = True
            except OSError:
                pass  # no kernel stamps: arrival is read off the clock when the read returns
        self._gevent = None if tls else GeventWait.of(sock, self.reply_timeout)
        if not self.keep_answer:
            ws.handshake_response = None  # its headers: half a KB a socket, read only above
        # Framing is ours from here: websocket-client's frame reader, continuation state and locks go too.
        ws.frame_buffer = ws.cont_frame = ws.lock = ws.readlock = None  # type: ignore[assignment]
        self.ws = ws

    def _handshake_headers(self) -> list[str]:
        """The extra handshake headers: --ws-header's, then the subprotocols offered, in order.

        The subprotocols go as a header of ours, not as websocket-client's `subprotocols`: its check of
        the answer raises a bare "Invalid WebSocket Header" that does not say what the server picked,
        and compares names ignoring case, where a browser compares them exactly. `connect` checks the
        answer instead.
        """
        if not self.subprotocols:
            return self.headers
        return [*self.headers, "Sec-WebSocket-Protocol: " + ", ".join(self.subprotocols)]

    def send(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._send_frame(framing.BINARY, message)
        else:
            self._send_frame(framing.TEXT, message.encode("utf-8"))

    def recv(self, timeout: float | None = -1.0) -> str | bytes:
        """The next text or binary message. `timeout` -1 means the reply timeout; None waits forever.

        The timeout is a deadline from the call: pings, pongs and fragments arriving meanwhile do not extend
        it. Pings are answered (section 5.5.2), but of several read together only the last (section 5.5.3
        allows it), so a flood of them owes at most one pong.
        """
        began = time.perf_counter()
        wait = timeout  # the first wait: the connection's reusable reply timer when -1
        full = None  # the whole timeout, for the failure's message, once `wait` is what is left of it
        while True:
            opcode, payload = self._next_frame(wait, full)
            if opcode == framing.TEXT:
                try:
                    return payload.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail(1007)  # section 8.1: invalid UTF-8 fails the connection, 1007
                    raise ConnectionLost("connection lost: protocol error: invalid UTF-8 in a text message") from None
            if opcode == framing.BINARY:
                return payload
            if opcode == framing.CLOSE:
                closed = close_error(payload)
                # Section 5.5.1: a close frame is answered with one (its code echoed), then the socket goes.
                self._fail(1002 if isinstance(closed, ConnectionLost) else closed.code or 1000)
                raise closed
            if opcode == framing.PING and not self._decoder.ready():
                self._send_frame(framing.PONG, payload)  # the latest ping read, with its payload
            if timeout is not None:  # what is left of the deadline, for the next wait
                full = self.reply_timeout if timeout == -1.0 else timeout
                wait = full - (time.perf_counter() - began)
                if wait <= 0:
                    self.abort()  # a late reply would put the conversation out of step
                    raise ReplyTimeout(full)

    def close(self, code: int = 1000) -> None:
        """Close politely (close frame, up to CLOSE_WAIT s for the server's), never raising an Exception.

        Never websocket-client's `WebSocket.close`: its bare `except: pass` swallows gevent's
        GreenletExit, so a user that Locust stops while it waits there for the server's close frame
        keeps running and the run never ends. Here GreenletExit (a BaseException) goes through.
        """
        if self.ws is None:
            return
        try:
            self._send_frame(framing.CLOSE, struct.pack("!H", code))
            deadline = time.monotonic() + CLOSE_WAIT
            while self.ws is not None and (left := deadline - time.monotonic()) > 0:
                if self._next_frame(left)[0] == framing.CLOSE:
                    break
        except Exception:  # closing must never fail a user; the socket goes anyway
            pass
        finally:
            self.abort()

    def _fail(self, code: int) -> None:
        """Fail the connection (section 7.1.7): a close frame with `code` if the socket takes it now, then drop it."""
        frame = framing.encode(framing.CLOSE, struct.pack("!H", code))
        try:
            if self._gevent is not None:
                self._gevent.send(frame)
            elif self._sock is not None:
                self._sock.settimeout(0.0)
                self._sock.send(frame)
        except OSError:
            pass  # the server's buffer is full, or it is gone: the close frame is not owed to it then
        self.abort()

    def ready(self, timeout: float) -> bool:
        """Whether `recv` would return without waiting for long: bytes buffered, or the socket readable within
        `timeout` s. True too when not connected (any more), or closed under us: `recv` then says how."""
        if self._decoder.buffer:
            return True
        sock = self._sock
        if sock is None:
            return True
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return True  # TLS: bytes decrypted already, the socket itself may have none left
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def abort(self) -> None:
        """Drop the socket without a close handshake."""
        ws, self.ws, self._sock = self.ws, None, None
        if ws is not None:
            ws.shutdown()

    # Frames

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        sock = self._require()
        frame = framing.encode(opcode, payload)
        try:
            if self._gevent is not None:
                sent = self._gevent.send(frame)  # no wait at all while the socket has room
                if sent < len(frame):
                    sock.sendall(frame[sent:])  # the rest under gevent, within the socket timeout
            else:
                sock.sendall(frame)  # plain or TLS, under the socket timeout
        except TimeoutError:
            self.abort()
            raise ConnectionLost(
                f"connection lost: a send stayed blocked for {self.reply_timeout:g}s (the server is not reading)"
            ) from None
        except OSError as exc:
            self.abort()
            raise ConnectionLost(f"connection lost while sending: {type(exc).__name__}") from None

    def _next_frame(self, timeout: float | None, full: float | None = None) -> tuple[int, bytes]:
        """The next message or control frame, waiting up to `timeout` s (-1: the reply timeout) for it; `full`, when
        `timeout` is what is left of a longer one, is that one (the reply timeout's message names it)."""
        try:
            frame = self._decoder.next()
            if frame is not None:
                return frame
            self._require()
            wait = self.reply_timeout if timeout == -1.0 else timeout
            if self._gevent is not None:
                return self._gevent.read_frame(self._feed, wait, timeout == -1.0)
            return self._read_frame_blocking(wait)
        except Expired:
            # A late reply would put the conversation out of step: drop this connection.
            self.abort()
            whole = full or (self.reply_timeout if timeout == -1.0 or wait is None or timeout is None else timeout)
            raise ReplyTimeout(whole) from None
        except MessageTooBig:
            self._fail(1009)  # section 7.4.1: "message too big"; its payload is never read
            raise
        except ProtocolError as exc:
            self.abort()
            raise ConnectionLost(f"connection lost: protocol error: {exc}") from exc  # the frame's fault, kept
        except _Eof:
            self.abort()
            raise ConnectionLost("connection lost: socket closed without a close frame") from None
        except OSError as exc:
            self.abort()
            raise ConnectionLost(f"connection lost: {type(exc).__name__}") from None

    def _read_frame_blocking(self, wait: float | None) -> tuple[int, bytes]:
        """Without gevent, or over TLS: read under the socket's timeout until a frame is whole, within `wait` s."""
        sock = self._require()
        deadline = None if wait is None else time.monotonic() + wait
        try:
            while True:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Expired
                    sock.settimeout(left)
                else:
                    sock.settimeout(None)
                try:
                    if self._recvmsg:
                        data, ancdata, _flags, _addr = sock.recvmsg(READ_SIZE, ANCILLARY)
                    else:
                        data, ancdata = sock.recv(READ_SIZE), []
                except TimeoutError:
                    raise Expired from None
                frame = self._feed(data, ancdata)
                if frame is not None:
                    return frame
        finally:
            if self._sock is not None:
                sock.settimeout(self.reply_timeout)

    def _feed(self, data: bytes, ancdata: list) -> tuple[int, bytes] | None:
        """Bytes just read: stamp their arrival, decode, return a frame if one is now whole."""
        if not data:
            raise _Eof
        self.arrival, self.arrival_ns = stamp(ancdata)
        self._decoder.feed(data)
        return self._decoder.next()

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost("connection lost: not connected")
        return self._sock


class _Eof(Exception):
    """The server closed the TCP connection."""
