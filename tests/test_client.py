"""WsClient's own framing and read-ahead: the same bytes as websocket-client, and no frame lost."""

from __future__ import annotations

import json

import pytest
from websocket import ABNF

from chanload import client as client_module
from chanload.client import WsClient


@pytest.mark.parametrize("length", [0, 1, 5, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode", [ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY])
def test_frames_are_byte_identical_to_websocket_client(monkeypatch, length, opcode):
    """_frame builds exactly what websocket-client's ABNF.format builds for the same mask key."""
    payload = bytes(i % 251 for i in range(length))
    key = b"\x01\x80\x7f\xfe"
    reference = ABNF.create_frame(payload, opcode)
    reference.get_mask_key = lambda _n: key
    monkeypatch.setattr(client_module.os, "urandom", lambda _n: key)
    assert client_module._frame(opcode, payload) == reference.format()


def test_replies_read_together_are_each_returned(target):
    """Two replies that arrive in one socket read come back from two recv() calls."""
    client = WsClient(f"{target.ws_url}/room/g1")
    client.connect()
    try:
        for _ in range(3):
            client.send("hello")
        assert [client.recv(), client.recv(), client.recv()] == ["OK", "OK", "OK"]
    finally:
        client.close()


def test_a_message_larger_than_one_read_arrives_whole(target):
    """A 100 kB broadcast spans several reads and is reassembled into one message."""
    client = WsClient(f"{target.ws_url}/chat/big")
    client.connect()
    try:
        text = "x" * 100_000
        client.send(json.dumps({"sender": "u", "seq": 0, "sent_ns": 0, "text": text}))
        replies = [client.recv(), client.recv()]
        assert replies[0] == "OK"
        assert json.loads(replies[1])["text"] == text
    finally:
        client.close()


_STOP_DURING_CLOSE = r"""
from gevent import monkey; monkey.patch_all()
import base64, hashlib, sys, time
import gevent
from gevent.server import StreamServer
sys.path.insert(0, "loadtests")
from chanload.client import WsClient

def handshake_then_ignore(sock, _addr):
    # Answers the upgrade, then never answers anything, a close frame included.
    request = b""
    while b"\r\n\r\n" not in request:
        request += sock.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in request.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    gevent.sleep(30)

server = StreamServer(("127.0.0.1", 0), handshake_then_ignore)
server.start()
client = WsClient(f"ws://127.0.0.1:{server.server_port}/x")
client.connect()
def user():
    client.close()
    while True:  # like a Locust user going on to its next task
        gevent.sleep(0.05)

closing = gevent.spawn(user)
gevent.sleep(0.2)  # now inside close(), waiting for the server's close frame
started = time.monotonic()
closing.kill(block=True, timeout=5)  # what Locust does to a user it stops
print("dead" if closing.dead else "ALIVE", round(time.monotonic() - started, 2))
"""


def test_a_user_stopped_while_closing_stops(tmp_path):
    """GreenletExit during close() ends the greenlet at once (websocket-client's close would swallow it)."""
    import subprocess
    import sys

    from tests.servers import ROOT

    out = subprocess.run(
        [sys.executable, "-c", _STOP_DURING_CLOSE], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    state, seconds = out.stdout.split()
    assert state == "dead", out.stdout + out.stderr
    assert float(seconds) < 0.5
