"""APIs built with real third-party libraries, loaded by options alone, against tests/apps/foreign under Daphne.

  ws/graphql/     strawberry-graphql's Channels consumer: graphql-transport-ws (connection_init -> connection_ack,
                  `subscribe` answered by `next` with that id, then `complete`), and a subscription pushing a
                  frame every 15 ms on the same socket
  ws/api/items/   djangochannelsrestframework: {"action": "retrieve", "pk": P, "request_id": N} answered with that
                  request_id and a response_status (404 for a missing pk)

Each shape runs by options (--ws-subprotocol, --ws-open, --ws-match, --ws-expect, --ws-other), with its failure
cases; and its p50 agrees, within 10%, with a raw single-connection client's doing the same side by side (the
`websockets` library's protocol on a socket of the test's own, timed to the kernel's receive stamp as chanload is).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import socket
import statistics
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from tests.locustrun import run_locust
from tests.servers import UNIT, foreign_app

pytestmark = pytest.mark.e2e

PUSH_S = 0.015  # the GraphQL subscription's push interval (tests/apps/foreign/schema.py)
INIT = '[init] {"type": "connection_init"} => json:{"type": "connection_ack"}'
SUBSCRIBE = (
    '[subscribe] {"id": "sub", "type": "subscribe", "payload": {"query": "subscription { count }"}}'
    ' => json:{"id": "sub", "type": "next"}'
)
GRAPHQL_QUERY = '{"id": "{seq}", "type": "subscribe", "payload": {"query": "{ hello }"}}'
GRAPHQL = (
    "--ws-path", "ws/graphql/", "--ws-subprotocol", "graphql-transport-ws",
    "--ws-open", INIT, "--ws-open", SUBSCRIBE,
    "--ws-payload", GRAPHQL_QUERY,
    "--ws-match", 'json:{"id": "{seq}", "type": "next"}',
    "--ws-expect", 'json:{"payload": {"data": {"hello": "world"}}}',
    "--ws-other", "skip",
)  # fmt: skip
GRAPHQL_ROW = "ws/graphql/"


def dcrf(pk: int) -> tuple[str, ...]:
    return (
        "--ws-path", "ws/api/items/",
        "--ws-payload", '{"action": "retrieve", "pk": PK, "request_id": {seq}}'.replace("PK", str(pk)),
        "--ws-match", 'json:{"request_id": {seq}}',
        "--ws-expect", 'json:{"response_status": 200}',
        "--ws-other", "skip",
    )  # fmt: skip


DCRF_ROW = "ws/api/items/"


@pytest.fixture(scope="module")
def foreign():
    with foreign_app({"FOREIGN_PUSH_INTERVAL": str(PUSH_S)}) as server:
        yield server


def assert_clean(run) -> None:
    assert "Traceback" not in run.output, run.output[-3000:]


def test_graphql_transport_ws_by_options_init_subscribe_then_queries_by_id(tmp_path, foreign):
    """strawberry: the subprotocol, init and subscribe as opening steps (rows of their own), queries matched by id."""
    run = run_locust(tmp_path, foreign.ws_url, *GRAPHQL, "--ws-think", "0.02", users=3, run_time="4s")
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    query = run.row("WS message", GRAPHQL_ROW)
    assert query["count"] > 60 and query["failures"] == 0, query
    assert run.row("WS message", "init")["count"] == 3  # one per connection: no reconnects
    assert run.row("WS message", "subscribe")["count"] == 3
    assert run.row("WS connect", GRAPHQL_ROW)["count"] == 3
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["failed"] == 0 and counters["connect_failures"] == 0, counters
    # Each query's `complete`, and the subscription's pushes (~65/s per connection; fewer on a loaded machine), are
    # other frames, skipped.
    assert counters["other_frames"] > query["count"] + 3 * 10, counters
    assert run.failures() == []


def test_graphql_without_the_init_step_is_closed_4401_and_says_so(tmp_path, foreign):
    """graphql-transport-ws refuses a subscribe before connection_init: close code 4401, never a timeout."""
    args = [a for a in GRAPHQL if a not in ("--ws-open", INIT, SUBSCRIBE)]
    run = run_locust(tmp_path, foreign.ws_url, *args, "--ws-think", "0.05", users=2, run_time="3s")
    assert run.code == 1, run.output[-3000:]
    counters = run.summary["counters"]
    assert counters["ok"] == 0 and counters["failed"] > 4, counters  # reconnects and fails again, at once
    assert counters["failure_kinds"] == {"closed by server": counters["failed"]}, counters
    failures = {(f["Method"], f["Name"]): f["Error"] for f in run.failures()}
    assert list(failures) == [("WS message", GRAPHQL_ROW)], failures
    assert failures["WS message", GRAPHQL_ROW].startswith("closed by server: code 4401"), failures


def test_dcrf_retrieve_by_options_matched_by_request_id(tmp_path, foreign):
    """djangochannelsrestframework: the reply is the frame with this request_id, and it must say 200."""
    run = run_locust(tmp_path, foreign.ws_url, *dcrf(1), "--ws-think", "0.02", users=3, run_time="4s")
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    message = run.row("WS message", DCRF_ROW)
    assert message["count"] > 60 and message["failures"] == 0, message
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["failed"] == 0 and counters["ok"] == message["count"], counters
    assert run.failures() == []


def test_dcrf_missing_pk_is_one_wrong_reply_row_at_once_showing_the_404(tmp_path, foreign):
    """pk 99 does not exist: each reply (matched by request_id) is a wrong reply at once, not a reply timeout.

    Locust's failure table has one row, a template (not one per request_id), and it shows the 404.
    """
    run = run_locust(
        tmp_path, foreign.ws_url, *dcrf(99), "--ws-think", "0.02", "--ws-reply-timeout", "5",
        users=2, run_time="3s",
    )  # fmt: skip
    assert run.code == 1, run.output[-3000:]
    counters = run.summary["counters"]
    # Two users for 3 s: a reply timeout would allow at most 2 failures; at once, there are dozens.
    assert counters["ok"] == 0 and counters["failed"] > 40, counters
    assert counters["failure_kinds"] == {"wrong reply": counters["failed"]}, counters
    assert counters["connects"] == 2, counters  # a wrong reply keeps the connection: the conversation is in step
    failures = run.failures()
    assert len(failures) == 1, failures
    (failure,) = failures
    assert (failure["Method"], failure["Name"]) == ("WS message", DCRF_ROW)
    # Locust's own final stats agree. Its failures CSV is rewritten every second and not at the end, so it
    # may miss the last second's: its count is at most ours.
    assert run.stats()[("WS message", DCRF_ROW)]["num_failures"] == counters["failed"]
    assert 0 < int(failure["Occurrences"]) <= counters["failed"]
    error = failure["Error"]
    assert error.startswith("wrong reply: expected json") and '{"response_status": 200}' in error, error
    assert "404" in error, error  # the reply's status, whatever comes before it in the frame


def test_replies_that_differ_per_message_keep_the_failure_table_a_table(tmp_path, foreign):
    """A `re:` expectation shows the reply cut short, and here each reply starts with its own id: the first rows
    are kept as they are, then one row stands for the rest, saying so. Every failure is still counted."""
    args = list(GRAPHQL)
    args[args.index("--ws-expect") + 1] = "re:.*goodbye.*"
    run = run_locust(tmp_path, foreign.ws_url, *args, "--ws-think", "0.01", users=2, run_time="3s")
    assert run.code == 1, run.output[-3000:]
    counters = run.summary["counters"]
    assert counters["failure_kinds"] == {"wrong reply": counters["failed"]} and counters["failed"] > 40, counters
    assert counters["connects"] == 2, counters  # a wrong reply keeps the connection
    assert run.stats()[("WS message", GRAPHQL_ROW)]["num_failures"] == counters["failed"]
    errors = [f["Error"] for f in run.failures()]
    assert 2 <= len(errors) <= 11, errors  # 10 kept per process, one more for the rest
    rest = [e for e in errors if "another reply (more than 10 different ones on this row" in e]
    assert len(rest) == 1 and rest[0].startswith("wrong reply: expected /.*goodbye.*/, got another"), errors


# --- p50 against a raw single-connection client -----------------------------------------------------------------
#
# The raw client is the websockets library's protocol (sans-I/O: handshake, framing) on a plain blocking socket,
# one connection, no Locust, holding the same conversation as chanload's -u 1 run with the same think time.
#
# What is timed: from just before the framed bytes go to the socket to the kernel's receive timestamp of the reply
# (SO_TIMESTAMPNS), the interval chanload times (its clock starts before its own framing, so if anything it reads
# longer). A client that reads its clock once it has the reply in hand adds its own wake-up delay, which on this
# shared 2-core machine is about 0.5 ms (10-15% of these round trips); that figure is shown in the failure message,
# not compared.
#
# Both run AT THE SAME TIME: the machine's noise (10-30% between runs a minute apart) then falls on both alike.
# Only the raw round trips sent while chanload ran count.

THINK_S = 0.01  # both clients pause as long between a reply and the next request
RUN_TIME = "5s"
ROUNDS = 5  # the median over the rounds of chanload's p50 / the raw client's p50 is compared
TOLERANCE = 0.10  # of the raw client's p50, as the issue asks
FLOOR_US = 100.0  # but never tighter than 0.1 ms. Measured here, side by side on 2 shared cores, chanload read
# 0.96-1.02x the raw client on the GraphQL and DCRF shapes (1.3-2 ms), and 1.04-1.11x (+25-70 us) on the login
# chat (0.6 ms): whatever chanload's process does right after a send (its bookkeeping, its reader) takes the
# core Daphne needs to answer, where the raw client, blocked in recv at once, takes none. With Daphne pinned to a
# core of its own that difference went (0.96-0.99x), but the two clients, then sharing the other core, disturbed
# each other instead (0.83-0.86x on GraphQL's pushes). So: 10%, or 0.1 ms on sub-millisecond round trips.
MAX_RAW = 5_000  # bounded: the raw client stops after this many round trips, or when chanload's run ends
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; 35 in asm-generic/socket.h


class RawConnection:
    """One websocket connection: the websockets library's ClientProtocol on a blocking socket of our own.

    recv() returns a frame's text with two wall-clock times (ns): the kernel's receive timestamp of the read that
    completed it, and the time this thread had the bytes in hand.
    """

    def __init__(self, url: str, path: str, subprotocols: list[str], headers: dict[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5 * UNIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.protocol = ClientProtocol(
            parse_uri(f"{url}/{path}"),
            # The app validates Origin (AllowedHostsOriginValidator), as browsers and websocket-client send it.
            origin=Origin(f"http://{parts.netloc}"),
            subprotocols=[Subprotocol(name) for name in subprotocols] or None,
        )
        request = self.protocol.connect()
        for name, value in (headers or {}).items():  # e.g. the Cookie a login gave (tests/test_logins.py)
            request.headers[name] = value
        self.protocol.send_request(request)
        self._flush()
        self.frames: collections.deque[tuple[str, int, int]] = collections.deque()
        self.response: Response | None = None
        for _ in range(100):  # bounded: the handshake's answer within 100 reads
            if self.response is not None:
                break
            self._read()
        assert self.protocol.state is State.OPEN, f"handshake failed: {self.protocol.handshake_exc!r}"
        assert self.protocol.subprotocol == (subprotocols[0] if subprotocols else None)

    def send(self, text: str) -> int:
        """Send a text frame; returns the wall-clock time (ns) just before its bytes went to the socket.

        Taken before the library frames (and masks) it, as chanload's clock starts before its own framing: both
        intervals hold their client's framing and the send itself, and nothing else of the client's.
        """
        sent_at = time.time_ns()
        self.protocol.send_text(text.encode())
        chunks = self.protocol.data_to_send()
        for chunk in chunks:
            if chunk:
                self.sock.sendall(chunk)
        return sent_at

    def recv(self) -> tuple[str, int, int]:
        for _ in range(10_000):  # bounded
            if self.frames:
                return self.frames.popleft()
            self._read()
        raise AssertionError("no whole frame in 10,000 reads")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.protocol.send_close()
            self._flush()
        self.sock.close()

    def _read(self) -> None:
        data, ancdata, _flags, _addr = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        in_hand = time.time_ns()
        stamp = in_hand
        for level, kind, blob in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(blob) >= 16:
                seconds, nanos = struct.unpack_from("qq", blob)
                stamp = seconds * 1_000_000_000 + nanos
        if not data:
            raise ConnectionError(f"connection closed by the server: {self.protocol.close_rcvd}")
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            elif event.opcode is Opcode.TEXT:
                self.frames.append((event.data.decode(), stamp, in_hand))
            elif event.opcode is Opcode.CLOSE:
                raise ConnectionError(f"connection closed by the server: {self.protocol.close_rcvd}")
        self._flush()  # pongs, a close's answer

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)


Sample = tuple[int, float, float]  # (sent at, wall clock ns; us to the kernel's stamp; us to the reply in hand)


def raw_graphql(url: str) -> Iterator[Sample]:
    """`{ hello }` round trips on one graphql-transport-ws connection, pushes every 15 ms skipped."""
    ws = RawConnection(url, "ws/graphql/", ["graphql-transport-ws"])
    try:
        ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(ws.recv()[0]) == {"type": "connection_ack"}
        ws.send(json.dumps({"id": "sub", "type": "subscribe", "payload": {"query": "subscription { count }"}}))
        _until(ws, lambda f: f.get("id") == "sub" and f.get("type") == "next")
        for seq in range(1, MAX_RAW + 1):
            text = GRAPHQL_QUERY.replace("{seq}", str(seq))
            sent_at = ws.send(text)
            reply, stamp, in_hand = _until(ws, lambda f, i=str(seq): f.get("id") == i and f.get("type") == "next")
            yield sent_at, (stamp - sent_at) / 1000, (in_hand - sent_at) / 1000
            assert reply["payload"] == {"data": {"hello": "world"}}, reply
            time.sleep(THINK_S)
    finally:
        ws.close()


def raw_dcrf(url: str) -> Iterator[Sample]:
    """retrieve round trips on one connection, each reply taken by its request_id."""
    ws = RawConnection(url, "ws/api/items/", [])
    try:
        for seq in range(1, MAX_RAW + 1):
            text = json.dumps({"action": "retrieve", "pk": 1, "request_id": seq})
            sent_at = ws.send(text)
            reply, stamp, in_hand = _until(ws, lambda f, i=seq: f.get("request_id") == i)
            yield sent_at, (stamp - sent_at) / 1000, (in_hand - sent_at) / 1000
            assert reply["response_status"] == 200, reply
            time.sleep(THINK_S)
    finally:
        ws.close()


def _until(ws: RawConnection, wanted) -> tuple[dict, int, int]:
    for _ in range(10_000):  # bounded: a reply among at most this many pushes
        text, stamp, in_hand = ws.recv()
        frame = json.loads(text)
        if wanted(frame):
            return frame, stamp, in_hand
    raise AssertionError("no reply among 10,000 frames")


class RawClient(threading.Thread):
    """Runs a raw conversation (raw_graphql, raw_dcrf) in a thread until stopped; keeps its samples."""

    def __init__(self, conversation, url: str) -> None:
        super().__init__(daemon=True)
        self.conversation, self.url = conversation, url
        self.stopping = threading.Event()
        self.samples: list[Sample] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with contextlib.closing(self.conversation(self.url)) as round_trips:
                for sample in round_trips:
                    self.samples.append(sample)
                    if self.stopping.is_set():
                        return
        except BaseException as exc:  # re-raised by the test
            self.error = exc

    def p50s_within(self, started: float, ended: float) -> tuple[float, float]:
        """p50 (us) of the round trips sent between `started` and `ended` (epoch s): to the kernel's stamp, in hand."""
        self.stopping.set()
        self.join(timeout=10 * UNIT)
        if self.error is not None:
            raise self.error
        kept = [(stamped, in_hand) for sent_at, stamped, in_hand in self.samples if started <= sent_at / 1e9 <= ended]
        assert len(kept) > 100, f"the raw client made {len(kept)} round trips while chanload ran"
        return statistics.median(k for k, _ in kept), statistics.median(h for _, h in kept)


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


@pytest.mark.timing
@pytest.mark.parametrize(
    ("args", "row", "raw"),
    [(GRAPHQL, GRAPHQL_ROW, raw_graphql), (dcrf(1), DCRF_ROW, raw_dcrf)],
    ids=["graphql-transport-ws", "dcrf"],
)
def test_p50_agrees_with_a_raw_single_connection_client(tmp_path, foreign, args, row, raw):
    """chanload -u 1 and a raw `websockets` client, the same conversation side by side: p50 within 10% (0.1 ms)."""
    raw_p50s, chanload_p50s, in_hand_p50s = [], [], []
    for i in range(ROUNDS):
        (round_dir := tmp_path / f"round{i}").mkdir()
        client = RawClient(raw, foreign.ws_url)
        client.start()
        try:
            run = run_locust(round_dir, foreign.ws_url, *args, "--ws-think", str(THINK_S), users=1, run_time=RUN_TIME)
        finally:
            client.stopping.set()
        assert run.code == 0, run.output[-3000:]
        message = run.row("WS message", row)
        assert message["count"] > 100 and message["failures"] == 0, message
        chanload_p50s.append(message["p50"])
        stamped, in_hand = client.p50s_within(_epoch(run.summary["started"]), _epoch(run.summary["ended"]))
        raw_p50s.append(stamped)
        in_hand_p50s.append(in_hand)
    # Paired: each round's two p50s were measured side by side, so their ratio cancels the noise they shared.
    ratio = statistics.median(c / r for c, r in zip(chanload_p50s, raw_p50s, strict=True))
    allowed = max(TOLERANCE, FLOOR_US / statistics.median(raw_p50s))
    assert abs(ratio - 1) <= allowed, (
        f"p50 chanload / raw client: {ratio:.3f} (allowed 1 +- {allowed:.3f}); "
        f"rounds (us): chanload {[round(p) for p in chanload_p50s]}, raw {[round(p) for p in raw_p50s]}; "
        f"raw, timed once in hand: {[round(p) for p in in_hand_p50s]}"
    )
