"""A websocket server that misbehaves on purpose, one way per path: the generator's hostile-server matrix.

    python -m tests.apps.hostile --port PORT [--lifetime S]   (loopback only; tests/test_hostile.py starts it)

`GET /bad/<case>/<group>` (or `/<case>/<group>`): the websocket handshake, then the case's misbehaviour, on
asyncio, every connection served at once. The RFC 6455 handshake is done here (the accept key and the
frames are tests/apps/rawws.py's). `GET /stats` answers JSON: per case, the connections, the messages
read, the pongs read, and the close codes the client sent ("close 1009": 3).

Nothing runs without end: a case that streams (a message without end, a ping flood) stops when a write
fails or the client's side of the socket ends, and every connection is cut after LIFETIME seconds anyway
(--lifetime: longer than the run that uses it, so that a served connection is never cut mid-run).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import signal
import socket
import struct
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable

from tests.apps.rawws import GUID, frame

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KIB, MIB = 1 << 10, 1 << 20
LIFETIME = 30.0  # seconds a connection lives at most, whatever its case does
REQUEST_LIMIT = 16 * KIB  # bytes of handshake request read at most
CHUNK = b"x" * (64 * KIB)
BATCH = 256  # small frames per write in the floods: as fast as the socket takes them, with few syscalls

STATS: dict[str, Counter] = defaultdict(Counter)
OPEN: set[asyncio.StreamWriter] = set()  # the connections open now, dropped at the server's stop


class Gone(Exception):
    """The client went away (EOF, reset) or the connection's time is up."""


class Conn:
    """One client connection: its handshake request, frames in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, case: str, key: bytes) -> None:
        self.reader = reader
        self.writer = writer
        self.case = case
        self.key = key
        self.stats = STATS[case]
        self._listener: asyncio.Task | None = None

    # Out

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise Gone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise Gone from exc

    def accept_answer(self, extra: bytes = b"", accept: bytes | None = None) -> bytes:
        """The 101 answer: `extra` header lines ('Name: value\\r\\n' each); `accept` instead of the right key."""
        good = base64.b64encode(hashlib.sha1(self.key + GUID).digest())  # RFC 6455 section 4.2.2: SHA-1
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + (good if accept is None else accept) + b"\r\n" + extra + b"\r\n"
        )

    async def accept(self, extra: bytes = b"") -> None:
        await self.send(self.accept_answer(extra))

    # In

    async def read_frame(self) -> tuple[int, bytes]:
        """One client frame, unmasked; Gone at EOF. Pongs are counted and close frames recorded here too."""
        try:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            if length > MIB:
                raise Gone  # a client frame this large is not one of ours
            key = await self.reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            data = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            raise Gone from exc
        opcode = first & 0x0F
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data)) if length <= 125 else _unmask(data, key)
        if opcode == PONG:
            self.stats["pongs"] += 1
        elif opcode == CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            self.stats[f"close {code}"] += 1
        elif opcode in (TEXT, BINARY):
            self.stats["messages"] += 1
        return opcode, payload

    def listen(self) -> None:
        """Read the client's frames in the background from now on: messages go to `next_message`, pings are
        answered; at the client's close frame or EOF the connection is dropped, so that a case still writing
        gets Gone at its next write."""

        async def run() -> None:
            try:
                while True:
                    opcode, payload = await self.read_frame()
                    if opcode in (TEXT, BINARY):
                        self._inbox.put_nowait(payload)
                    elif opcode == PING:
                        await self.send(frame(PONG, payload))
                    elif opcode == CLOSE:
                        break
            except Gone:
                pass
            self._inbox.put_nowait(None)
            self.writer.transport.abort()

        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._listener = asyncio.ensure_future(run())

    async def next_message(self) -> bytes:
        """The client's next text or binary message; Gone once it closed or went."""
        if self._listener is None:
            self.listen()
        message = await self._inbox.get()
        if message is None:
            self._inbox.put_nowait(None)  # every later call is Gone too
            raise Gone
        return message

    async def until_gone(self) -> None:
        """Drop whatever the client sends until it goes (or LIFETIME passes)."""
        with contextlib.suppress(Gone, TimeoutError):
            async with asyncio.timeout(LIFETIME):
                while True:
                    await self.next_message()

    async def serve_ok(self, reply: Callable[[bytes], bytes] = lambda _m: frame(TEXT, b"OK")) -> None:
        """Answer each message with `reply(message)` until the client goes."""
        while True:
            await self.send(reply(await self.next_message()))

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        self.writer.transport.abort()


def _unmask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")


# --- the cases: each gets the connection after the handshake request was read, and answers it (or not) ---

Case = Callable[[Conn], Awaitable[None]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(func: Case) -> Case:
        CASES[name] = func
        return func

    return register


@case("ok")
async def ok(c: Conn) -> None:
    """A good server: OK to every message (the control case)."""
    await c.accept()
    await c.serve_ok()


@case("fragbomb")
async def fragbomb(c: Conn) -> None:
    """After the first message: a text message in 64 KiB fragments, never the last one."""
    await c.accept()
    await c.next_message()
    await c.send(frame(TEXT, CHUNK, fin=False))
    more = frame(CONT, CHUNK, fin=False)
    while True:  # ends when a write fails: the client dropped the socket (or LIFETIME)
        await c.send(more)


@case("bigtext")
async def bigtext(c: Conn) -> None:
    """Each message answered with one valid 64 MiB text message (written 64 KiB at a time)."""
    await c.accept()
    size = 64 * MIB
    while True:
        await c.next_message()
        c.stats["big sent"] += 1
        await c.send(struct.pack("!BBQ", 0x80 | TEXT, 127, size))
        for _ in range(size // len(CHUNK)):  # bounded: 1024 writes
            await c.send(CHUNK)


async def serve_ok_flooding(c: Conn, one: bytes, stat: str) -> None:
    """OK to every message while frame `one` goes out BATCH at a time, as fast as the socket takes them."""
    await c.accept()

    async def flood() -> None:
        batch = one * BATCH
        with contextlib.suppress(Gone):
            while True:  # ends when a write fails (or LIFETIME)
                await c.send(batch)
                c.stats[stat] += BATCH

    flooding = asyncio.ensure_future(flood())
    try:
        await c.serve_ok()
    finally:
        flooding.cancel()


@case("pingflood")
async def pingflood(c: Conn) -> None:
    """Pings as fast as the socket takes them, and OK to every message meanwhile."""
    await serve_ok_flooding(c, frame(PING, b""), "pings sent")


@case("pushflood")
async def pushflood(c: Conn) -> None:
    """64-byte text frames (2 header bytes, 62 of payload) as fast as the socket takes them, OK to every message."""
    await serve_ok_flooding(c, frame(TEXT, b"p" * 62), "pushes sent")


@case("hugeframe")
async def hugeframe(c: Conn) -> None:
    """After the first message: a text frame's header announcing 2^62 bytes, then 1 MiB/s of its payload."""
    await c.accept()
    await c.next_message()
    await c.send(struct.pack("!BBQ", 0x80 | TEXT, 127, 1 << 62))
    while True:  # ends when a write fails (or LIFETIME)
        await c.send(CHUNK)
        await asyncio.sleep(len(CHUNK) / MIB)


def _answer(reply: bytes) -> Case:
    """A case that answers each message with the bytes `reply` (one or more frames, broken as the case says)."""

    async def run(c: Conn) -> None:
        await c.accept()
        await c.serve_ok(lambda _m: reply)

    return run


CASES["badutf8"] = _answer(frame(TEXT, b"OK\xff"))  # 0xff never occurs in UTF-8
CASES["rsv1"] = _answer(frame(TEXT, b"OK", rsv=4))  # RSV1 (permessage-deflate's bit), nothing negotiated
CASES["contnostart"] = _answer(frame(CONT, b"OK"))
CASES["textinfrag"] = _answer(frame(TEXT, b"O", fin=False) + frame(TEXT, b"K"))
CASES["masked"] = _answer(frame(TEXT, b"OK", mask=True))
CASES["bigping"] = _answer(frame(PING, b"p" * 126) + frame(TEXT, b"OK"))
CASES["fragping"] = _answer(frame(PING, b"p", fin=False) + frame(TEXT, b"OK"))
CASES["opcode3"] = _answer(frame(0x3, b"OK"))  # a reserved non-control opcode


def _close_then(payload: bytes, after: bytes = b"") -> Case:
    """At the first message: a close frame with `payload`, then the bytes `after`; then read until the client goes."""

    async def run(c: Conn) -> None:
        await c.accept()
        await c.next_message()
        await c.send(frame(CLOSE, payload) + after)
        await c.until_gone()

    return run


CASES["close1byte"] = _close_then(b"\x03")
CASES["close1005"] = _close_then(struct.pack("!H", 1005))
CASES["close999"] = _close_then(struct.pack("!H", 999))
CASES["close5000"] = _close_then(struct.pack("!H", 5000))
CASES["closethendata"] = _close_then(struct.pack("!H", 1000) + b"bye", frame(TEXT, b"OK") * 4)


@case("closereason")
async def closereason(c: Conn) -> None:
    """At the first message: close 4000 with a reason that names the connection ("session 1f2e..."), as servers do."""
    await c.accept()
    await c.next_message()
    await c.send(frame(CLOSE, struct.pack("!H", 4000) + b"session " + secrets.token_hex(8).encode()))
    await c.until_gone()


@case("nohandshake")
async def nohandshake(c: Conn) -> None:
    """Reads the handshake request and never answers it."""
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        async with asyncio.timeout(LIFETIME):
            await c.reader.read()  # until the client gives up (EOF)


@case("slowhandshake")
async def slowhandshake(c: Conn) -> None:
    """Answers the handshake after 8 s (if the client is still there), then serves OK."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(8.0):
            if await c.reader.read(1) == b"":
                return  # the client gave up first
    await c.accept()
    await c.serve_ok()


@case("trickle101")
async def trickle101(c: Conn) -> None:
    """A correct 101 answer, one byte every 0.2 s (a whole one would take ~30 s)."""
    for byte in c.accept_answer():
        await c.send(bytes((byte,)))
        await asyncio.sleep(0.2)
    await c.serve_ok()


@case("http200")
async def http200(c: Conn) -> None:
    """Answers the upgrade with HTTP 200 and an HTML page."""
    body = b"<!doctype html><html><body><h1>Welcome</h1></body></html>\n"
    await c.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


@case("junkstatus")
async def junkstatus(c: Conn) -> None:
    """A status line that is not one (no number where the status goes), 8 KiB of it, different on every connection."""
    await c.send(b"HTTP/1.1 1O1 " + secrets.token_hex(4096).encode() + b"\r\n\r\n")


@case("longreason")
async def longreason(c: Conn) -> None:
    """HTTP 403 whose reason phrase is 8 KiB long and different on every connection."""
    reason = b"Forbidden " + secrets.token_hex(4096).encode()
    await c.send(b"HTTP/1.1 403 " + reason + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@case("endlessheaders")
async def endlessheaders(c: Conn) -> None:
    """A 101 status line, then header lines, each a new name, as fast as the socket takes them, never the blank line."""
    await c.send(b"HTTP/1.1 101 Switching Protocols\r\n")
    n = 0
    while True:  # ends when a write fails (or LIFETIME)
        lines = b"".join(b"X-Header-%d: %d\r\n" % (n + i, n + i) for i in range(BATCH))
        n += BATCH
        await c.send(lines)


@case("endlessstatus")
async def endlessstatus(c: Conn) -> None:
    """A status line that never ends: "HTTP/1.1 101 " and then letters, as fast as the socket takes them."""
    await c.send(b"HTTP/1.1 101 ")
    while True:  # ends when a write fails (or LIFETIME)
        await c.send(CHUNK)


@case("badextension")
async def badextension(c: Conn) -> None:
    """A 101 that names an extension the client did not offer (permessage-deflate), then OK to every message."""
    await c.accept(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    await c.serve_ok()


@case("early")
async def early(c: Conn) -> None:
    """A websocket frame before the 101 answer, then the answer and OK to every message."""
    await c.send(frame(TEXT, b"OK") + c.accept_answer())
    await c.serve_ok()


@case("eager")
async def eager(c: Conn) -> None:
    """The 101 and a ping in one write (legal: frames may follow the answer at once), then OK to every message."""
    await c.send(c.accept_answer() + frame(PING, b"hi"))
    await c.serve_ok()


@case("badaccept")
async def badaccept(c: Conn) -> None:
    """A 101 whose Sec-WebSocket-Accept is not the one for the client's key, then OK to every message."""
    await c.send(c.accept_answer(accept=base64.b64encode(hashlib.sha1(b"not the key" + GUID).digest())))
    await c.serve_ok()


@case("badsubproto")
async def badsubproto(c: Conn) -> None:
    """A 101 that picks the subprotocol `other`, whatever was offered, then OK to every message."""
    await c.accept(b"Sec-WebSocket-Protocol: other\r\n")
    await c.serve_ok()


@case("reset")
async def reset(c: Conn) -> None:
    """At the first message: a frame's header announcing 1000 bytes and 10 of them, then a TCP reset."""
    await c.accept()
    await c.next_message()
    await c.send(struct.pack("!BBH", 0x80 | TEXT, 126, 1000) + b"0123456789")
    await asyncio.sleep(0.05)  # let the bytes go out before the reset
    sock = c.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST
    c.writer.transport.abort()


@case("silent")
async def silent(c: Conn) -> None:
    """Accepts, then never sends anything (reads and drops what comes)."""
    await c.accept()
    await c.until_gone()


# --- the server ---


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn: Conn | None = None
    OPEN.add(writer)
    try:
        async with asyncio.timeout(LIFETIME):
            try:
                request = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = request.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            path = parts[1] if len(parts) == 3 else ""
            if path == "/stats":
                body = json.dumps({name: dict(counts) for name, counts in STATS.items()}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%b" % (len(body), body))  # fmt: skip
                await writer.drain()
                return
            segments = [s for s in path.split("?")[0].split("/") if s]
            if segments[:1] == ["bad"]:
                segments = segments[1:]
            name = segments[0] if segments else ""
            key = next(
                (
                    line.split(":", 1)[1].strip().encode()
                    for line in lines
                    if line.lower().startswith("sec-websocket-key:")
                ),
                b"",
            )
            run = CASES.get(name)
            if run is None or not key:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            conn = Conn(reader, writer, name, key)
            conn.stats["connections"] += 1
            await run(conn)
    except (Gone, TimeoutError, ConnectionError, OSError):
        pass  # the client went, or the connection's time is up
    finally:
        OPEN.discard(writer)
        if conn is not None:
            conn.stop()  # abort: a flood's unsent bytes are dropped, not flushed to a client that is gone
        else:
            writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=REQUEST_LIMIT, backlog=256)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    for writer in list(OPEN):  # no waiting for a case that streams or waits: each ends at its next read or write
        writer.transport.abort()
    for _ in range(100):  # bounded: 1 s for the cases to see it
        if not OPEN:
            break
        await asyncio.sleep(0.01)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=LIFETIME, help="seconds a connection lives at most")
    args = parser.parse_args()
    LIFETIME = args.lifetime
    asyncio.run(main(args.port))
