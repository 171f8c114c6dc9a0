"""WsClient's own framing and read-ahead: the same bytes as websocket-client, and no frame lost."""

from __future__ import annotations

import json

import pytest
from websocket import ABNF

from chanload.exceptions import SubprotocolRejected
from chanload.wire import framing
from chanload.wire.client import WsClient
from tests.apps import rawws


@pytest.mark.parametrize("length", [0, 1, 5, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode", [ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY])
def test_frames_are_byte_identical_to_websocket_client(length, opcode):
    """framing.encode builds exactly what websocket-client's ABNF.format builds for the same mask key."""
    payload = bytes(i % 251 for i in range(length))
    key = b"\x01\x80\x7f\xfe"
    reference = ABNF.create_frame(payload, opcode)
    reference.get_mask_key = lambda _n: key
    assert framing.encode(opcode, payload, key) == reference.format()


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
import sys, time
import gevent
sys.path.insert(0, "loadtests")
from chanload.wire.client import WsClient
from tests.apps.rawws import serve_once

# A peer that answers the upgrade, then never answers anything, a close frame included.
client = WsClient(f"ws://127.0.0.1:{serve_once(lambda conn: time.sleep(30))}/x")
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


@pytest.mark.e2e
@pytest.mark.timing  # "at once": the greenlet dies in under 0.5 s
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


@pytest.fixture(scope="module", params=["plain", "gevent"])
def scenarios(request):
    """What WsClient saw in each scripted scenario (tests/apps/client_scenarios.py), per waiting path."""
    import subprocess
    import sys

    from tests.servers import ROOT

    out = subprocess.run(
        [sys.executable, "-m", "tests.apps.client_scenarios", request.param],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


@pytest.mark.timing
@pytest.mark.e2e
def test_a_server_ping_is_answered_with_its_payload(scenarios):
    assert scenarios["ping"].get("value") == "pong ok", scenarios["ping"]


@pytest.mark.timing
@pytest.mark.e2e
def test_fragments_are_reassembled_around_a_ping(scenarios):
    assert scenarios["fragments"].get("value") == "hell\u00f6 world", scenarios["fragments"]


@pytest.mark.timing
@pytest.mark.e2e
def test_the_reply_timer_rearms_for_every_message(scenarios):
    """Back-to-back round trips for 3x the reply timeout on one connection: none times out."""
    outcome = scenarios["conversation"]
    assert "error" not in outcome, outcome
    assert outcome["value"] > 30


@pytest.mark.timing
@pytest.mark.e2e
def test_a_silent_server_times_out_after_the_reply_timeout(scenarios):
    outcome = scenarios["silent"]
    assert outcome.get("error") == "reply timeout", outcome
    assert 0.29 <= outcome["seconds"] < 2.0


@pytest.mark.timing
@pytest.mark.e2e
def test_a_masked_server_frame_is_a_protocol_error(scenarios):
    outcome = scenarios["masked"]
    assert outcome.get("error") == "connection lost", outcome
    assert "protocol error" in outcome["message"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_large_binary_message_and_a_close_frame(scenarios):
    assert scenarios["big"].get("value") == 102400, scenarios["big"]
    assert scenarios["close"].get("error") == "closed by server", scenarios["close"]
    assert "4001" in scenarios["close"]["message"] and "going away" in scenarios["close"]["message"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_hang_up_without_close_frame_is_connection_lost(scenarios):
    outcome = scenarios["hang_up"]
    assert outcome.get("error") == "connection lost", outcome
    assert "without a close frame" in outcome["message"]


@pytest.mark.timing
@pytest.mark.e2e
def test_arrival_is_when_the_reply_reached_the_socket_not_when_it_was_read(scenarios):
    """A reply read 0.2 s after it came is timed by the kernel's receive stamp (SO_TIMESTAMPNS)."""
    stamp = scenarios["stamp"]
    assert stamp["value"] == "OK"
    assert stamp["read_after"] >= 0.2
    assert 0 <= stamp["arrival_after"] < 0.05, stamp


@pytest.mark.timing
@pytest.mark.e2e
def test_wss_goes_through_the_tls_layer(scenarios):
    """Over TLS the client reads through the TLS socket (no raw-socket fast path): replies and timeouts work."""
    assert scenarios["tls"].get("value") == ["OK", "OK", "OK", "reply timeout"], scenarios["tls"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_ping_flood_does_not_hold_off_the_reply_timeout(scenarios):
    """Pings as fast as the socket takes them and no reply: the timeout fires on time (it was re-armed by every
    ping before: a reply timeout that never fired)."""
    outcome = scenarios["ping_flood"]
    assert outcome.get("error") == "reply timeout", outcome
    assert 0.29 <= outcome["seconds"] < 1.0, outcome


@pytest.mark.timing
@pytest.mark.e2e
def test_pings_read_together_are_answered_once_with_the_last_payload(scenarios):
    assert scenarios["pings_together"].get("value") == "p5", scenarios["pings_together"]


@pytest.mark.timing
@pytest.mark.e2e
def test_a_frame_over_the_limit_fails_at_its_header_and_closes_with_1009(scenarios):
    """A header that announces 2^62 bytes: refused at once, before any payload is buffered; the close frame says
    1009 (message too big)."""
    outcome = scenarios["huge"]
    assert outcome.get("error") == "message too big", outcome
    assert outcome["seconds"] < 0.2 and "16777216-byte limit (--ws-max-message)" in outcome["message"]
    assert outcome["closes"] == [[framing.CLOSE, "03f1"]], outcome  # 0x03f1 = 1009


@pytest.mark.timing
@pytest.mark.e2e
def test_fragments_that_never_end_fail_at_the_limit(scenarios):
    """64 KiB continuation frames, never FIN, with a 1 MiB limit: refused when the message would pass it."""
    outcome = scenarios["bomb"]
    assert outcome.get("error") == "message too big", outcome
    assert "1048576-byte limit" in outcome["message"]


@pytest.mark.timing
@pytest.mark.e2e
def test_the_handshake_timeout_covers_a_trickled_answer(scenarios):
    """An answer that comes a byte every 0.1 s: each read is quick, the whole is not; it times out at 0.5 s."""
    outcome = scenarios["trickle"]
    assert outcome.get("error") == "handshake timeout", outcome
    assert 0.45 <= outcome["seconds"] < 1.5, outcome


def _handshake(answer: bytes, offered: list[str]) -> tuple[WsClient, list[bytes]]:
    """A WsClient that offered `offered` to a raw server answering with `answer` header lines, after connect()."""
    requests: list[bytes] = []
    port = rawws.serve_once(lambda conn: conn.recv(1), answer=answer, requests=requests)
    return WsClient(f"ws://127.0.0.1:{port}/room/g0", subprotocols=offered), requests


def test_subprotocols_are_offered_in_order_and_the_one_picked_is_accepted():
    client, requests = _handshake(b"Sec-WebSocket-Protocol: chat.v2\r\n", ["graphql-transport-ws", "chat.v2"])
    client.connect()
    try:
        assert client.connected
        assert b"\r\nSec-WebSocket-Protocol: graphql-transport-ws, chat.v2\r\n" in requests[0]
    finally:
        client.abort()


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        (b"", "none"),
        (b"Sec-WebSocket-Protocol: not-offered\r\n", "'not-offered'"),
        (b"Sec-WebSocket-Protocol: CHAT.V2\r\n", "'CHAT.V2'"),  # names are compared as written
        (b"Sec-WebSocket-Protocol: chat.v2, graphql-ws\r\n", "'chat.v2, graphql-ws'"),  # one name, not a list
    ],
)
def test_a_server_that_picks_none_or_another_subprotocol_is_rejected(answer, picked):
    """A classified handshake failure, not websocket-client's bare 'Invalid WebSocket Header'; no socket kept."""
    client, _ = _handshake(answer, ["chat.v2"])
    with pytest.raises(SubprotocolRejected) as caught:
        client.connect()
    assert str(caught.value) == f"subprotocol rejected: offered 'chat.v2'; the server picked {picked}"
    assert not client.connected


def test_without_subprotocols_the_answer_is_not_checked():
    """Nothing offered, nothing changes: a server's Sec-WebSocket-Protocol is ignored, as before."""
    client, requests = _handshake(b"Sec-WebSocket-Protocol: chat.v2\r\n", [])
    client.connect()
    try:
        assert client.connected and b"sec-websocket-protocol" not in requests[0].lower()
    finally:
        client.abort()


def test_a_close_frame_is_read_as_rfc_6455_says():
    """Empty: no code; 1 byte, or a code that may not be sent (section 7.4), is a protocol error; else the code
    and the reason, whose numbered words are written # (a reason that names the connection is one failure row)."""
    from chanload.exceptions import ClosedByServer, ConnectionLost
    from chanload.wire.client import _closed

    assert str(_closed(b"")) == "closed by server: no close code"
    for bad in (b"\x03", (999).to_bytes(2, "big"), (1005).to_bytes(2, "big"), (1015).to_bytes(2, "big"),
                (2999).to_bytes(2, "big"), (5000).to_bytes(2, "big")):  # fmt: skip
        assert isinstance(_closed(bad), ConnectionLost), bad
    for good in (1000, 1001, 1003, 1007, 1011, 1014, 3000, 4401, 4999):
        closed = _closed(good.to_bytes(2, "big") + b"Unauthorized")
        assert isinstance(closed, ClosedByServer) and closed.code == good
    named = _closed((4000).to_bytes(2, "big") + b"session 1f2e3d4c5b6a7980")
    assert str(named) == "closed by server: code 4000 'session #'" and named.reason == "session 1f2e3d4c5b6a7980"


def test_a_protocol_error_is_a_lost_connection_caused_by_it():
    """A masked frame from the server (RFC 6455 5.1): `ConnectionLost`, raised from the `ProtocolError` that says
    which rule the frame broke; and `ready` says a frame can be read once bytes are there."""
    import socket

    from chanload.exceptions import ConnectionLost, ProtocolError
    from chanload.wire.client import WsClient

    ours, theirs = socket.socketpair()
    client = WsClient("ws://127.0.0.1:9/room/", reply_timeout=2.0)
    client._sock = ours  # connected, as far as reading goes
    try:
        assert client.ready(0.0) is False
        theirs.sendall(bytes([0x81, 0x80 | 2]) + b"\x01\x02\x03\x04" + b"hi")  # a masked text frame
        assert client.ready(1.0) is True
        with pytest.raises(ConnectionLost) as lost:
            client.recv()
        assert "protocol error" in str(lost.value) and isinstance(lost.value.__cause__, ProtocolError)
    finally:
        ours.close()
        theirs.close()
