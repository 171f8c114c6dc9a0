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
