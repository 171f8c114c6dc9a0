"""RFC 6455 framing for a client: masked frames out, server frames in, messages reassembled.

The hot path of every round trip, so it is small and straight: one frame out is a header, a mask
key and the masked payload; frames in are parsed from one buffer that socket reads are appended to.
"""

from __future__ import annotations

import os
import struct

from chanload.exceptions import ClosedByServer, ConnectionLost, MessageTooBig, ProtocolError

Frame = str | bytes  # a text message, or a binary one

# The largest frame, or message reassembled from fragments, a client takes (--ws-max-message). uvicorn's own
# default for what it accepts (--ws-max-size); 16 times Daphne's (--websocket-max-message-size, 1 MiB) and the
# websockets library's (max_size): room for any message a Channels app sends in practice, while a server gone
# wrong costs a generator process at most about three times it per connection at once (docs/running.md).
MAX_MESSAGE = 16 * 1024 * 1024

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

_MASK_POOL = 4096  # bytes of os.urandom per refill: one getrandom() call per 1024 frames, not per frame


class _Masks:
    """Mask keys from the kernel's CSPRNG (RFC 6455 section 5.3: unpredictable), drawn in blocks."""

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def take(self) -> bytes:
        pos = self._pos
        if pos + 4 > len(self._pool):
            self._pool, pos = os.urandom(_MASK_POOL), 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


masks = _Masks()


def encode(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final, masked client frame (section 5.2), byte for byte what websocket-client's ABNF.format makes."""
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, length)
    if mask is None:
        mask = masks.take()
    key = mask * (length // 4) + mask[: length % 4]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")
    return head + mask + masked


class Decoder:
    """Bytes in (`feed`), whole messages and control frames out (`next`).

    `next` returns (opcode, payload): TEXT or BINARY with a fragmented message already reassembled,
    or a control frame (CLOSE, PING, PONG), which may arrive between a message's fragments.

    Bounded: a frame whose header announces more than `max_message` bytes, or a fragment that would take
    the message past it, raises MessageTooBig as the header is read, before its payload is buffered. So
    the buffer never holds more than one frame up to `max_message` and the bytes of one read.
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.buffer = bytearray()
        self.max_message = max_message
        self._fragments: bytearray | None = None  # one buffer: a flood of tiny fragments costs no object each
        self._fragment_opcode = 0
        self._fragment_size = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def ready(self) -> bool:
        """Whether a whole frame is buffered already (the next `next()` decodes it without more bytes)."""
        buf = self.buffer
        have = len(buf)
        if have < 2:
            return False
        length, head = buf[1] & 0x7F, 2
        if length == 126:
            if have < 4:
                return False
            length, head = (buf[2] << 8) | buf[3], 4
        elif length == 127:
            if have < 10:
                return False
            length, head = int.from_bytes(buf[2:10], "big"), 10
        return have >= head + length

    def next(self) -> tuple[int, bytes] | None:
        """The next message or control frame, or None until more bytes are fed."""
        while True:
            frame = self._frame()
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode >= CLOSE:
                return opcode, payload
            if opcode == CONTINUATION:
                if self._fragments is None:
                    raise ProtocolError("continuation frame with no message to continue")
                self._fragments += payload
                self._fragment_size += len(payload)
                if fin:
                    whole, self._fragments, self._fragment_size = bytes(self._fragments), None, 0
                    return self._fragment_opcode, whole
                continue
            if opcode not in (TEXT, BINARY):
                raise ProtocolError(f"unknown opcode {opcode:#x}")
            if self._fragments is not None:
                raise ProtocolError("new message before the previous one's last fragment")
            if fin:
                return opcode, payload
            self._fragments, self._fragment_opcode, self._fragment_size = bytearray(payload), opcode, len(payload)

    def _frame(self) -> tuple[bool, int, bytes] | None:
        buf = self.buffer
        have = len(buf)
        if have < 2:
            return None
        first, length = buf[0], buf[1]
        if length & 0x80:
            raise ProtocolError("masked frame from the server", "5.1")
        if first & 0x70:
            raise ProtocolError("reserved bits set with no extension negotiated")
        head = 2
        if length == 126:
            if have < 4:
                return None
            length, head = (buf[2] << 8) | buf[3], 4
        elif length == 127:
            if have < 10:
                return None
            length, head = int.from_bytes(buf[2:10], "big"), 10
        opcode = first & 0x0F
        if opcode >= CLOSE:  # checked on the header too: a huge "ping" is refused before it is buffered
            if not first & 0x80 or length > 125:
                raise ProtocolError("control frame fragmented or longer than 125 bytes")
        elif length + (self._fragment_size if opcode == CONTINUATION else 0) > self.max_message:
            raise MessageTooBig(self.max_message, length + (self._fragment_size if opcode == CONTINUATION else 0))
        end = head + length
        if have < end:
            return None
        payload = bytes(buf[head:end])
        del buf[:end]
        return bool(first & 0x80), opcode, payload


def close_error(data: bytes) -> ClosedByServer | ConnectionLost:
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
