"""Every error a chanload user can meet, in one hierarchy.

    ChanloadError
    ├── OptionError        an option's (or a constructor argument's) value is wrong; also a ValueError
    ├── NotSetUp           chanload is not attached to this Locust environment; also a RuntimeError
    ├── ProtocolError      the peer broke the websocket protocol (RFC 6455) in a frame
    └── WsError            a classified failure of one websocket action; recorded, then raised
        ├── ConnectionRefused
        ├── HandshakeRejected     (.status: the HTTP status)
        ├── HandshakeTimeout
        ├── CertificateRejected   wss://: the server's certificate is not trusted (--ws-ca-file, --ws-insecure)
        ├── SubprotocolRejected   the server picked none of the offered subprotocols, or one not offered
        ├── ReplyTimeout
        ├── WrongReply            not fatal: the reply was consumed, the connection stays in step
        ├── ClosedByServer        (.code: the close code, or None; .reason)
        ├── MessageTooBig         a frame or a message over --ws-max-message (.limit); closed with 1009
        ├── ConnectionLost
        ├── StepError             code inside a step raised something else (.step; the original is __cause__)
        └── LoginRefused          an HTTP login (ws.login, --login-url) did not give a session or a token (.status)

`except chanload.ChanloadError` catches all of them; `except chanload.WsError` the failures that a
`Session` records before raising. Each message says what happened and, where an option is at fault,
what to change. An error builds its message from its fields: callers pass facts, not sentences, so that
one error has one text (and Locust one failure row per fault).
"""

from __future__ import annotations

import re

from chanload.formatting import shorten

_NUMBERED = re.compile(r"[\w.-]*\d[\w.-]*")


class ChanloadError(Exception):
    """The base of every error chanload raises."""

    def __reduce__(self) -> tuple:
        # Pickled (and copied) as its message and fields, not by calling the constructor again with the message:
        # the constructors take facts, not the text they build.
        return _restore, (type(self), str(self), self.__dict__)


class OptionError(ChanloadError, ValueError):
    """An option's value is wrong; the message names the option and what to change."""


class NotSetUp(ChanloadError, RuntimeError):
    """A Locust environment chanload was not attached to (no `chanload` user class, no `attach()` call)."""

    def __init__(self) -> None:
        super().__init__(
            "chanload is not set up for this Locust environment: run a chanload user class (from chanload import "
            "WsUser), or call chanload.locust.plugin.attach(environment, settings) for an Environment built in code"
        )


class ProtocolError(ChanloadError):
    """The peer broke the websocket protocol (RFC 6455) in a frame it sent; `.problem` says how (the message).

    `section`, when given, is the RFC 6455 section the frame broke, named in the message.
    """

    def __init__(self, problem: str, section: str | None = None) -> None:
        super().__init__(f"{problem} (section {section})" if section else problem)
        self.problem = problem
        self.section = section


class WsError(ChanloadError):
    """A classified websocket failure. `kind` is a short stable label; `fatal` drops the connection."""

    kind = "error"
    fatal = True

    @classmethod
    def _written(cls, given: object) -> str | None:
        # A whole message written by hand (starting with the kind), as callers wrote them before the errors built
        # their own: kept word for word until every caller passes facts.
        return given if isinstance(given, str) and given.startswith(cls.kind) else None

    @classmethod
    def _text(cls, given: str) -> str:
        # A text where a timeout was expected (an older caller): the kind is put first if it is not there.
        return given if given.startswith(cls.kind) else f"{cls.kind}: {given}"

    def __repr__(self) -> str:
        # Locust shows and groups failures by repr(exception): keep it the plain message.
        return str(self)


class ConnectionRefused(WsError):
    """The TCP connection (or the proxy's) was refused, or the host could not be reached; `.server` is host:port."""

    kind = "connection refused"

    def __init__(self, server: str) -> None:
        written = self._written(server)
        super().__init__(written or f"connection refused: nothing listens at {server}")
        self.server = None if written else server


class HandshakeRejected(WsError):
    """The server answered the opening handshake with an HTTP status other than 101."""

    kind = "handshake rejected"

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"handshake rejected: HTTP {status}{' ' + reason if reason else ''}")
        self.status = status


class HandshakeTimeout(WsError):
    """No answer to the opening handshake within the connect timeout (`.timeout`, seconds)."""

    kind = "handshake timeout"

    def __init__(self, timeout: float | str) -> None:
        super().__init__(
            self._text(timeout) if isinstance(timeout, str) else f"handshake timeout: no answer within {timeout:g}s"
        )
        self.timeout = None if isinstance(timeout, str) else timeout


class CertificateRejected(WsError):
    """wss://: the server's TLS certificate did not verify against the trusted CAs."""

    kind = "certificate rejected"

    def __init__(self, server: str, why: str) -> None:
        super().__init__(
            f"certificate rejected: {server}'s TLS certificate is not trusted ({why}); give --ws-ca-file PATH, the "
            "PEM file of the CA that signed it, or --ws-insecure to skip verification (tests only)"
        )


class SubprotocolRejected(WsError):
    """Subprotocols were offered (Sec-WebSocket-Protocol) and the server accepted with none of them, or another.

    RFC 6455 section 4.1: a client fails the connection when the server picks a subprotocol it did not
    offer; this suite fails it too when the server picks none, since a user that offers one (say
    `graphql-transport-ws`) speaks only that. `.offered` is what was offered, in order; `.picked`
    what the server answered, or None. The connection is dropped without a close handshake.
    """

    kind = "subprotocol rejected"

    def __init__(self, offered: list[str] | tuple[str, ...], picked: str | None) -> None:
        answer = f"the server picked {shorten(picked, 40)}" if picked is not None else "the server picked none"
        super().__init__(f"subprotocol rejected: offered {', '.join(map(repr, offered))}; {answer}")
        self.offered = tuple(offered)
        self.picked = picked


class ReplyTimeout(WsError):
    """No frame that matched arrived within the time waited (`.timeout`, seconds: what this wait was given)."""

    kind = "reply timeout"

    def __init__(self, timeout: float | str) -> None:
        super().__init__(
            self._text(timeout) if isinstance(timeout, str) else f"reply timeout: no reply within {timeout:g}s"
        )
        self.timeout = None if isinstance(timeout, str) else timeout


class WrongReply(WsError):
    """A frame arrived that is not the expected reply.

    `expected` describes the expectation as written (placeholders kept, `Expect.describe`); `detail`,
    when given, is what to show of the reply (`Expect.wrong_reply` gives both, the same for every
    message, so that Locust keeps one failure row per fault); otherwise the reply is cut short.
    `.expected` is the expectation as described, `.reply` the frame itself.
    """

    kind = "wrong reply"
    fatal = False  # the reply was consumed: the conversation is still in step

    def __init__(self, expected: str, got: str | bytes, detail: str | None = None) -> None:
        super().__init__(f"wrong reply: expected {expected}, got {shorten(got) if detail is None else detail}")
        self.expected = expected
        self.reply = got


class ClosedByServer(WsError):
    """The server closed the connection (a close frame) while a step was under way."""

    kind = "closed by server"

    def __init__(self, code: int | None, reason: str = "") -> None:
        what = f"code {code}" if code is not None else "no close code"
        # A reason that names the connection ("session 1f2e...") would make a failure row per connection: words
        # with a digit in them are written #. `.reason` keeps it whole.
        said = _NUMBERED.sub("#", reason)
        super().__init__(f"closed by server: {what}{' ' + shorten(said, 40) if reason else ''}")
        self.code = code
        self.reason = reason


class MessageTooBig(WsError):
    """A frame, or a message reassembled from fragments, would be larger than the limit (`--ws-max-message`).

    Refused as its header arrives, before its payload is read; the connection is closed with 1009 (RFC 6455
    section 7.4.1, "message too big"). The message names the limit, never the size announced, so that Locust
    keeps one failure row however large each one was (`.size` has it).
    """

    kind = "message too big"

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"message too big: over the {limit}-byte limit (--ws-max-message); closed with 1009")
        self.limit = limit
        self.size = size


class ConnectionLost(WsError):
    """The connection broke without a close frame (reset, EOF, a broken frame).

    `.why` is what happened (`socket closed without a close frame`, an exception's class name); `.during`, when
    given, the phase (`during handshake`, `while sending`). No ids, no sizes: one failure row per fault.
    """

    kind = "connection lost"

    def __init__(self, why: str, *, during: str | None = None) -> None:
        written = self._written(why) if during is None else None
        super().__init__(written or f"connection lost{' ' + during if during else ''}: {why}")
        self.why = why
        self.during = during


class StepError(WsError):
    """Code inside a step raised an exception that is not a `WsError`; it is this error's `__cause__`.

    A per-call template with an unknown placeholder (an `OptionError`), a dict that `json.dumps`
    refuses, a matcher of your own that raises: the step is recorded as failed like any other, and
    the connection is dropped (a step cut short may have left the conversation out of step).
    `step` is the call: connect, request, send or expect. The message names it and the original
    exception's class and message, shortened, so that Locust groups one fault as one failure.
    """

    kind = "step error"

    def __init__(self, step: str, error: BaseException, detail: str | None = None) -> None:
        text = " ".join((str(error) if detail is None else detail).split())
        if len(text) > _DETAIL:
            text = text[: _DETAIL - 3] + "..."
        super().__init__(f"step error: {step} raised {type(error).__name__}{': ' + text if text else ''}")
        self.step = step


class LoginRefused(WsError):
    """An HTTP login before connecting did not give what the connections need: a session cookie, or a token.

    The form was not there (the GET answered another status), the POST was refused (403: Django's CSRF
    check), answered with the form again (200 without the session cookie: wrong username or password),
    failed (4xx, 5xx), or the server could not be reached. `.status` is the HTTP status, or None when
    there was none; `.unreachable` is True when nothing listened. The message names the request and what
    to fix; never a password, a cookie or a token, and never the username, so that Locust groups one
    fault as one failure.
    """

    kind = "login refused"

    def __init__(
        self,
        request: str,
        what: str,
        status: int | None = None,
        *,
        hint: str = "",
        fix: str = "",
        unreachable: bool = False,
    ) -> None:
        # `request`: "POST /accounts/login/"; `what`: what it got ("answered HTTP 403", "no answer within 5s");
        # `hint`: a likely cause, in parentheses; `fix`: what to change.
        said = f"{request} {what}" if status is not None else f"{request}: {what}"
        super().__init__(f"login refused: {said}{f' ({hint})' if hint else ''}{f': {fix}' if fix else ''}")
        self.request = request
        self.status = status
        self.unreachable = unreachable  # nothing listened: the target is down, as a refused connect says


_DETAIL = 120  # characters of the original exception's message kept in a StepError's


def _restore(cls: type[ChanloadError], message: str, fields: dict) -> ChanloadError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    return error


__all__ = [
    "CertificateRejected",
    "ChanloadError",
    "ClosedByServer",
    "ConnectionLost",
    "ConnectionRefused",
    "HandshakeRejected",
    "HandshakeTimeout",
    "LoginRefused",
    "MessageTooBig",
    "NotSetUp",
    "OptionError",
    "ProtocolError",
    "ReplyTimeout",
    "StepError",
    "SubprotocolRejected",
    "WrongReply",
    "WsError",
]
