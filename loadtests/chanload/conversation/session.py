"""A websocket conversation: the public layer between `WsClient` and the Locust users.

A `Session` is one user's side of a conversation with a Channels app: connect (with per-user
headers, cookies or subprotocols), send text or JSON, wait for a frame that matches, and time each
step. It does the bookkeeping every user needs, so that a custom user's numbers are as true as the
built-in ones':

- every step is one request event, named by the step (or the route template), into Locust's stats
  and the HDR histograms; a round trip ends at the kernel's arrival stamp of the frame that matched;
- the counters reconcile: sent = ok + failed + in flight; connects and failures by class;
- frames that do not match are skipped and counted (`--ws-other skip`) or fail the step;
- frames carrying another member's mark (`chanload.conversation.marks`) are deliveries: latency from the mark's
  send time, gaps, duplicates and reordering per sender; they are never taken for a reply;
- an exception that is not a `WsError` raised inside a step (a bad per-call template, a dict `json.dumps`
  refuses, a matcher that raises) fails that step like any other failure: recorded, counted, the
  connection dropped, then raised as a `StepError` chained from it.

It is to this suite what Locust's `HttpSession` is to `HttpUser`: it knows nothing of Locust's
runner, and reports through the `Recording` it is given (`recording.fire` for request events): in a
Locust user the run's `State`, elsewhere a `LocalRecording` of its own. Explicit arguments are what it
uses; the Locust users pass the command line's `--ws-*` values in, where they override a class's.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from chanload.conversation import marks
from chanload.conversation.compose import Composer
from chanload.conversation.groups import Groups, fill_path, route_name
from chanload.conversation.messages import (
    Expect,
    Frame,
    Matcher,
    Payload,
)
from chanload.conversation.recording import LocalRecording, Recording
from chanload.exceptions import (
    ConnectionLost,
    ConnectionRefused,
    OptionError,
    ReplyTimeout,
    StepError,
    WrongReply,
    WsError,
)
from chanload.recording.types import CONNECT, CORRECTED, DELIVERY, MESSAGE, RECEIVE, SEND, SEND_LAG
from chanload.wire.client import WsClient, subprotocol_names
from chanload.wire.reader import Reader
from chanload.wire.stamps import SENDS

log = logging.getLogger("chanload")
_ids = itertools.count()
_first_seen: set[str] = set()  # failure messages already logged with the path they were met at
_CACHE_LIMIT = 256


class Session:
    """One user's websocket conversation. Every call that fails records the failure, then raises it (a `WsError`).

    Marks are looked for in what arrives from the first message carrying one that the session sends,
    wherever its `{mark}` came from (the payload, a per-call text, a string in a dict message); until
    then no frame can be another member's copy of a marked message of ours. `listen` is decided once,
    here: a session that starts sending marks later, without listening, sorts each frame when a step
    reads it. A delivery that came between steps is then recorded late, though its `WS delivery`
    latency still ends at the kernel's arrival stamp (where the platform has none, at the read).

    Args:
        host: the target, ws://HOST:PORT or wss://HOST:PORT (a path under it is kept).
        recording: where samples and counters go; default, a `LocalRecording` of its own.
        route: path template under the host, `{group}` filled per connection.
        groups: the pool `{group}` takes values from, in `--ws-groups`' forms, or a `Groups`.
        payload: the default message (placeholders as `--ws-payload`'s).
        expect: the default expected reply (forms as `--ws-expect`'s).
        other: "fail" or "skip" a frame that does not match while a reply is awaited.
        listen: read frames as they come, in a greenlet of their own, so deliveries between round trips
            are read as they arrive. None: on when the payload carries `{mark}` (a relay chat).
        connect_timeout, reply_timeout: seconds.
        headers: 'Name: value' lines sent with every handshake.
        subprotocols: offered in every handshake (Sec-WebSocket-Protocol), after a `connect` call's own;
            a server that picks none of them, or another, fails the connect (`SubprotocolRejected`).
        client_factory: makes the websocket client (default `client_class`, `WsClient`);
            `chanload.testing.FakeServer.connect` gives a scripted fake with no network.
    """

    client_class = WsClient

    def __init__(
        self,
        host: str,
        *,
        recording: Recording | None = None,
        route: str = "room/{group}",
        groups: Groups | str = "10",
        payload: Payload | str = "hello",
        expect: Expect | str = "OK",
        other: str = "fail",
        listen: bool | None = None,
        # Timeouts
        connect_timeout: float = 5.0,
        reply_timeout: float = 5.0,
        # Handshake
        headers: Iterable[str] = (),
        subprotocols: Iterable[str] = (),
        client_factory: Callable[..., Any] | None = None,
    ) -> None:
        if other not in ("fail", "skip"):
            raise OptionError(f"other={other!r}: expected 'fail' or 'skip'")
        if connect_timeout <= 0 or reply_timeout <= 0:
            raise OptionError(f"timeouts must be greater than 0, got {connect_timeout=} and {reply_timeout=}")
        if urlsplit(host).scheme not in ("ws", "wss"):
            raise OptionError(f"host {host!r}: expected ws://HOST:PORT or wss://HOST:PORT")
        self.host = host.rstrip("/")
        self.recording: Recording = LocalRecording() if recording is None else recording
        self.route = route
        self.name = route_name(self.route)  # the default step name
        self.groups = groups if isinstance(groups, Groups) else Groups.parse(groups, "groups")
        self.payload = payload if isinstance(payload, Payload) else Payload(payload, "payload")
        self.expected = Expect.of(expect)  # the default expected reply
        self.other = other  # fail | skip
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.headers = tuple(headers)
        self.subprotocols = tuple(subprotocol_names(subprotocols, "subprotocols"))
        # Any object with WsClient's calls will do (chanload.testing.FakeClient).
        self._new_client: Callable[..., WsClient] = client_factory or self.client_class
        self.marks = self.payload.uses_mark  # look for marks in what arrives; on for good once one is sent
        self.listen = self.marks if listen is None else listen
        self.client: WsClient | None = None
        self.user = ""  # this connection's id: {user}, and the sender in its marks
        self.group = ""  # this connection's room: {group}
        self.seq = 0  # the number of the next message on this connection: {seq}
        self.connections = 0
        self.connect_failed = False  # the last connect() failed (users pause before the next)
        self._id = next(_ids)
        self._reader: Reader | None = None  # with listen: reads frames as they arrive
        self._compose = Composer()  # per-call messages and expectations, parsed once

    @property
    def state(self) -> Recording:
        """The recording this session reports into (the run's `State` in a Locust user); an older name."""
        return self.recording

    @property
    def connected(self) -> bool:
        return self.client is not None

    # Connection

    def connect(
        self,
        path: str | None = None,
        *,
        group: str | None = None,
        headers: Iterable[str] = (),
        cookies: Mapping[str, str] | None = None,
        subprotocols: Iterable[str] = (),
        step: str | None = None,
    ) -> None:
        """Open a new connection (closing any open one) and time its handshake as `WS connect`.

        `path` defaults to the route; `{group}` in it takes `group`, or a value from `--ws-groups`.
        `headers` ('Name: value') and `cookies` are this connection's own, added to `--ws-header`'s.
        `subprotocols` are offered before the session's (`--ws-subprotocol`'s): a server that takes the
        first name it supports takes a per-call one. A name in both is offered once.
        """
        self.close()
        ledger = self.recording.ledger
        name = step or self.name
        client = None
        filled = ""  # the path tried, logged with a failure
        start = 0.0
        try:
            self.group = self.groups.pick() if group is None else group
            filled = fill_path(path or self.route, self.group).lstrip("/")
            extra = list(headers)
            if cookies:
                extra.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
            client = self._new_client(
                f"{self.host}/{filled}",
                connect_timeout=self.connect_timeout,
                reply_timeout=self.reply_timeout,
                headers=[*self.headers, *extra],
                subprotocols=list(dict.fromkeys([*subprotocol_names(subprotocols), *self.subprotocols])),
            )
            start = time.perf_counter()
            client.connect()
            end = time.perf_counter()
            # {user} names the connection, since {seq} restarts with each: a receiver never takes a new
            # connection's numbers for duplicates of the old one's.
            user = f"{marks.process_id()}-{self._id}-{self.connections + 1}"
            reader = self._listen(client, user, self.group) if self.listen else None
        except WsError as exc:
            self.connect_failed = True
            ledger.connect_failures += 1
            if isinstance(exc, ConnectionRefused):
                ledger.last_refused_at = time.time()
            ledger.failure_kinds[exc.kind] += 1
            _log_first(exc, self.host, filled)
            self.recording.fire(CONNECT, name, _since(start), 0, exc)
            raise
        except Exception as exc:
            if client is not None:
                client.abort()
            self.connect_failed = True
            ledger.connect_failures += 1
            raise self._step_error(CONNECT, name, start, "connect", exc) from exc
        self.recording.fire(CONNECT, name, end - start, 0, None)
        self.connect_failed = False
        ledger.connects += 1
        self.recording.open_connections += 1
        self.client = client
        self.connections += 1
        self.user = user
        self.seq = 0
        self._reader = reader

    def close(self) -> None:
        """Close the connection politely, if one is open."""
        client = self._detach()
        if client is not None:
            client.close()

    # Messages

    def request(
        self,
        message: Frame | dict | list | Payload | None = None,
        expect: Expect | str | dict | list | Matcher | None = None,
        *,
        step: str | None = None,
        intended: float | None = None,
    ) -> Frame:
        """Send a message and wait for the frame that matches: one round trip, recorded as `WS message`.

        Args:
            message: text (placeholders filled, as in `--ws-payload`), bytes (as is), a dict or list
                (sent as JSON, the placeholders in its string values filled, keys untouched), or None
                for the session's payload.
            expect: what the reply must be (see `Expect.of`), or None for the session's.
            step: the request name of this step (default: the route template), e.g. "quote".
            intended: open model: the perf_counter time this message was due, for the corrected row.
        Returns the reply; raises the `WsError` that failed the step, after recording it (`StepError`
        for any other exception raised inside it; the message counts as sent and failed).
        """
        name = step or self.name
        ledger = self.recording.ledger
        seq = self.seq
        # In flight from now until answered or failed, so that the counters reconcile at any moment (a
        # worker's report mid-run too); when the run stops the user while it waits, it stays in flight.
        ledger.sent += 1
        ledger.in_flight += 1
        self.seq = seq + 1
        start = 0.0
        try:
            expected = self.expected if expect is None else self._compose.expect(expect)
            text = self._render(message, seq)
            match = expected.matcher(self.user, seq, self.group)
            start = time.perf_counter()
            if SENDS is not None and intended is not None:
                SENDS.append((intended, start))  # CHANLOAD_SEND_STAMPS: the benchmarks' own instrument
            client = self._client()
            client.send(text)
            reply, end = self._await(client, match, expected, seq, start, self.reply_timeout)
        except WsError as exc:
            ledger.in_flight -= 1
            ledger.failed += 1
            self._failed(MESSAGE, name, _since(start), exc)
            raise
        except Exception as exc:
            ledger.in_flight -= 1
            ledger.failed += 1
            raise self._step_error(MESSAGE, name, start, "request", exc) from exc
        ledger.in_flight -= 1
        if end < start:
            # A frame that sat in the read buffer from before this send, taken as the reply, arrived
            # before it was asked for. Recorded as 0, never negative, and counted.
            ledger.early_replies += 1
            end = start
        ledger.ok += 1
        ledger.last_ok_at = time.time()
        self.recording.fire(MESSAGE, name, end - start, len(reply), None)
        if intended is not None:
            self.recording.recorder.record(CORRECTED, name, end - intended)
            self.recording.recorder.record(SEND_LAG, name, start - intended)
        return reply

    def send(self, message: Frame | dict | list | Payload | None = None, *, step: str | None = None) -> None:
        """Send a message without waiting for a reply (not a round trip: only a failure is recorded, as `WS send`)."""
        seq = self.seq
        self.seq = seq + 1
        start = 0.0
        try:
            text = self._render(message, seq)
            start = time.perf_counter()
            self._client().send(text)
        except WsError as exc:
            self._failed(SEND, step or self.name, _since(start), exc)
            raise
        except Exception as exc:
            raise self._step_error(SEND, step or self.name, start, "send", exc) from exc

    def expect(
        self,
        expect: Expect | str | dict | list | Matcher,
        *,
        timeout: float | None = None,
        step: str | None = None,
    ) -> Frame:
        """Wait for a frame that matches, with no message of its own (a welcome, a push).

        Frames that do not match are skipped and counted, or fail, as `--ws-other` says. Placeholders
        take the values of the last message sent. With `step`, the wait is recorded as `WS receive`
        (timed from this call); a failed wait is always recorded. Returns the frame.
        """
        seq = max(self.seq - 1, 0)
        wait = self.reply_timeout if timeout is None else timeout
        start = time.perf_counter()
        try:
            expected = self._compose.expect(expect)
            client = self._client()
            frame, end = self._await(client, expected.matcher(self.user, seq, self.group), expected, seq, start, wait)
        except WsError as exc:
            self._failed(RECEIVE, step or self.name, time.perf_counter() - start, exc)
            raise
        except Exception as exc:
            raise self._step_error(RECEIVE, step or self.name, start, "expect", exc) from exc
        if step is not None:
            self.recording.fire(RECEIVE, step, max(end - start, 0.0), len(frame), None)
        return frame

    # Receiving

    def _await(
        self, client: WsClient, match: Matcher, expected: Expect, seq: int, start: float, wait: float
    ) -> tuple[Frame, float]:
        """The frame that matches and when it reached the socket (perf_counter), within `wait` s of `start`."""
        if self._reader is not None:
            return self._await_queued(self._reader, match, expected, seq, start, wait)
        # The common case is one wait on the connection's reusable reply timer, and a match.
        reply = client.recv() if wait == self.reply_timeout else client.recv(wait)
        while True:
            own = False
            if self.marks:
                kind = self._sort(reply, client.arrival_ns, self.user, self.group)
                if kind == "delivery":
                    reply = self._recv_until(client, start + wait)
                    continue
                own = kind == "own"
            if match(reply):
                return reply, client.arrival
            if not own:
                self._other(reply, expected, seq)
            reply = self._recv_until(client, start + wait)

    def _recv_until(self, client: WsClient, deadline: float) -> Frame:
        left = deadline - time.perf_counter()
        if left <= 0:
            client.abort()  # a late reply would put the conversation out of step
            raise ReplyTimeout(f"reply timeout: no matching reply within {self.reply_timeout:g}s")
        return client.recv(left)

    def _await_queued(
        self, reader: Reader, match: Matcher, expected: Expect, seq: int, start: float, wait: float
    ) -> tuple[Frame, float]:
        while True:
            item = reader.get(start + wait)
            if item is None:
                raise ReplyTimeout(f"reply timeout: no matching reply within {wait:g}s")
            frame, arrival, own = item
            if match(frame):
                return frame, arrival
            if not own:
                self._other(frame, expected, seq)

    def _other(self, frame: Frame, expected: Expect, seq: int) -> None:
        """A frame that is not the awaited one: counted and skipped, or the step fails (--ws-other)."""
        if self.other == "skip":
            self.recording.ledger.other_frames += 1
            return
        raise WrongReply(expected.describe(self.user, seq, self.group), frame)

    def _sort(self, frame: Frame, arrival_ns: int, receiver: str, group: str) -> str | None:
        """Record the deliveries a frame carries: 'delivery' (others' marks only), 'own' (this connection's), None."""
        found = marks.find(frame)
        if not found:
            return None
        own = False
        for mark in found:
            if mark.sender == receiver:
                own = True
                continue
            self.recording.delivery.see(group, receiver, mark.sender, mark.seq)
            # sent_ns is the sender's CLOCK_REALTIME (one machine, or clocks kept in step); so is the stamp.
            self.recording.fire(DELIVERY, self.name, (arrival_ns - mark.sent_ns) / 1e9, len(frame), None)
        return "own" if own else "delivery"

    # Bookkeeping

    def _client(self) -> WsClient:
        if self.client is None:
            raise ConnectionLost("connection lost: not connected (call connect() first)")
        return self.client

    def _failed(self, kind: str, name: str, seconds: float, exc: WsError) -> None:
        self.recording.ledger.failure_kinds[exc.kind] += 1
        self.recording.fire(kind, name, seconds, 0, exc)
        if exc.fatal:
            client = self._detach()
            if client is not None:
                client.abort()

    def _step_error(self, kind: str, name: str, start: float, call: str, exc: Exception) -> StepError:
        """Record an exception that is not a WsError, raised inside a step, as that step's failure; return it.

        The message stays one per fault: this connection's id and the marks in the original's are written
        as placeholders. The first time this process meets a message, it is logged with its traceback.
        """
        try:
            detail = marks.hide(str(exc))
        except Exception:  # an exception whose str() raises too: its class alone
            detail = ""
        if self.user:
            detail = detail.replace(self.user, "{user}")
        error = StepError(call, exc, detail)
        key = str(error)
        if key not in _first_seen and len(_first_seen) < _CACHE_LIMIT:  # a message that varies: no log flood
            _first_seen.add(key)
            log.warning("%s (first seen; its traceback follows)", error, exc_info=exc)
        self._failed(kind, name, _since(start), error)
        if type(exc).__module__.startswith("locust."):
            # Locust's own control flow raised in a user's code (StopUser, RescheduleTask, InterruptTaskSet):
            # the step is recorded as failed, then Locust gets the exception it understands. Checked by
            # module name, since this layer never imports Locust.
            raise exc
        return error

    def _listen(self, client: WsClient, user: str, group: str) -> Reader:
        """A reader that sorts marks on arrival; when they are not looked for yet, it asks on every frame."""
        if self.marks:
            return Reader(client, lambda frame, ns: self._sort(frame, ns, user, group))
        return Reader(client, lambda frame, ns: self._sort(frame, ns, user, group) if self.marks else None)

    def _detach(self) -> WsClient | None:
        client, self.client = self.client, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()
        if client is not None:
            self.recording.open_connections -= 1
        return client

    def _render(self, message, seq: int) -> Frame:
        if message is None:  # the session's payload: the common case, no lookup
            return self.payload.render(user=self.user, seq=seq, group=self.group, sent_ns=time.time_ns())
        frame = self._compose.frame(message, self.user, seq, self.group)
        if self._compose.marks:
            self.marks = True  # a message of ours carried a mark: others' copies are deliveries from now on
        return frame


def _since(start: float) -> float:
    """Seconds since `start` (perf_counter); 0 for a step that failed before its clock started."""
    return time.perf_counter() - start if start else 0.0


def _log_first(exc: WsError, host: str, path: str) -> None:
    """Log a failure the first time this process meets it, with the path tried (never in the request name).

    The query string is left out: it may carry a token.
    """
    key = str(exc)
    if key in _first_seen:
        return
    _first_seen.add(key)
    parts = urlsplit(f"{host}/{path}")
    log.warning("%s (first seen connecting to %s://%s%s)", exc, parts.scheme, parts.netloc, parts.path)
