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
The trace is an observer of the session (`TraceObserver`, see `chanload.conversation.observer`): a session
with none pays one check at each point it tells of. `TracingSession` is a `Session` with one.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

from chanload.conversation import marks
from chanload.conversation.login import Login, Obtained
from chanload.conversation.masking import MASK, Masker, mask_url
from chanload.conversation.messages import Frame
from chanload.conversation.observer import Observing, Step
from chanload.conversation.session import Session
from chanload.exceptions import ChanloadError, OptionError, WsError
from chanload.formatting import shorten
from chanload.wire.client import WsClient

LINES = 200  # the bound: lines one trace prints before it stops
FRAME = 100  # characters of a frame shown (shortened past it)

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


# The observer


class TraceObserver(Observing):
    """Prints a session's conversation, a line per event (see this module's docstring): `session.observe(it)`.

    `masker`: the session's (`session.masker`); `out`: a text stream (default sys.stderr, looked up at each
    line); `lines`: the bound (default 200). The heading is printed when it is made.
    """

    def __init__(self, masker: Masker, out: IO[str] | None = None, lines: int = LINES) -> None:
        self.trace = Tracer(out, lines, masker)
        self.mask = masker
        self._doing: tuple[str, int, str] = ("", 0, "")  # the step under way: name, seq, call
        self._opening = False
        self._own: list[Frame] = []  # own copies shown, the latest last (one may then be the reply)
        self.trace.note(
            f"one session, frame by frame, at most {lines} lines; times in ms from its start, secrets as {MASK} "
            f"(pid {os.getpid()})"
        )

    # Steps: which one is under way, for the lines its frames make

    def step(self, session: Any, step: Step) -> None:
        if step.call in ("request", "send", "expect"):
            self._doing = (step.name, step.seq, step.call)
        elif step.call == "open":
            self._opening = True

    def step_ended(self, session: Any, step: Step, error: ChanloadError | None) -> None:
        if step.call == "open":
            self._opening = False

    def closing(self, session: Any) -> None:
        why = "after a failed opening step" if self._opening else "by the script"
        self.trace.line("close", f"{why} (close frame, code 1000)")

    # The handshake: the URL, the headers sent and got, the subprotocols

    def connecting(self, session: Any, client: Any) -> None:
        if isinstance(client, WsClient):
            client.keep_answer = True  # the trace prints the handshake's answer

    def connected(self, session: Any, client: Any, seconds: float, error: WsError | None) -> None:
        trace = self.trace
        if not trace.on:
            return
        url = mask_url(getattr(client, "url", ""))
        if error is not None:
            trace.line("handshake", f"{url} failed in {trace.ms(seconds)}: {error}")
            return
        offered = list(getattr(client, "subprotocols", ()) or ())
        ws = getattr(client, "ws", None)
        status = ws.getstatus() if ws is not None and hasattr(ws, "getstatus") else None
        answer = dict(ws.getheaders() or {}) if ws is not None and hasattr(ws, "getheaders") else {}
        picked = answer.get("sec-websocket-protocol")
        for name, value in answer.items():
            if name.lower() == "set-cookie":
                self.mask.add_header(f"{name}: {value}")
        said = f"{status} " if status is not None else ""
        protocols = f"; subprotocol offered {', '.join(offered)}, picked {picked or 'none'}" if offered else ""
        trace.line("handshake", f"{url} -> {said}accepted in {trace.ms(seconds)}{protocols}")
        for header in getattr(client, "headers", ()):
            trace.line("", f"  > {self.mask.header(header)}")
        for name, value in answer.items():
            trace.line("", f"  < {self.mask.header(f'{name}: {value}')}")

    def sent(self, session: Any, frame: Frame) -> None:
        if self.trace.on:
            name, seq, _call = self._doing
            where = f"opening step {name}" if self._opening else f"{name} #{seq}"
            self.trace.line("send", f"{where} {self.trace.frame(frame)}")

    # Logins: the outcome and what it gave (names only)

    def logged_in(
        self, session: Any, login: Login, seconds: float, obtained: Obtained | None, error: Exception | None
    ) -> None:
        took = self.trace.ms(seconds)
        if obtained is None:
            # Another exception's message might hold what was posted: its class alone, as the login records it.
            what = str(error) if isinstance(error, WsError) else f"{type(error).__name__} raised"
            self.trace.line("login", f"{login.path} failed in {took}: {what}")
            return
        got = [f"cookies {', '.join(sorted(session.cookies))} (values {MASK})" if session.cookies else "no cookies"]
        if session.auth_headers:
            got.append(f"a token in the {session.auth_headers[0].partition(':')[0]} header")
        if session.auth_query:
            got.append(f"a token in the query string as {', '.join(session.auth_query)}")
        self.trace.line("login", f"{login.path} accepted in {took}: {'; '.join(got)}")

    # Frames: how each was taken

    def taken(self, session: Any, frame: Frame, arrival: float, start: float) -> None:
        if self.trace.on:
            name, number, call = self._doing
            took = self.trace.ms(max(arrival - start, 0.0))
            if self._opening:
                how = f"opening step {name} reply in {took}"
            elif call == "expect":
                how = f"expected frame for {name} after {took}"
            else:
                how = f"reply to {name} #{number} in {took}"
            if any(frame is own for own in self._own):
                self.trace.line("taken", f"the own copy above as the {how}")
            else:
                self.trace.line("received", f"{self.trace.frame(frame)}  {how}")
        self._own.clear()

    def wrong(self, session: Any, frame: Frame) -> None:
        if self.trace.on:
            self.trace.line(
                "received", f"{self.trace.frame(frame)}  wrong reply: the match picked it, the expectation fails it"
            )

    def other(self, session: Any, frame: Frame) -> None:
        if self.trace.on:
            skip = session.other == "skip"
            how = "other (skipped, --ws-other skip)" if skip else "other: a wrong reply (--ws-other fail)"
            self.trace.line("received", f"{self.trace.frame(frame)}  {how}")

    def sorted(self, session: Any, frame: Frame, arrival_ns: int, kind: str, receiver: str) -> None:
        if kind == "delivery" and self.trace.on:
            found = [m for m in marks.find(frame) if m.sender != receiver]
            whose = ", ".join(
                f"from {m.sender} #{m.seq} in {self.trace.ms((arrival_ns - m.sent_ns) / 1e9)}" for m in found[:3]
            )
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            self.trace.line("received", f"{self.trace.frame(frame)}  delivery {whose}{more}")
        elif kind == "own" and self.trace.on:
            self._own = [*self._own[-7:], frame]
            self.trace.line("received", f"{self.trace.frame(frame)}  own copy (this connection's mark)")

    def failed(self, session: Any, kind: str, name: str, seconds: float, error: WsError) -> None:
        dropped = " (the connection is dropped)" if error.fatal and session.client is not None else ""
        event = (
            "timeout" if error.kind == "reply timeout" else "closed" if error.kind == "closed by server" else "failed"
        )
        self.trace.line(event, f"{name}: {error}{dropped}")


class TracingSession(Session):
    """A `Session` with a `TraceObserver`: it prints its conversation frame by frame (`--ws-trace`).

    Takes `Session`'s arguments, plus `out` (a text stream; default sys.stderr) and `lines` (the bound,
    default 200). Meant for one session: with `--ws-trace`, the first session each process starts.
    """

    def __init__(self, host: str, *, out: IO[str] | None = None, lines: int = LINES, **kwargs: Any) -> None:
        masker = Masker()
        Tracer(out, lines, masker)  # a wrong bound is refused before anything else (the heading is printed later)
        super().__init__(host, **kwargs)
        self._masker = masker
        for header in self.headers:
            masker.add_header(header)
        observer = TraceObserver(masker, out, lines)
        self._trace = observer.trace
        self.observe(observer)


__all__ = ["LINES", "TraceObserver", "TracingSession", "claim", "mask_url"]
