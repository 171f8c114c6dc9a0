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
