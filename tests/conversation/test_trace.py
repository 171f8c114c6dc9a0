"""`--ws-trace`'s TracingSession, in-process on a FakeServer: how each frame is taken, the masking, the bound."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from chanload.conversation import marks, trace
from chanload.conversation.session import MESSAGE, Session
from chanload.conversation.trace import TracingSession, mask_url
from chanload.exceptions import (
    ClosedByServer,
    ConnectionRefused,
    LoginRefused,
    OptionError,
    ReplyTimeout,
    WrongReply,
)
from chanload.testing import FakeClient, FakeServer
from tests.servers import dead_port


def traced(server: FakeServer, lines: int = trace.LINES, **kwargs) -> tuple[TracingSession, io.StringIO]:
    out = io.StringIO()
    return TracingSession("ws://127.0.0.1:9", client_factory=server.connect, out=out, lines=lines, **kwargs), out


def events(out: io.StringIO) -> list[str]:
    """The trace's event lines, without their time."""
    return [re.sub(r"^trace \+\s*[\d.]+ ms  ", "", line) for line in out.getvalue().splitlines()[1:]]


def took(line: str) -> float:
    """The milliseconds a line says something took ('... in 1.234 ms')."""
    found = re.search(r" (?:in|after) (\d+\.\d{3}) ms", line)
    assert found, line
    return float(found.group(1))


def test_a_reply_is_shown_with_the_round_trip_that_was_recorded():
    ws, out = traced(FakeServer(lambda text: [("OK", 0.004)]))
    ws.connect()
    ws.request("hello")
    heading, *lines = out.getvalue().splitlines()
    assert heading.startswith("trace: one session, frame by frame, at most 200 lines")
    assert re.fullmatch(
        r"trace \+\s+\d+\.\d{3} ms  handshake ws://127\.0\.0\.1:9/room/g\d -> accepted in \d+\.\d{3} ms", lines[0]
    )
    handshake, sent, reply = events(out)
    assert sent == "send      room/[group] #0 'hello'"
    assert reply.startswith("received  'OK'  reply to room/[group] #0 in ")
    (piece,) = [p for p in ws.recording.recorder.drain() if p.key == (MESSAGE, "room/[group]")]
    recorded_ms = piece.histogram.get_value_at_percentile(50) / 1000  # us, 3 significant digits
    assert took(reply) >= 4.0  # the fake's 4 ms at least; how much more is the machine's
    assert abs(took(reply) - recorded_ms) <= 0.01 * recorded_ms + 0.001
    # The offsets go up, from the session's start.
    times = [float(m) for m in re.findall(r"^trace \+\s*([\d.]+) ms", out.getvalue(), re.M)]
    assert times == sorted(times) and len(times) == 3


def test_other_frames_are_shown_skipped_or_as_the_wrong_reply_they_make():
    ws, out = traced(FakeServer(lambda text: [("tick", 0.0001), ("OK", 0.0002)]), other="skip")
    ws.connect()
    ws.request("hello")
    assert events(out)[-2] == "received  'tick'  other (skipped, --ws-other skip)"
    assert events(out)[-1].startswith("received  'OK'  reply to room/[group] #0 in ")

    ws, out = traced(FakeServer(lambda text: [("tick", 0.0001), ("OK", 0.0002)]))  # --ws-other fail
    ws.connect()
    with pytest.raises(WrongReply):
        ws.request("hello")
    assert events(out)[-2:] == [
        "received  'tick'  other: a wrong reply (--ws-other fail)",
        "failed    room/[group]: wrong reply: expected 'OK', got 'tick'",
    ]


def test_a_matched_frame_that_fails_the_expectation_is_a_wrong_reply():
    def api(text):
        request = json.loads(text)
        return [('{"push": 1}', 0.0001), (json.dumps({"request_id": request["request_id"], "status": 404}), 0.0002)]

    ws, out = traced(FakeServer(api), match='json:{"request_id": {seq}}', expect='json:{"status": 200}', other="skip")
    ws.connect()
    with pytest.raises(WrongReply):
        ws.request('{"request_id": {seq}}')
    assert events(out)[-3:-1] == [
        "received  '{\"push\": 1}'  other (skipped, --ws-other skip)",
        'received  \'{"request_id": 0, "status": 404}\'  wrong reply: the match picked it, the expectation fails it',
    ]
    assert events(out)[-1].startswith("failed    room/[group]: wrong reply: expected")


def test_deliveries_and_own_copies_are_told_apart():
    """A relay: another member's message (a delivery, with its latency), then ours relayed back (the reply)."""
    theirs = marks.make("other-1-1", 7, time.time_ns() - 3_000_000)  # sent 3 ms ago

    def relay(text):
        return [(json.dumps({"message": theirs}), 0.0001), (text, 0.0002)]

    ws, out = traced(FakeServer(relay), payload='{"message": "{mark}"}', expect="own", listen=False)
    ws.connect()
    ws.request()
    delivery, own, taken = events(out)[-3:]
    assert delivery.startswith(f'received  \'{{"message": "{theirs}"}}\'  delivery from other-1-1 #7 in ')
    assert took(delivery) >= 3.0  # sent 3 ms ago at least
    assert own.startswith('received  \'{"message": "cl1.') and own.endswith("own copy (this connection's mark)")
    assert taken.startswith("taken     the own copy above as the reply to room/[group] #0 in ")
    assert ws.recording.ledger.ok == 1


def test_an_own_copy_that_is_not_the_reply_is_shown_and_passed_over():
    ws, out = traced(FakeServer(lambda text: [(text, 0.0001), ("OK", 0.0002)]), payload="say {mark}")
    ws.connect()
    ws.request()
    assert events(out)[-2].endswith("own copy (this connection's mark)")
    assert events(out)[-1].startswith("received  'OK'  reply to room/[group] #0 in ")


def test_opening_steps_are_named_and_a_failed_one_closes():
    def app(text):
        return [('{"type": "connection_ack"}', 0.0001)] if "init" in text else [("OK", 0.0001)]

    opening = ['[init] {"type": "connection_init"} => json:{"type": "connection_ack"}', "[hello] hi", "[welcome] => W"]
    ws, out = traced(FakeServer(app), opening=opening[:2])
    ws.connect()
    ws.request("hello")
    assert events(out)[1] == 'send      opening step init \'{"type": "connection_init"}\''
    assert events(out)[3:5] == ["send      opening step hello 'hi'", "send      room/[group] #2 'hello'"]
    assert events(out)[2].startswith('received  \'{"type": "connection_ack"}\'  opening step init reply in ')

    ws, out = traced(FakeServer(app), opening=opening[2:])
    with pytest.raises(ReplyTimeout):
        ws.connect()  # nothing comes: a timeout drops the connection
    assert events(out)[-1] == "timeout   welcome: reply timeout: no reply within 5s (the connection is dropped)"

    server = FakeServer(app)
    ws, out = traced(server, opening=["[hello] hi => W"])
    with pytest.raises(WrongReply):
        ws.connect()  # a wrong reply leaves the connection in step: the failed opening closes it
    assert events(out)[-3:] == [
        "received  'OK'  other: a wrong reply (--ws-other fail)",
        "failed    hello: wrong reply: expected 'W', got 'OK'",
        "close     after a failed opening step (close frame, code 1000)",
    ]
    assert not ws.connected and server.clients[0].closed


def test_expect_shows_the_frame_it_waited_for():
    server = FakeServer()
    ws, out = traced(server)
    ws.connect()
    server.push("welcome")
    ws.expect("welcome", step="greeting")
    assert events(out)[-1].startswith("received  'welcome'  expected frame for greeting after ")


def test_timeouts_closes_and_refused_handshakes_are_shown():
    ws, out = traced(FakeServer(lambda text: []))
    ws.connect()
    with pytest.raises(ReplyTimeout):
        ws.request("hello")
    assert events(out)[-1] == "timeout   room/[group]: reply timeout: no reply within 5s (the connection is dropped)"

    class Closing(FakeClient):
        def recv(self, timeout: float = -1.0):
            raise ClosedByServer(4401, "Unauthorized")

    server = FakeServer()
    out = io.StringIO()
    ws = TracingSession("ws://127.0.0.1:9", client_factory=lambda url, **o: Closing(server, url, **o), out=out)
    ws.connect()
    with pytest.raises(ClosedByServer):
        ws.request("hello")
    assert (
        events(out)[-1]
        == "closed    room/[group]: closed by server: code 4401 'Unauthorized' (the connection is dropped)"
    )

    ws, out = traced(FakeServer(refuse=True))
    with pytest.raises(ConnectionRefused):
        ws.connect()
    assert re.fullmatch(
        r"handshake ws://127\.0\.0\.1:9/room/g\d failed in \d+\.\d{3} ms: connection refused: nothing listens at "
        r"127\.0\.0\.1:9",
        events(out)[-1],
    )


# Masking

PASSWORD = "pw-Very-Secret-9"
COOKIE = "sess-abcdef-123456"
TOKEN = "tok-0123456789abcdef"


def test_secrets_never_appear_in_the_trace():
    """Header values, cookies, a query-string token, JSON secrets, and a known secret echoed inside a frame."""

    def app(text):
        return [(json.dumps({"token": TOKEN, "echo": text, "csrfmiddlewaretoken": "c" * 32}), 0.0001)]

    server = FakeServer(app)
    ws, out = traced(
        server,
        route=f"room/{{group}}?token={TOKEN}&room=1",
        headers=[f"Authorization: Token {TOKEN}", "X-Client: chanload"],
        expect=f're:.*"token": "{TOKEN}".*',
    )
    ws.connect(cookies={"sessionid": COOKIE})
    ws.request({"password": PASSWORD, "note": f"my cookie is {COOKIE}"})
    ws.request(f"api_key={PASSWORD}&x=1")
    ws.close()
    text = out.getvalue()
    for secret in (PASSWORD, COOKIE, TOKEN, "c" * 32):
        assert secret not in text
    assert "ws://127.0.0.1:9/room/g" in text and "?token=***&room=***" in text
    assert "  > Authorization: ***" in text and "  > Cookie: ***" in text and "  > X-Client: chanload" in text
    assert '"password": "***"' in text and "my cookie is ***" in text and '"token": "***"' in text
    assert "api_key=***&x=1" in text
    # What went over the wire was not masked: only the trace is.
    assert server.clients[0].sent[0] == json.dumps({"password": PASSWORD, "note": f"my cookie is {COOKIE}"})
    assert ws.recording.ledger.ok == 2


def test_a_refused_login_is_shown_and_its_password_is_masked_from_then_on():
    with dead_port() as port:
        out = io.StringIO()
        server = FakeServer(lambda text: [(text, 0.0001)])
        ws = TracingSession(f"ws://127.0.0.1:{port}", client_factory=server.connect, out=out, expect="re:.*")
        ws.login("/accounts/login/", "ann", PASSWORD, defer=True)  # runs at the next connect
        with pytest.raises(LoginRefused):
            ws.connect()
    assert re.fullmatch(
        r"login     /accounts/login/ failed in \d+\.\d{3} ms: "
        rf"login refused: GET /accounts/login/: nothing listens at 127\.0\.0\.1:{port}",
        events(out)[-1],
    )
    ws._login = None  # no login from here on
    ws.connect()
    ws.request(f"I typed {PASSWORD} by mistake")
    assert PASSWORD not in out.getvalue() and "I typed *** by mistake" in out.getvalue()


def test_masking_of_named_values_keeps_the_rest():
    masker = trace.Masker()
    assert masker('{"Password": "x y", "user": "ann"}') == '{"Password": "***", "user": "ann"}'
    assert masker("{'session_id': 12345, 'n': 1}") == "{'session_id': ***, 'n': 1}"
    assert masker('{"X-CSRFToken": "abc\\"def"}') == '{"X-CSRFToken": "***"}'
    assert masker("csrftoken=abc; sessionid=def; theme=dark") == "csrftoken=***; sessionid=***; theme=dark"
    assert masker('cut short: {"token": "abcdef') == 'cut short: {"token": "***'
    masker.add("hunter22")
    masker.add("abc")  # too short to search for
    assert masker("hunter22 abc") == "*** abc"
    assert mask_url("ws://u:p@h:1/ws/x/?token=abc&room=2") == "ws://h:1/ws/x/?token=***&room=***"
    assert mask_url("wss://h/ws/x/") == "wss://h/ws/x/"


# The bound


def test_the_output_is_bounded_and_the_session_goes_on():
    ws, out = traced(FakeServer(), lines=10)
    ws.connect()
    for _ in range(50):
        ws.request("hello")
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[-1] == "trace stopped after 10 lines (--ws-trace prints at most 10); the run goes on untraced"
    assert ws.recording.ledger.ok == 50


def test_one_session_per_process_claims_the_trace(monkeypatch):
    monkeypatch.setattr(trace, "_traced_pid", 0)
    assert trace.claim() is True
    assert trace.claim() is False
    assert type(FakeServer().session()) is Session  # a plain session: no trace code on its path


def test_a_bound_too_small_is_refused():
    with pytest.raises(OptionError, match="lines=1: a trace needs at least 2 lines"):
        traced(FakeServer(), lines=1)


def test_a_stream_that_breaks_ends_the_trace_not_the_session():
    out = io.StringIO()
    ws = TracingSession("ws://127.0.0.1:9", client_factory=FakeServer().connect, out=out)
    out.close()
    ws.connect()
    assert ws.request("hello") == "OK"
    assert not ws._trace.on
