"""One conversation frame by frame, for a user debugging a script (`--ws-trace`).

A `TracingSession` is a `Session` that prints what it does, a line per event, to stderr (or `out`):
the handshake (the URL with its query string masked, the headers it sent and got, the subprotocol
offered and picked), the login (its outcome, the cookie names), each message sent (the step and a
shortened frame), each frame received and how it was taken, and each failure (a timeout, a close
with its code). A frame is taken as one of:

    reply                  the frame the step waited for, with the round trip (as recorded)
    opening step NAME reply the same, for an opening step (`--ws-open`)
    expected frame         what `ws.expect(...)` waited for, with the wait
    other (skipped)        a frame that is not the reply, under `--ws-other skip`
    other: a wrong reply   the same under `--ws-other fail`: the step fails
    wrong reply            the frame `--ws-match` picked, failing `--ws-expect`
    delivery from S #N     another member's marked message, with its delivery latency
    own copy               this connection's own marked message relayed back

Times are milliseconds from the session's start, to the microsecond. Secrets are written `***`: the
values of JSON keys and `key=value` pairs named like a password, token, secret, authorization,
cookie, csrf* or session id; every value in a URL's query string; the values of `Cookie`,
`Authorization` and other credential headers, sent or received; and anywhere in a line, the
session's known secrets (the login's password, the cookies and token it got, those header values).
Secrets shorter than 4 characters are not searched for in frames (they would mask ordinary text).

The output is bounded: at most `lines` lines (default 200), then one line saying the trace stopped.
Tracing costs nothing when it is off: the plain `Session` has no trace checks; this subclass adds
them by overriding its steps.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from chanload.conversation import login as logins
from chanload.conversation import marks
from chanload.conversation.messages import Expect, Frame, Matcher
from chanload.conversation.session import Session
from chanload.exceptions import OptionError, WrongReply, WsError
from chanload.formatting import shorten
from chanload.wire.client import WsClient
from chanload.wire.login import HttpTarget

LINES = 200  # the bound: lines one trace prints before it stops
FRAME = 100  # characters of a frame shown (shortened past it)
MASK = "***"
MIN_SECRET = 4  # shorter known secrets are not searched for in text

log = logging.getLogger("chanload")

_traced_pid = 0


def claim() -> bool:
    """True for the first caller in this process, False after: `--ws-trace` traces one session per process."""
    global _traced_pid
    pid = os.getpid()  # a forked process (`--processes`) traces a session of its own
    if _traced_pid == pid:
        return False
    _traced_pid = pid
    return True


# Masking

_WORDS = r"passw(?:or)?d|passphrase|secret|token|authori[sz]ation|cookie|csrf|session_?id|api_?key"
_NAMES = r"[^\"'=&;,\s]*?(?:" + _WORDS + r")[^\"'=&;,\s]*"
_QUOTED_KEY = re.compile(
    r"""(?P<key>(?P<q>["'])""" + _NAMES + r"""(?P=q)\s*:\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^,}\]\s]+)""",
    re.IGNORECASE,
)
_PAIR = re.compile(r"(?P<key>(?<![\w-])" + _NAMES + r"=)(?P<value>[^&;,\s\"']+)", re.IGNORECASE)
_SECRET_HEADER = re.compile(r"cookie|authori[sz]ation|token|secret|csrf|api[-_]?key|session|passw", re.IGNORECASE)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    end = quote if len(value) > 1 and value.endswith(quote) else ""  # a value cut short stays open
    return match.group("key") + quote + MASK + end


class Masker:
    """Writes secrets as `***` in a text: named values (JSON keys, key=value pairs) and the known secrets."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self._known: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: object) -> None:
        """A value to mask wherever it appears (ignored when shorter than MIN_SECRET characters)."""
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET:
            self.secrets.add(value.strip())

    def add_header(self, header: str) -> None:
        """The value of a credential header 'Name: value' (and each cookie's value, and a scheme's token)."""
        name, _, value = header.partition(":")
        if not _SECRET_HEADER.search(name):
            return
        value = value.strip()
        self.add(value)
        if name.strip().lower() in ("cookie", "set-cookie"):
            for part in value.split(";"):
                self.add(part.partition("=")[2])
        else:
            self.add(value.partition(" ")[2])  # 'Token abc', 'Bearer abc'

    def __call__(self, text: str, extra: Iterable[str] = ()) -> str:
        for value in extra:
            self.add(value)
        if self.secrets:
            if self._known != self.secrets:
                self._known = frozenset(self.secrets)
                longest_first = sorted(self._known, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in longest_first))
            assert self._pattern is not None
            text = self._pattern.sub(MASK, text)
        text = _QUOTED_KEY.sub(_mask_value, text)
        return _PAIR.sub(_mask_value, text)

    def header(self, header: str) -> str:
        """'Name: ***' for a credential header, else the header with known secrets masked."""
        name, sep, value = header.partition(":")
        if sep and _SECRET_HEADER.search(name):
            return f"{name.strip()}: {MASK}"
        return self(header)


def mask_url(url: str) -> str:
    """The URL with every query-string value written `***` (names kept); user info dropped."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query or MASK, ""))


# Output


class Tracer:
    """Writes trace lines, masked and numbered against a bound; after `limit` lines, one line and silence."""

    def __init__(self, out: IO[str] | None, limit: int, masker: Masker) -> None:
        if limit < 2:
            raise OptionError(f"lines={limit!r}: a trace needs at least 2 lines (the default is {LINES})")
        self.out = out
        self.limit = limit
        self.mask = masker
        self.start = time.perf_counter()
        self.count = 0

    @property
    def on(self) -> bool:
        return self.count < self.limit

    def ms(self, seconds: float) -> str:
        return f"{seconds * 1000:.3f} ms"

    def note(self, text: str) -> None:
        """A line without a time (the trace's heading)."""
        self._line(f"trace: {self.mask(text)}")

    def line(self, event: str, text: str) -> None:
        """An event's line: `trace +   12.345 ms  EVENT     TEXT`, masked."""
        if self.count < self.limit:
            offset = (time.perf_counter() - self.start) * 1000
            self._line(f"trace +{offset:12.3f} ms  {event:<9} {self.mask(text)}")

    def _line(self, text: str) -> None:
        if self.count >= self.limit:
            return
        self.count += 1
        self._write(text)
        if self.count == self.limit:
            self._write(
                f"trace stopped after {self.limit} lines (--ws-trace prints at most {self.limit}); "
                "the run goes on untraced"
            )

    def frame(self, frame: Frame) -> str:
        """A frame as shown: masked whole, then shortened (a secret is never cut in half and shown)."""
        if isinstance(frame, bytes):
            masked: str | bytes = self.mask(frame.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        else:
            masked = self.mask(frame)
        return shorten(masked, FRAME)

    def _write(self, text: str) -> None:
        out = self.out or sys.stderr
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError) as exc:  # a closed or broken stream: the trace ends, the run does not
            self.count = self.limit
            log.warning("--ws-trace stopped: cannot write the trace (%s)", type(exc).__name__)


# The session


class TracingSession(Session):
    """A `Session` that prints its conversation frame by frame (`--ws-trace`; see this module's docstring).

    Takes `Session`'s arguments, plus `out` (a text stream; default sys.stderr) and `lines` (the bound,
    default 200). Meant for one session: with `--ws-trace`, the first session each process starts.
    """

    def __init__(self, host: str, *, out: IO[str] | None = None, lines: int = LINES, **kwargs: Any) -> None:
        self._masker = Masker()
        self._trace = Tracer(out, lines, self._masker)
        self._doing: tuple[str, int, str] = ("", 0, "")  # the step under way: name, seq, call
        self._opening = False
        self._own: list[Frame] = []  # own copies shown, the latest last (one may then be the reply)
        self._trace_login: logins.Login | None = None
        super().__init__(host, **kwargs)
        for header in self.headers:
            self._masker.add_header(header)
        make = self._new_client
        self._new_client = cast(
            Callable[..., WsClient], lambda url, **options: _TracedClient(make(url, **options), self)
        )
        self._trace.note(
            f"one session, frame by frame, at most {lines} lines; times in ms from its start, secrets as {MASK} "
            f"(pid {os.getpid()})"
        )

    # Steps: note which one is under way, for the lines its frames make

    def request(self, *args: Any, **kwargs: Any) -> Frame:
        self._doing = (kwargs.get("step") or self.name, self.seq, "request")
        return super().request(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> None:
        self._doing = (kwargs.get("step") or self.name, self.seq, "send")
        return super().send(*args, **kwargs)

    def expect(self, *args: Any, **kwargs: Any) -> Frame:
        self._doing = (kwargs.get("step") or self.name, max(self.seq - 1, 0), "expect")
        return super().expect(*args, **kwargs)

    def _open(self) -> None:
        self._opening = True
        try:
            super()._open()
        finally:
            self._opening = False

    def close(self) -> None:
        if self.client is not None:
            why = "after a failed opening step" if self._opening else "by the script"
            self._trace.line("close", f"{why} (close frame, code 1000)")
        super().close()

    # Logins: the password is a secret from the start; the outcome is a line

    def login(self, *args: Any, **kwargs: Any) -> None:
        self._masker.add(kwargs.get("password", args[2] if len(args) > 2 else None))
        return super().login(*args, **kwargs)

    def login_token(self, *args: Any, **kwargs: Any) -> str | None:
        data = kwargs.get("data", args[1] if len(args) > 1 else None)
        if isinstance(data, dict):
            for key, value in data.items():
                if _SECRET_HEADER.search(str(key)):
                    self._masker.add(value)
        return super().login_token(*args, **kwargs)

    @property
    def _login(self) -> logins.Login | None:
        return self._trace_login

    @_login.setter
    def _login(self, value: logins.Login | None) -> None:
        if value is not None and self._trace_login is not value:
            self._wrap_login(value)
        self._trace_login = value

    def _wrap_login(self, login: logins.Login) -> None:
        run = login._run

        def traced(target: HttpTarget, timeout: float) -> logins.Obtained:
            start = time.perf_counter()
            try:
                result = run(target, timeout)
            except Exception as exc:
                # Another exception's message might hold what was posted: its class alone, as the login records it.
                what = str(exc) if isinstance(exc, WsError) else f"{type(exc).__name__} raised"
                self._trace.line(
                    "login", f"{login.path} failed in {self._trace.ms(time.perf_counter() - start)}: {what}"
                )
                raise
            cookies = self.cookies if result.cookies is None else result.cookies
            headers = self.auth_headers if result.headers is None else result.headers
            query = self.auth_query if result.query is None else result.query
            for value in result.secrets():
                self._masker.add(value)
            for header in headers:
                self._masker.add_header(header)
            self._secrets_known()
            got = [f"cookies {', '.join(sorted(cookies))} (values {MASK})" if cookies else "no cookies"]
            if headers:
                got.append(f"a token in the {headers[0].partition(':')[0]} header")
            if query:
                got.append(f"a token in the query string as {', '.join(query)}")
            took = self._trace.ms(time.perf_counter() - start)
            self._trace.line("login", f"{login.path} accepted in {took}: {'; '.join(got)}")
            return result

        login._run = traced

    def _secrets_known(self) -> None:
        for value in self.cookies.values():
            self._masker.add(value)
        for header in self.auth_headers:
            self._masker.add_header(header)
        for value in self.auth_query.values():
            self._masker.add(value)

    # Frames: how each was taken

    def _await(
        self,
        client: WsClient,
        match: Matcher,
        expected: Expect,
        seq: int,
        start: float,
        wait: float,
        check: Matcher | None = None,
        checked: Expect | None = None,
    ) -> tuple[Frame, float]:
        failed: list[Frame] = []
        checking = check
        if check is not None and self._trace.on:
            inner = check

            def checking(frame: Frame) -> bool:
                ok = inner(frame)
                if not ok:
                    failed.append(frame)
                return ok

        try:
            frame, arrival = super()._await(client, match, expected, seq, start, wait, checking, checked)
        except WrongReply:
            if failed:
                self._trace.line(
                    "received",
                    f"{self._trace.frame(failed[-1])}  wrong reply: the match picked it, the expectation fails it",
                )
            raise
        if self._trace.on:
            name, number, call = self._doing
            took = self._trace.ms(max(arrival - start, 0.0))
            if self._opening:
                how = f"opening step {name} reply in {took}"
            elif call == "expect":
                how = f"expected frame for {name} after {took}"
            else:
                how = f"reply to {name} #{number} in {took}"
            if any(frame is own for own in self._own):
                self._trace.line("taken", f"the own copy above as the {how}")
            else:
                self._trace.line("received", f"{self._trace.frame(frame)}  {how}")
        self._own.clear()
        return frame, arrival

    def _other(self, frame: Frame, expected: Expect, seq: int) -> None:
        if self._trace.on:
            how = (
                "other (skipped, --ws-other skip)" if self.other == "skip" else "other: a wrong reply (--ws-other fail)"
            )
            self._trace.line("received", f"{self._trace.frame(frame)}  {how}")
        super()._other(frame, expected, seq)

    def _sort(self, frame: Frame, arrival_ns: int, receiver: str, group: str) -> str | None:
        kind = super()._sort(frame, arrival_ns, receiver, group)
        if kind == "delivery" and self._trace.on:
            found = [m for m in marks.find(frame) if m.sender != receiver]
            whose = ", ".join(
                f"from {m.sender} #{m.seq} in {self._trace.ms((arrival_ns - m.sent_ns) / 1e9)}" for m in found[:3]
            )
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            self._trace.line("received", f"{self._trace.frame(frame)}  delivery {whose}{more}")
        elif kind == "own" and self._trace.on:
            self._own = [*self._own[-7:], frame]
            self._trace.line("received", f"{self._trace.frame(frame)}  own copy (this connection's mark)")
        return kind

    def _failed(self, kind: str, name: str, seconds: float, exc: WsError) -> None:
        dropped = " (the connection is dropped)" if exc.fatal and self.client is not None else ""
        event = "timeout" if exc.kind == "reply timeout" else "closed" if exc.kind == "closed by server" else "failed"
        self._trace.line(event, f"{name}: {exc}{dropped}")
        super()._failed(kind, name, seconds, exc)


class _TracedClient:
    """A websocket client whose handshake and sends make trace lines; everything else goes to the client."""

    def __init__(self, client: WsClient, session: TracingSession) -> None:
        self._client = client
        self._session = session
        if isinstance(client, WsClient):
            client.keep_answer = True  # the trace prints the handshake's answer
        for header in getattr(client, "headers", ()):
            session._masker.add_header(header)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def connect(self) -> None:
        trace = self._session._trace
        client = self._client
        if not trace.on:
            client.connect()
            return
        url = mask_url(getattr(client, "url", ""))
        offered = list(getattr(client, "subprotocols", ()) or ())
        start = time.perf_counter()
        try:
            client.connect()
        except WsError as exc:
            trace.line("handshake", f"{url} failed in {trace.ms(time.perf_counter() - start)}: {exc}")
            raise
        took = trace.ms(time.perf_counter() - start)
        ws = getattr(client, "ws", None)
        status = ws.getstatus() if ws is not None and hasattr(ws, "getstatus") else None
        answer = dict(ws.getheaders() or {}) if ws is not None and hasattr(ws, "getheaders") else {}
        picked = answer.get("sec-websocket-protocol")
        for name, value in answer.items():
            if name.lower() == "set-cookie":
                self._session._masker.add_header(f"{name}: {value}")
        said = f"{status} " if status is not None else ""
        protocols = f"; subprotocol offered {', '.join(offered)}, picked {picked or 'none'}" if offered else ""
        trace.line("handshake", f"{url} -> {said}accepted in {took}{protocols}")
        for header in getattr(client, "headers", ()):
            trace.line("", f"  > {self._session._masker.header(header)}")
        for name, value in answer.items():
            trace.line("", f"  < {self._session._masker.header(f'{name}: {value}')}")

    def send(self, message: Frame) -> None:
        session = self._session
        if session._trace.on:
            name, seq, _call = session._doing
            where = f"opening step {name}" if session._opening else f"{name} #{seq}"
            session._trace.line("send", f"{where} {session._trace.frame(message)}")
        self._client.send(message)


__all__ = ["LINES", "TracingSession", "claim", "mask_url"]
