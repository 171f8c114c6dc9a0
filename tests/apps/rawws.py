"""A raw websocket peer that sends whatever frames a test scripts: pings, fragments, masked frames.

No ASGI server can send those (ASGI has no ping or fragment API), so framing tests use this. It
works on plain threads and, monkey-patched, on gevent. Loopback only; one connection per call.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from pathlib import Path

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def serve_once(
    script: Callable[[socket.socket], None],
    tls: ssl.SSLContext | None = None,
    *,
    answer: bytes = b"",
    requests: list[bytes] | None = None,
) -> int:
    """Listen on a free 127.0.0.1 port; answer one upgrade (over TLS with `tls`), run `script(conn)`.

    `answer`: header lines added to the 101 answer ('Name: value\\r\\n' each); `requests` gets the
    client's handshake request. Returns the port.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        conn, _ = listener.accept()
        listener.close()
        if tls is not None:
            conn = tls.wrap_socket(conn, server_side=True)
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            if requests is not None:
                requests.append(request)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # RFC 6455 says SHA-1
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n" + answer + b"\r\n"
            )
            try:
                script(conn)
            except OSError:
                pass  # the client went away: the test reads what the client saw

    threading.Thread(target=run, daemon=True).start()
    return port


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False, rsv: int = 0) -> bytes:
    """A server frame, unmasked unless `mask` (which RFC 6455 forbids servers, for tests of that)."""
    head = bytes(((0x80 if fin else 0) | rsv << 4 | opcode,))
    bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes((bit | len(payload),))
    elif len(payload) < 1 << 16:
        head += struct.pack("!BH", bit | 126, len(payload))
    else:
        head += struct.pack("!BQ", bit | 127, len(payload))
    return head + (b"\0\0\0\0" + payload if mask else payload)


def read_frame(conn: socket.socket) -> tuple[int, bytes]:
    """One client frame: (opcode, unmasked payload)."""
    first, second = _exactly(conn, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _exactly(conn, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _exactly(conn, 8))
    key = _exactly(conn, 4)
    data = _exactly(conn, length)
    return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _exactly(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionError("client closed")
        out += chunk
    return out


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key, as PEM files in `folder`: (cert, key)."""
    from cryptography import x509  # a dependency of Daphne's (autobahn, twisted[tls])
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
