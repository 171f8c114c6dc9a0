"""A websocket client for load users: every failure classified, every round trip as cheap as we can make it.

The opening handshake is websocket-client's (`create_connection`: headers, Origin, proxies, TLS);
the subprotocol the server picked is checked here (`SubprotocolRejected`).
After it, frames go straight over the socket through `chanload.wire.framing`: under gevent the wait for
a reply is one event-loop wait on the socket with one reusable timer for the reply timeout, so a
round trip costs a send, a wait and a read (benchmarks/README.md, "cost", has the measurements).
Outside gevent (the unit tests) the same code waits with plain socket timeouts.

Each failure a user can meet is one exception class whose message says what happened in words a
user understands; Locust groups failures by that message, so it carries no per-request ids.
"""

from __future__ import annotations

import errno
import platform
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import websocket
from websocket import _http as ws_http  # its TCP (+ proxy) and TLS set-up, before the handshake reads our socket

from chanload.exceptions import (
    CertificateRejected,
    ClosedByServer,
    ConnectionLost,
    ConnectionRefused,
    HandshakeRejected,
    HandshakeTimeout,
    MessageTooBig,
    OptionError,
    ProtocolError,
    ReplyTimeout,
    SubprotocolRejected,
)
from chanload.wire import framing
from chanload.wire.concurrency import green, yielder
from chanload.wire.defaults import DEFAULTS

READ_SIZE = 16384  # bytes asked of the socket per read: one read brings a whole reply, or several
HANDSHAKE_ANSWER = 64 * 1024  # bytes the server's answer to the upgrade may have (status line and headers)
CLOSE_WAIT = 1.0  # seconds to wait for the server's close frame (RFC 6455 section 7.1.1)

# The kernel's receive timestamp (socket(7) SO_TIMESTAMPNS, CLOCK_REALTIME in ns) says when a reply
# reached this machine's socket, whatever the generator was busy with then. Python does not name the
# option; 35 is its value in asm-generic/socket.h (SCM_TIMESTAMPNS is the same number), which the
# architectures below use. Elsewhere (alpha, parisc, sparc, other systems) replies are timed when read.
_GENERIC_ABI = ("x86_64", "i386", "i686", "aarch64", "arm", "ppc64le", "ppc64", "s390x", "riscv64")
SO_TIMESTAMPNS = (
    getattr(socket, "SO_TIMESTAMPNS", 35)
    if sys.platform.startswith("linux") and platform.machine().startswith(_GENERIC_ABI)
    else getattr(socket, "SO_TIMESTAMPNS", None)
)
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if SO_TIMESTAMPNS is not None else 0


class _Expired(BaseException):
    """Thrown into a greenlet by its reply timer; caught in WsClient and turned into ReplyTimeout."""


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
        self._gevent: _GeventWait | None = None
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
        deadline = _Deadline(ws, self.connect_timeout)
        sock = None
        try:
            with deadline:
                sock, _ = ws_http.connect(self.url, ws.sock_opt, ws_http.proxy_info(), None)  # TCP, proxy, TLS
                ws.connect(self.url, header=self._handshake_headers(), socket=_Answer(sock, deadline.at))
                ws.sock = sock  # the socket itself from now on, not the reader of the answer
        except BaseException as exc:
            ws.shutdown()
            if sock is not None and ws.sock is None:
                sock.close()
            raise self._handshake_error(exc, deadline.fired) from None
        self._opened(ws)

    def _handshake_error(self, exc: BaseException, expired: bool) -> BaseException:
        """What a failed handshake raises: a WsError that says what happened (anything else as it is)."""
        if expired or isinstance(exc, _Expired | TimeoutError | websocket.WebSocketTimeoutException):
            return HandshakeTimeout(f"handshake timeout: no answer within {self.connect_timeout:g}s")
        if isinstance(exc, websocket.WebSocketBadStatusException):
            return HandshakeRejected(exc.status_code, _phrase(exc.status_code))  # never the server's own words
        if isinstance(exc, ssl.SSLCertVerificationError):
            return CertificateRejected(self.server, exc.verify_message or str(exc))
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
            return ConnectionRefused(f"connection refused: nothing listens at {self.server}")
        if isinstance(exc, websocket.WebSocketConnectionClosedException):
            return ConnectionLost("connection lost: the server closed the socket during the handshake")
        if isinstance(exc, _AnswerTooLong):
            return ConnectionLost(f"connection lost during handshake: an answer longer than {HANDSHAKE_ANSWER} bytes")
        if isinstance(exc, OSError):
            return ConnectionLost(f"connection lost during handshake: {type(exc).__name__}")
        if isinstance(exc, websocket.WebSocketException):
            # websocket-client's words up to the server's own (which may differ on every connection: Locust would
            # keep one failure row for each), e.g. "Invalid header line: b'...'" -> "Invalid header line".
            said = str(exc).split(":")[0].strip()[:80] or type(exc).__name__
            return ConnectionLost(f"connection lost during handshake: {said}")
        return exc  # GreenletExit, KeyboardInterrupt, a bug: not a failure of the server's

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
        self._gevent = None if tls else _GeventWait.of(sock, self.reply_timeout)
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
                closed = _closed(payload)
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
                    raise ReplyTimeout(f"reply timeout: no reply within {full:g}s")

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
        except _Expired:
            # A late reply would put the conversation out of step: drop this connection.
            self.abort()
            whole = full or (self.reply_timeout if timeout == -1.0 or wait is None else timeout)
            raise ReplyTimeout(f"reply timeout: no reply within {whole:g}s") from None
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
                        raise _Expired
                    sock.settimeout(left)
                else:
                    sock.settimeout(None)
                try:
                    if self._recvmsg:
                        data, ancdata, _flags, _addr = sock.recvmsg(READ_SIZE, _ANCILLARY)
                    else:
                        data, ancdata = sock.recv(READ_SIZE), []
                except TimeoutError:
                    raise _Expired from None
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
        # Realtime first, then perf_counter: if this process is preempted between the two reads, the
        # stamp converts to a later perf_counter time, never an earlier one (a reply is never timed
        # faster than it was).
        now_ns = time.time_ns()
        now = time.perf_counter()
        self.arrival, self.arrival_ns = now, now_ns
        for level, kind, blob in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(blob) >= _TIMESPEC.size:
                seconds, nanos = _TIMESPEC.unpack_from(blob)
                stamp = seconds * 1_000_000_000 + nanos
                if stamp <= now_ns:  # same clock; a step of it in between would make it later than now
                    self.arrival, self.arrival_ns = now - (now_ns - stamp) / 1e9, stamp
        self._decoder.feed(data)
        return self._decoder.next()

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost("connection lost: not connected")
        return self._sock


class _Eof(Exception):
    """The server closed the TCP connection."""


class _AnswerTooLong(Exception):
    """The server's answer to the upgrade went past HANDSHAKE_ANSWER bytes."""


class _Answer:
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
            raise _AnswerTooLong
        if self._yield is not None and self.read % 4096 == 0:
            self._yield()
        self.sock.settimeout(left)
        return self.sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Deadline:
    """`with _Deadline(ws, seconds)`: the block gets `seconds` in all. Under gevent a timer throws _Expired into
    the greenlet; without it a timer thread shuts `ws`'s socket down, which ends the read it blocks in
    (`fired` says so)."""

    def __init__(self, ws: websocket.WebSocket, seconds: float) -> None:
        self.ws = ws
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.fired = False
        self._timer: Any = None  # a gevent Timeout or a threading.Timer

    def __enter__(self) -> _Deadline:
        if green():
            import gevent

            timeout = gevent.Timeout(self.seconds, _Expired)
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


class _GeventWait:
    """Waiting on a gevent socket the cheap way: straight on its read watcher, one reusable reply timer.

    gevent's own `socket.recv` first tries a read that fails with EAGAIN (a syscall and an exception),
    then builds a `Timeout` for each wait. Right after a send the reply is never there yet, so here
    the greenlet waits for readability first, and the reply timer is created once per connection.
    """

    def __init__(self, sock, reply_timeout: float) -> None:
        from gevent import getcurrent  # only ever reached with gevent in use

        self._getcurrent = getcurrent
        self._raw = sock._sock  # the non-blocking OS-level socket under gevent's wrapper
        self._io = sock._read_event
        self._hub = sock.hub
        # libev keeps a stopped timer's remaining time; `again` re-arms it to the full `repeat` value.
        self._reply_timer = self._hub.loop.timer(reply_timeout, reply_timeout)

    @classmethod
    def of(cls, sock, reply_timeout: float) -> _GeventWait | None:
        """A waiter for `sock` if it is a gevent socket (Locust monkey-patches sockets), else None."""
        if type(sock).__module__.startswith("gevent") and hasattr(sock, "_read_event"):
            return cls(sock, reply_timeout)
        return None

    def send(self, frame: bytes) -> int:
        """Bytes of `frame` the kernel took without waiting."""
        try:
            return self._raw.send(frame)
        except BlockingIOError:
            return 0

    def read_frame(self, feed, wait: float | None, is_reply_timeout: bool) -> tuple[int, bytes]:
        """Wait for the socket and read until `feed` returns a frame; `_Expired` is thrown in after `wait` s."""
        timer = None
        if wait is not None and is_reply_timeout:
            timer = self._reply_timer
            timer.again(self._getcurrent().throw, _Expired, update=True)
        elif wait is not None:
            timer = self._hub.loop.timer(wait)
            timer.start(self._getcurrent().throw, _Expired, update=True)
        try:
            while True:
                self._hub.wait(self._io)
                try:
                    data, ancdata, _flags, _addr = self._raw.recvmsg(READ_SIZE, _ANCILLARY)
                except BlockingIOError:
                    continue  # a spurious wake-up
                frame = feed(data, ancdata)
                if frame is not None:
                    return frame
        finally:
            if timer is not None:
                timer.stop()
                if timer is not self._reply_timer:
                    timer.close()


def _closed(data: bytes) -> ClosedByServer | ConnectionLost:
    """A close frame's meaning: RFC 6455 section 5.5.1, an optional 2-byte status code, then an optional UTF-8
    reason. A 1-byte payload, or a code that may not be sent (section 7.4: under 1000, 1004-1006, 1015, 1016-2999,
    5000 and over) is a protocol error."""
    if not data:
        return ClosedByServer(None)
    if len(data) == 1:
        return ConnectionLost("connection lost: protocol error: a close frame with a 1-byte payload")
    (code,) = struct.unpack("!H", data[:2])
    if not (1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999):
        return ConnectionLost("connection lost: protocol error: a close frame with a code that may not be sent")
    return ClosedByServer(code, data[2:].decode("utf-8", "replace"))


def _phrase(status: int) -> str:
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
