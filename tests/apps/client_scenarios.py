"""WsClient against scripted raw peers, as a subprocess: `python -m tests.apps.client_scenarios gevent|plain`.

Under gevent (how Locust runs it) WsClient waits on the event loop with its own reply timer; plain,
it waits with socket timeouts. Both paths run the same scenarios here and print one JSON object,
scenario -> what the client saw, for tests/wire/test_client.py to judge.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import json
import os
import ssl
import tempfile
import time
from pathlib import Path

sys.path.insert(0, "loadtests")

from chanload.exceptions import WsError
from chanload.wire import framing
from chanload.wire.client import WsClient
from tests.apps.rawws import frame, read_frame, self_signed, serve_once

REPLY_TIMEOUT = 0.3


def _client(script) -> WsClient:
    client = WsClient(f"ws://127.0.0.1:{serve_once(script)}/x", reply_timeout=REPLY_TIMEOUT)
    client.connect()
    return client


def _outcome(call) -> dict:
    started = time.monotonic()
    try:
        value = call()
        return {"value": value, "seconds": time.monotonic() - started}
    except WsError as exc:
        return {"error": exc.kind, "message": str(exc), "seconds": time.monotonic() - started}


def ping_is_answered(conn) -> None:
    conn.sendall(frame(framing.PING, b"are you there"))
    opcode, payload = read_frame(conn)
    verdict = "pong ok" if (opcode, payload) == (framing.PONG, b"are you there") else f"got {opcode} {payload!r}"
    conn.sendall(frame(framing.TEXT, verdict.encode()))
    time.sleep(1)


def fragments_with_a_ping_between(conn) -> None:
    conn.sendall(frame(framing.TEXT, b"he", fin=False))
    conn.sendall(frame(framing.PING, b"x"))
    conn.sendall(frame(framing.CONTINUATION, "ll\u00f6".encode(), fin=False))
    conn.sendall(frame(framing.CONTINUATION, b" world", fin=True))
    time.sleep(1)


def echo_ok(conn) -> None:
    while True:
        read_frame(conn)
        conn.sendall(frame(framing.TEXT, b"OK"))


def silent(conn) -> None:
    time.sleep(3)


def masked_frame(conn) -> None:
    conn.sendall(frame(framing.TEXT, b"OK", mask=True))
    time.sleep(1)


def big_then_close(conn) -> None:
    conn.sendall(frame(framing.BINARY, bytes(range(256)) * 400))  # 100 kB: many reads, 64-bit length
    conn.sendall(frame(framing.CLOSE, b"\x0f\xa1going away"))
    time.sleep(1)


def hang_up(conn) -> None:
    conn.shutdown(2)


SENT: dict[str, float] = {}


def reply_at_once(conn) -> None:
    SENT["ok"] = time.perf_counter()
    conn.sendall(frame(framing.TEXT, b"OK"))
    time.sleep(1)


def ping_flood(conn) -> None:
    """Pings as fast as the socket takes them, for 2 s, and never a reply: the reply timeout must still fire."""
    conn.settimeout(0.5)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        conn.sendall(frame(framing.PING, b"flood") * 64)


def pings_together(conn) -> None:
    """Five pings in one write, then the pongs that came back in 0.1 s, reported as the reply."""
    conn.sendall(b"".join(frame(framing.PING, f"p{i}".encode()) for i in range(1, 6)))
    conn.settimeout(0.1)
    pongs = []
    try:
        while True:
            opcode, payload = read_frame(conn)
            if opcode == framing.PONG:
                pongs.append(payload.decode())
    except (TimeoutError, ConnectionError):
        pass
    conn.sendall(frame(framing.TEXT, " ".join(pongs).encode()))
    time.sleep(1)


CLOSES: dict[str, list] = {}


def huge_header(conn) -> None:
    """A text frame that says it holds 2^62 bytes, then a trickle of them; what the client closed with is kept."""
    conn.sendall(bytes((0x81, 127)) + (1 << 62).to_bytes(8, "big") + b"x" * 1000)
    conn.settimeout(1.0)
    try:
        CLOSES["huge"] = [read_frame(conn)]
    except (TimeoutError, ConnectionError):
        CLOSES["huge"] = []


def fragment_bomb(conn) -> None:
    """64 KiB continuation fragments that never end (bounded here: 1,000 of them, or until the client leaves)."""
    conn.sendall(frame(framing.TEXT, b"x" * 65536, fin=False))
    for _ in range(1000):
        conn.sendall(frame(framing.CONTINUATION, b"x" * 65536, fin=False))


def trickled_handshake(timeout: float) -> dict:
    """A server that sends its 101 answer one byte every 0.1 s: the handshake timeout covers all of it."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        conn, _ = listener.accept()
        listener.close()
        with conn:
            conn.recv(4096)
            try:
                for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n":
                    conn.sendall(bytes((byte,)))
                    time.sleep(0.1)
            except OSError:
                pass

    threading.Thread(target=run, daemon=True).start()
    client = WsClient(f"ws://127.0.0.1:{port}/x", connect_timeout=timeout, reply_timeout=REPLY_TIMEOUT)
    return _outcome(client.connect)


def main() -> None:
    seen: dict[str, dict] = {}
    seen["ping"] = _outcome(_client(ping_is_answered).recv)
    seen["fragments"] = _outcome(_client(fragments_with_a_ping_between).recv)
    # Three times the reply timeout of back-to-back round trips on one connection: the reply timer
    # must re-arm to the full timeout for each message (a libev timer keeps its remainder otherwise).
    client = _client(echo_ok)

    def conversation() -> int:
        count, end = 0, time.monotonic() + 3 * REPLY_TIMEOUT
        while time.monotonic() < end:
            client.send("hello")
            assert client.recv() == "OK"
            count += 1
            time.sleep(0.001)
        return count

    seen["conversation"] = _outcome(conversation)
    seen["silent"] = _outcome(_client(silent).recv)
    seen["masked"] = _outcome(_client(masked_frame).recv)
    big = _client(big_then_close)
    seen["big"] = _outcome(lambda: len(big.recv()))
    seen["close"] = _outcome(big.recv)
    seen["hang_up"] = _outcome(_client(hang_up).recv)
    # A reply that waits in the socket while the client is busy: its arrival is when it came, not
    # when the client read it (the kernel's receive timestamp).
    late = _client(reply_at_once)
    time.sleep(0.2)
    reply = late.recv()
    read_at = time.perf_counter()
    seen["stamp"] = {"value": reply, "read_after": read_at - SENT["ok"], "arrival_after": late.arrival - SENT["ok"]}
    seen["tls"] = _outcome(_over_tls)
    seen["ping_flood"] = _outcome(_client(ping_flood).recv)
    seen["pings_together"] = _outcome(_client(pings_together).recv)
    seen["huge"] = _outcome(_client(huge_header).recv)
    time.sleep(1.2)  # the server's wait for the close frame
    seen["huge"]["closes"] = [[opcode, payload.hex()] for opcode, payload in CLOSES.get("huge", [])]
    bomb = WsClient(f"ws://127.0.0.1:{serve_once(fragment_bomb)}/x", reply_timeout=5.0, max_message=1 << 20)
    bomb.connect()
    seen["bomb"] = _outcome(bomb.recv)
    seen["trickle"] = trickled_handshake(0.5)
    print(json.dumps(seen))


def _over_tls() -> list:
    """wss://: three round trips through the TLS layer, and a reply timeout there too."""
    with tempfile.TemporaryDirectory() as folder:
        cert, key = self_signed(Path(folder))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        os.environ["WEBSOCKET_CLIENT_CA_BUNDLE"] = str(cert)  # websocket-client trusts it for the handshake
        client = WsClient(f"wss://127.0.0.1:{serve_once(echo_ok, context)}/x", reply_timeout=REPLY_TIMEOUT)
        client.connect()
        replies = []
        for _ in range(3):
            client.send("hello")
            replies.append(client.recv())
        silent_client = WsClient(f"wss://127.0.0.1:{serve_once(silent, context)}/x", reply_timeout=REPLY_TIMEOUT)
        silent_client.connect()
        return [*replies, _outcome(silent_client.recv).get("error")]


if __name__ == "__main__":
    main()
