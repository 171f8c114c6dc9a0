"""Just enough of RFC 6455 over a raw socket for the benchmarks' independent receivers.

benchmarks/probe.py (fidelity) and benchmarks/fanprobe.py (fan-out) build on it. It shares no code with the
suite (no Locust, no chanload, no websocket library): the handshake and the client's masked frames written
out, and the kernel's receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME) taken as the suite takes them.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from urllib.parse import urlsplit

SO_TIMESTAMPNS = 35  # socket(7); Python does not name it. SCM_TIMESTAMPNS is the same number.
TIMEOUT = 10.0


class RawSocket:
    """One websocket over a blocking TCP socket (TCP_NODELAY, as websocket-client and Daphne set it).

    `fill` reads what has arrived into `buffer`, where the frames are left for the caller to parse; `stamp_ns`
    is the kernel's receive time of the bytes of the latest read (0: none given).
    """

    READ = 65536  # bytes asked of the socket per read

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.stamp_ns = 0
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self.buffer:
            if not self.fill():
                raise ConnectionError("closed during the handshake")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise ConnectionError(f"handshake refused: {status.decode(errors='replace')}")

    def fill(self) -> bool:
        """Read what has arrived into `buffer`, with its kernel stamp; False when the server closed the socket."""
        chunk, ancdata, _flags, _addr = self.sock.recvmsg(self.READ, socket.CMSG_SPACE(16))
        self.stamp_ns = 0
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = struct.unpack("@ll", data[:16])
                self.stamp_ns = seconds * 1_000_000_000 + nanos
        self.buffer += chunk
        return bool(chunk)

    def send(self, opcode: int, payload: bytes) -> None:
        """One final masked frame (section 5.2); the payloads sent here are always below 126 bytes."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)
