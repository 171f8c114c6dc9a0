"""A raw websocket client on a plain socket, for input no well-behaved client library will send.

Half-sent handshakes, invalid UTF-8, unmasked or reserved frames, resets mid-frame: the bad-input tests
script these byte by byte. Loopback only; every read has a timeout.
"""

from __future__ import annotations

import os
import socket
import struct

from tests.apps.rawws import frame

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3's sample key: the server must not care


def upgrade_request(port: int, path: str, origin: str | None = "", extra: bytes = b"") -> bytes:
    """The bytes of a websocket upgrade for `path`; origin "" means the page's own, None means no header."""
    if origin == "":
        origin = f"http://127.0.0.1:{port}"
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY.decode()}\r\nSec-WebSocket-Version: 13\r\n"
    ).encode()
    if origin is not None:
        head += f"Origin: {origin}\r\n".encode()
    return head + extra + b"\r\n"


def connect(port: int, timeout: float) -> socket.socket:
    """A TCP connection to 127.0.0.1:port whose reads time out after `timeout` seconds."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def response_head(sock: socket.socket) -> tuple[int, bytes]:
    """(HTTP status, the whole head) of the server's answer; status 0 if it closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    parts = head.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), head


def handshake(port: int, path: str, timeout: float, origin: str | None = "") -> tuple[socket.socket, int]:
    """Send an upgrade and read the answer: (socket, HTTP status), 101 when the websocket is open."""
    sock = connect(port, timeout)
    sock.sendall(upgrade_request(port, path, origin))
    status, _ = response_head(sock)
    return sock, status


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """A client frame, masked with a random key as RFC 6455 section 5.3 requires (unless `masked` is off)."""
    if not masked:
        return frame(opcode, payload, fin=fin)
    key = os.urandom(4)
    plain = frame(opcode, b"", fin=fin)[:1]  # the first byte: FIN, RSV, opcode
    if len(payload) < 126:
        plain += bytes((0x80 | len(payload),))
    elif len(payload) < 1 << 16:
        plain += struct.pack("!BH", 0x80 | 126, len(payload))
    else:
        plain += struct.pack("!BQ", 0x80 | 127, len(payload))
    return plain + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_server_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One server frame: (opcode, payload). ConnectionError if the server closed the TCP connection."""
    first, second = _exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _exactly(sock, 8))
    return first & 0x0F, _exactly(sock, length)


def close_code(sock: socket.socket, limit: int = 10_000) -> int:
    """The code of the server's close frame, skipping up to `limit` other frames; 1006 if none came."""
    for _ in range(limit):
        try:
            opcode, payload = read_server_frame(sock)
        except (ConnectionError, OSError):
            return 1006
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    raise AssertionError(f"no close frame within {limit} frames")


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("server closed the connection")
        out += chunk
    return out
