"""A websocket conversation: the public layer between `WsClient` and the Locust users.

A `Session` is one user's side of a conversation with a Channels app: connect (with per-user
headers, cookies or subprotocols), send text or JSON, wait for a frame that matches, and time each
step. It does the bookkeeping every user needs, so that a custom user's numbers are as true as the
built-in ones':

- every step is one request event, named by the step (or the route template), into Locust's stats
  and the HDR histograms; a round trip ends at the kernel's arrival stamp of the frame that matched;
- the counters reconcile: sent = ok + failed + in flight; connects and failures by class;
- frames that do not match are skipped and counted (`--ws-other skip`) or fail the step;
- a login before connecting (`login`: a Django form; `login_token`: a token endpoint) is one `HTTP login` row,
  and its cookies or token go with every handshake (`chanload.conversation.login`);
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

import functools
import itertools
import time
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode, urlsplit

from chanload.conversation import login as logins
from chanload.conversation import marks
from chanload.conversation.bookkeeping import CACHE_LIMIT, log_first, since
from chanload.conversation.compose import Composer
from chanload.conversation.groups import Groups, fill_path, route_name
from chanload.conversation.login import LoggingIn
from chanload.conversation.masking import Masker
from chanload.conversation.messages import (
    Expect,
    Payload,
)
from chanload.conversation.observer import Observed, Observer
from chanload.conversation.opening import Opening, openings
from chanload.conversation.recording import LocalRecording, Recording
from chanload.conversation.steps import Messaging
from chanload.exceptions import (
    ConnectionRefused,
    OptionError,
    WsError,
)
from chanload.recording.types import CONNECT, DELIVERY, MESSAGE, RECEIVE, SEND
from chanload.wire.client import WsClient, subprotocol_names, tls_options
from chanload.wire.defaults import DEFAULTS
from chanload.wire.framing import MAX_MESSAGE
from chanload.wire.reader import Reader
from chanload.wire.transport import ClientFactory, Transport

__all__ = ["CONNECT", "DELIVERY", "MESSAGE", "RECEIVE", "SEND", "Session"]  # the request types, for older imports

_ids = itertools.count()


class Session(Messaging, Observed, LoggingIn):
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
        match: which frame is the reply (forms as `--ws-expect`'s, e.g. `json:{"request_id": {seq}}`); None:
            the first frame `expect` accepts. With it, `expect` validates the matched frame: a frame that
            matches and fails `expect` is a `WrongReply` at once, and frames that do not match are others.
        opening: steps run after every connect, in order (`--ws-open`'s texts or `Opening`s): each is a
            row of its own, and a failed one closes the connection (the next connect runs them again).
        other: "fail" or "skip" a frame that does not match while a reply is awaited.
        listen: read frames as they come, in a greenlet of their own, so deliveries between round trips
            are read as they arrive. None: on when the payload carries `{mark}` (a relay chat).
        connect_timeout, reply_timeout: seconds.
        max_message: bytes a frame, or a message reassembled from fragments, may have (`--ws-max-message`):
            over it the step fails (`MessageTooBig`) and the connection is closed with 1009.
        ca_file: wss://: a PEM file of CA certificates to trust (`--ws-ca-file`), e.g. a private CA's.
        insecure: wss://: no certificate verification at all (`--ws-insecure`); for tests only.
        headers: 'Name: value' lines sent with every handshake.
        subprotocols: offered in every handshake (Sec-WebSocket-Protocol), after a `connect` call's own;
            a server that picks none of them, or another, fails the connect (`SubprotocolRejected`).
        client_factory: makes the websocket client (default `client_class`, `WsClient`);
            `chanload.testing.FakeServer.connect` gives a scripted fake with no network.
    """

    client_class = WsClient

    # Defaults, set on a session only where it differs. A Locust worker holds thousands of sessions, and
    # Python 3.11 shares attribute names among a class's instances only up to 29 of them: past that each
    # session keeps a dict of its own, 1.3 KB more a socket (benchmarks/README.md, "Connections").
    matching: Expect | None = None  # which frame is the reply; None: `expected`'s
    opening: tuple[Opening, ...] = ()
    other = "fail"
    max_message = MAX_MESSAGE
    tls: dict | None = None
    headers: tuple[str, ...] = ()
    subprotocols: tuple[str, ...] = ()
    marks = False
    listen = False
    username = ""  # the account logged in with: {username}
    login_failed = False  # the last login was refused (users pause longer before the next)
    _login: logins.Login | None = None
    _reader: Reader | None = None  # with listen: reads frames as they arrive
    _compose: Composer | None = None  # per-call messages and expectations, parsed once (made on first use)
    observers: tuple[Observer, ...] = ()  # told what the session does (`observe`); none: one check, no cost
    _masker: Masker | None = None

    def __init__(
        self,
        host: str,
        *,
        recording: Recording | None = None,
        route: str = "room/{group}",
        groups: Groups | str = "10",
        payload: Payload | str = "hello",
        expect: Expect | str = "OK",
        match: Expect | str | None = None,
        opening: Iterable[Opening | str] = (),
        other: str = "fail",
        listen: bool | None = None,
        # Timeouts
        connect_timeout: float = DEFAULTS.connect_timeout,
        reply_timeout: float = DEFAULTS.reply_timeout,
        # Limits and TLS
        max_message: int = MAX_MESSAGE,
        ca_file: str | None = None,
        insecure: bool = False,
        # Handshake
        headers: Iterable[str] = (),
        subprotocols: Iterable[str] = (),
        client_factory: ClientFactory | None = None,
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
        # Parsed once a process for every session given the same text (they only read them).
        self.groups = groups if isinstance(groups, Groups) else _groups(groups)
        self.payload = payload if isinstance(payload, Payload) else _payload(payload)
        self.expected = _expect(expect) if isinstance(expect, str) else Expect.of(expect)  # the default reply
        self.payload.check(self.groups)  # a JSON template that {group} breaks with these rooms: refused now
        self.expected.check(self.groups)
        # What stays at its class default is not set here: see the class attributes above.
        if match is not None:
            self.matching = _expect(match) if isinstance(match, str) else Expect.of(match)
        steps = openings(opening, "opening")
        if steps:
            self.opening = steps
        for step in steps:
            for template in (step.send, step.expect):
                if template is not None:
                    template.check(self.groups)
        if other != "fail":
            self.other = other  # fail | skip
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        if max_message != MAX_MESSAGE:
            self.max_message = max_message
        tls = tls_options(ca_file, insecure)
        if tls is not None:
            self.tls = tls
        if headers:
            self.headers = tuple(headers)
        if subprotocols:
            self.subprotocols = tuple(subprotocol_names(subprotocols, "subprotocols"))
        # Any object with WsClient's calls will do (chanload.testing.FakeClient).
        self._new_client: ClientFactory = client_factory or self.client_class
        # Look for marks in what arrives; on for good once one is sent.
        if self.payload.uses_mark or any(step.uses_mark for step in steps):
            self.marks = True
        if self.marks if listen is None else listen:
            self.listen = True
        self.client: Transport | None = None
        self.user = ""  # this connection's id: {user}, and the sender in its marks
        self.group = ""  # this connection's room: {group}
        self.seq = 0  # the number of the next message on this connection: {seq}
        # The number the next marked message's mark takes on this connection. Marks are numbered apart from
        # {seq}, so that messages without one (a join, a typing notice) leave no gap in what receivers count.
        self.mark_seq = 0
        self._mark = -1  # the mark number of the message just made, or -1 (none), and its send time
        self._mark_ns = 0
        self.connections = 0
        self.connect_failed = False  # the last connect() failed (users pause before the next)
        # Logins (chanload.conversation.login): what every handshake carries after one; never logged.
        self.cookies: dict[str, str] = {}
        self.auth_headers: list[str] = []
        self.auth_query: dict[str, str] = {}
        self._id = next(_ids)

    def _composer(self) -> Composer:
        compose = self._compose
        if compose is None:
            compose = self._compose = Composer()
        return compose

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
        opening: bool = True,
    ) -> None:
        """Open a new connection (closing any open one) and time its handshake as `WS connect`.

        `path` defaults to the route; `{group}` in it takes `group`, or a value from `--ws-groups`.
        `headers` ('Name: value') and `cookies` are this connection's own, added to `--ws-header`'s.
        `subprotocols` are offered before the session's (`--ws-subprotocol`'s): a server that takes the
        first name it supports takes a per-call one. A name in both is offered once.
        Then the session's opening steps run (`opening=False`: not this time); a failed one has been recorded
        as that step's failure, and it closes the connection before its error is raised.
        """
        self.close()
        if self._login is not None and self._login.due:
            self._log_in(self._login)  # recorded as HTTP login; a refusal is raised before any handshake
        ledger = self.recording.ledger
        name = step or self.name
        client = None
        filled = ""  # the path tried, logged with a failure
        start = 0.0
        try:
            self.group = self.groups.pick() if group is None else group
            filled = fill_path(path or self.route, self.group).lstrip("/")
            extra = [*self.auth_headers, *headers]
            jar = {**self.cookies, **cookies} if cookies else self.cookies
            if jar:
                extra.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in jar.items()))
            client = self._new_client(
                f"{self.host}/{filled}{_query(filled, self.auth_query)}",
                connect_timeout=self.connect_timeout,
                reply_timeout=self.reply_timeout,
                headers=[*self.headers, *extra],
                subprotocols=list(dict.fromkeys([*subprotocol_names(subprotocols), *self.subprotocols])),
                max_message=self.max_message,
                tls=self.tls,
            )
            start = time.perf_counter()
            if self.observers:
                self._observed_connect(client, start)
            else:
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
            log_first(exc, self.host, filled)
            self.recording.fire(CONNECT, name, since(start), 0, exc)
            if self._login is not None and self._login.worked and getattr(exc, "status", None) in (401, 403):
                self._login.due = True  # the app ended a session that worked: log in again before the next
            raise
        except Exception as exc:
            if client is not None:
                client.abort()
            self.connect_failed = True
            ledger.connect_failures += 1
            raise self._step_error(CONNECT, name, start, "connect", exc) from exc
        self.recording.fire(CONNECT, name, end - start, 0, None)
        self.connect_failed = False
        if self._login is not None:
            self._login.worked = True
        ledger.connects += 1
        self.recording.open_connections += 1
        self.client = client
        self.connections += 1
        self.user = user
        self.seq = 0
        self.mark_seq = 0
        self._reader = reader
        if opening and self.opening:
            self._open()

    def _open(self) -> None:
        """Run the opening steps in order; the first that fails closes the connection (users pause, then reconnect)."""
        try:
            for step in self.opening:
                if step.send is not None and step.expect is not None:
                    # Its own expectation picks the reply: the session's `match` is for the messages that follow.
                    self.request(step.send, step.expect, match=step.expect, step=step.name)
                elif step.send is not None:
                    self.send(step.send, step=step.name)
                else:
                    assert step.expect is not None
                    self.expect(step.expect, step=step.name)
        except WsError:
            self.connect_failed = True  # a server that refuses the opening is not retried in a hot loop
            self.close()
            raise

    def close(self) -> None:
        """Close the connection politely, if one is open."""
        if self.observers and self.client is not None:
            for observer in self.observers:
                observer.closing(self)
        client = self._detach()
        if client is not None:
            client.close()


@functools.lru_cache(maxsize=CACHE_LIMIT)
def _groups(value: str | int) -> Groups:
    return Groups.parse(value, "groups")


@functools.lru_cache(maxsize=CACHE_LIMIT)
def _payload(template: str) -> Payload:
    return Payload(template, "payload")


@functools.lru_cache(maxsize=CACHE_LIMIT)
def _expect(spec: str) -> Expect:
    return Expect.of(spec)


def _query(path: str, params: Mapping[str, str]) -> str:
    """The query string that carries a login's token, after the path's own query, if any."""
    if not params:
        return ""
    return ("&" if "?" in path else "?") + urlencode(params)
