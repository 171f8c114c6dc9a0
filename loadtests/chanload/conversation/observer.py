"""Observers of a `Session`: what it does, told as it happens, to whoever watches (a trace, a test's notes).

An `Observer` is given to `Session.observe(observer)`. The session then tells it of each step it begins
and how the step ends, each handshake, each frame sent, each frame read and how it was taken, each recorded
failure and each login. A session with no observer pays one check at each of these points and nothing else.
`Observing` is a base whose methods do nothing: an observer overrides the ones it needs.

Two observers come with chanload: `chanload.conversation.trace.TraceObserver` (`--ws-trace`, and
`--chanload-trace` for a test's `ws`) and `chanload.pytest.session.FailureNotes` (a failed step explains
itself in a behaviour test). Secrets go through the session's own `masker` (`chanload.conversation.masking`).
An observer must not raise; it runs in the session's thread, or in its reader's (`received`, `sorted`).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chanload.conversation.groups import route_name
from chanload.conversation.masking import Masker
from chanload.conversation.messages import Frame
from chanload.exceptions import ChanloadError, WsError


@dataclass(frozen=True)
class Step:
    """A step a session began: `call` (connect, request, send, expect, login, login_token, or `open`: the opening
    steps after a connect, each a step of its own inside it), its request `name` and `seq`, and what it was given
    (`expect`, `match`: as passed; `field`: a token login's)."""

    call: str
    name: str
    seq: int = 0
    expect: Any = None
    match: Any = None
    field: str | None = None


class Observer(Protocol):
    """What a session tells its observers (`Session.observe`); every method returns nothing and must not raise."""

    def step(self, session: Any, step: Step) -> None:
        """A step begins."""

    def step_ended(self, session: Any, step: Step, error: ChanloadError | None) -> None:
        """The step ended: returned (error None) or raised `error` (a note added to it shows under it in pytest)."""

    def connecting(self, session: Any, client: Any) -> None:
        """A client was made for the next handshake (its `url`, `headers`, `subprotocols`), not yet connected."""

    def connected(self, session: Any, client: Any, seconds: float, error: WsError | None) -> None:
        """The handshake ended: accepted after `seconds` (error None), or failed with `error`."""

    def sent(self, session: Any, frame: Frame) -> None:
        """A frame is about to be sent (in the current step)."""

    def received(self, session: Any, frame: Frame, arrival: float) -> None:
        """A frame was read off the connection; `arrival`: when it reached the socket (perf_counter)."""

    def sorted(self, session: Any, frame: Frame, arrival_ns: int, kind: str, receiver: str) -> None:
        """A frame with marks was taken as `kind`: "delivery" (another member's) or "own" (this connection's)."""

    def taken(self, session: Any, frame: Frame, arrival: float, start: float) -> None:
        """The frame the current step waited for (a reply, an expected frame) was taken; the wait began at `start`."""

    def other(self, session: Any, frame: Frame) -> None:
        """A frame that is not the one awaited: skipped or a wrong reply, as the session's `other` says."""

    def wrong(self, session: Any, frame: Frame) -> None:
        """The frame the match picked fails the expectation: the step fails with `WrongReply`."""

    def failed(self, session: Any, kind: str, name: str, seconds: float, error: WsError) -> None:
        """A failure is recorded (before the connection is dropped, if the error is fatal)."""

    def logged_in(self, session: Any, login: Any, seconds: float, obtained: Any, error: Exception | None) -> None:
        """A login ran: what it obtained (already applied to the session), or the error it raised."""

    def closing(self, session: Any) -> None:
        """The session closes its open connection (a close frame, code 1000)."""


class Observing:
    """An `Observer` that does nothing: subclass it and override what you watch."""

    def step(self, session: Any, step: Step) -> None:
        pass

    def step_ended(self, session: Any, step: Step, error: ChanloadError | None) -> None:
        pass

    def connecting(self, session: Any, client: Any) -> None:
        pass

    def connected(self, session: Any, client: Any, seconds: float, error: WsError | None) -> None:
        pass

    def sent(self, session: Any, frame: Frame) -> None:
        pass

    def received(self, session: Any, frame: Frame, arrival: float) -> None:
        pass

    def sorted(self, session: Any, frame: Frame, arrival_ns: int, kind: str, receiver: str) -> None:
        pass

    def taken(self, session: Any, frame: Frame, arrival: float, start: float) -> None:
        pass

    def other(self, session: Any, frame: Frame) -> None:
        pass

    def wrong(self, session: Any, frame: Frame) -> None:
        pass

    def failed(self, session: Any, kind: str, name: str, seconds: float, error: WsError) -> None:
        pass

    def logged_in(self, session: Any, login: Any, seconds: float, obtained: Any, error: Exception | None) -> None:
        pass

    def closing(self, session: Any) -> None:
        pass


class Observed:
    """A `Session`'s observers: `observe`, the one `masker`, and a handshake told. A part of `Session`."""

    # The session's, set in Session.__init__.
    observers: tuple[Observer, ...]
    headers: tuple[str, ...]
    _masker: Masker | None

    def observe(self, observer: Observer) -> None:
        """Tell `observer` what this session does from now on (`chanload.conversation.observer`)."""
        first = not self.observers
        self.observers = (*self.observers, observer)
        if first:
            observe_steps(self)
            for header in self.headers:
                self.masker.add_header(header)

    @property
    def masker(self) -> Masker:
        """The secrets an observer must not show (the session's credential headers, its logins'): one per session."""
        if self._masker is None:
            self._masker = Masker()
        return self._masker

    def _observed_connect(self, client: Any, start: float) -> None:
        for header in getattr(client, "headers", ()):
            self.masker.add_header(header)
        for observer in self.observers:
            observer.connecting(self, client)
        try:
            client.connect()
        except WsError as exc:
            for observer in self.observers:
                observer.connected(self, client, time.perf_counter() - start, exc)
            raise
        for observer in self.observers:
            observer.connected(self, client, time.perf_counter() - start, None)


# The steps an observed session tells of: its public calls, and `_open` (the opening steps after a connect).
STEPS = ("connect", "request", "send", "expect", "login", "login_token", "_open")


def observe_steps(session: Any) -> None:
    """Make `session`'s steps tell its observers when they begin and end (done once, by its first `observe`).

    Each step becomes an attribute of this session alone, wrapping its class's method (a subclass's too): a
    session that is not observed runs its class's methods as they are.
    """
    for call in STEPS:
        method = getattr(session, call)
        setattr(session, call, _observed(session, call, method))


def _observed(session: Any, call: str, method: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(method)

    @functools.wraps(method)
    def step(*args: Any, **kwargs: Any) -> Any:
        try:
            given = signature.bind(*args, **kwargs).arguments
        except TypeError:
            return method(*args, **kwargs)  # the call's own TypeError says what is wrong
        about = _step(session, call, {**given.pop("kwargs", {}), **given})
        observers = session.observers
        for observer in observers:
            observer.step(session, about)
        try:
            result = method(*args, **kwargs)
        except ChanloadError as exc:
            for observer in observers:
                observer.step_ended(session, about, exc)
            raise
        for observer in observers:
            observer.step_ended(session, about, None)
        return result

    return step


def _step(session: Any, call: str, given: dict[str, Any]) -> Step:
    name = given.get("step")
    if call == "connect":
        path = given.get("path")
        return Step(call, name or (route_name(path) if path else session.name))
    if call in ("login", "login_token"):
        return Step(call, name or given.get("path") or "", field=given.get("field", "token"))
    if call == "_open":
        return Step("open", "")
    seq = max(session.seq - 1, 0) if call == "expect" else session.seq
    return Step(call, name or session.name, seq, given.get("expect"), given.get("match"))
