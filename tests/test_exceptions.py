"""chanload.exceptions: one hierarchy, every error under ChanloadError, messages as Locust groups them."""

from __future__ import annotations

import copy
import pickle

import pytest

from chanload import exceptions
from chanload.exceptions import (
    ChanloadError,
    ClosedByServer,
    ConnectionLost,
    ConnectionRefused,
    HandshakeRejected,
    HandshakeTimeout,
    LoginRefused,
    NotSetUp,
    OptionError,
    ProtocolError,
    ReplyTimeout,
    StepError,
    SubprotocolRejected,
    WrongReply,
    WsError,
)

CLASSES = [v for v in vars(exceptions).values() if isinstance(v, type) and issubclass(v, Exception)]


def test_every_error_is_a_chanload_error_and_listed():
    """`except chanload.ChanloadError` catches them all; the module's __all__ names each."""
    assert len(CLASSES) == 17
    for cls in CLASSES:
        assert issubclass(cls, ChanloadError), cls
        assert cls.__name__ in exceptions.__all__
        assert cls.__doc__, f"{cls.__name__} has no docstring"


def test_the_documented_hierarchy():
    """Option errors are ValueErrors, setup errors RuntimeErrors; websocket failures are WsErrors."""
    assert issubclass(OptionError, ValueError) and issubclass(NotSetUp, RuntimeError)
    assert not issubclass(ProtocolError, WsError)  # the decoder's; the client turns it into ConnectionLost
    failures = {c.__name__ for c in CLASSES if issubclass(c, WsError) and c is not WsError}
    assert failures == {"ConnectionRefused", "HandshakeRejected", "HandshakeTimeout", "ReplyTimeout",
                        "WrongReply", "ClosedByServer", "ConnectionLost", "StepError",
                        "SubprotocolRejected", "LoginRefused", "MessageTooBig", "CertificateRejected"}  # fmt: skip
    for name in failures | {"WsError"}:
        assert name in (exceptions.__doc__ or "")


def test_failures_have_stable_kinds_and_plain_reprs():
    """Locust groups failures by repr(): the plain message; each class has its own kind label."""
    kinds = {c.kind for c in CLASSES if issubclass(c, WsError) and c is not WsError}
    assert len(kinds) == 12
    exc = ClosedByServer(4401, "Unauthorized")
    assert repr(exc) == str(exc) == "closed by server: code 4401 'Unauthorized'" and exc.code == 4401
    assert HandshakeRejected(403).status == 403 and "HTTP 403" in str(HandshakeRejected(403))


def test_a_wrong_reply_is_not_fatal_and_shortens_what_arrived():
    """The conversation stays in step after a wrong reply; a huge frame is cut in the message."""
    exc = WrongReply("'OK'", "x" * 10_000)
    assert not exc.fatal and len(str(exc)) < 120
    assert all(c.fatal for c in CLASSES if issubclass(c, WsError) and c is not WrongReply)


def test_not_set_up_says_how_to_set_up():
    """A Locust environment chanload was not attached to: the message names the fix."""
    from chanload.run.state import state

    class Environment:  # any object chanload was not attached to
        pass

    with pytest.raises(NotSetUp, match="WsUser"):
        state(Environment())


def test_a_step_error_names_the_step_and_the_original_shortened():
    """Another exception raised inside a step: fatal, its class and message (cut short, on one line) in the message."""
    exc = StepError("request", KeyError("id"))
    assert str(exc) == "step error: request raised KeyError: 'id'" and exc.step == "request" and exc.fatal
    long = StepError("expect", ValueError("line\n" + "x" * 10_000))
    assert str(long).startswith("step error: expect raised ValueError: line xxx") and len(str(long)) < 200
    assert str(StepError("send", RuntimeError())) == "step error: send raised RuntimeError"


def test_a_rejected_subprotocol_names_what_was_offered_and_what_the_server_picked():
    """No ids in it: one Locust failure row per (offered, picked), the server's answer shortened."""
    exc = SubprotocolRejected(["graphql-transport-ws", "chat.v2"], None)
    assert str(exc) == "subprotocol rejected: offered 'graphql-transport-ws', 'chat.v2'; the server picked none"
    assert exc.kind == "subprotocol rejected" and exc.fatal and exc.picked is None
    other = SubprotocolRejected(("graphql-ws",), "x" * 500)
    assert "the server picked 'xxx" in str(other) and len(str(other)) < 120
    assert other.offered == ("graphql-ws",) and other.picked == "x" * 500


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ConnectionRefused("127.0.0.1:9"), "connection refused: nothing listens at 127.0.0.1:9"),
        (HandshakeTimeout(5.0), "handshake timeout: no answer within 5s"),
        (ReplyTimeout(0.25), "reply timeout: no reply within 0.25s"),
        (ConnectionLost("socket closed without a close frame"), "connection lost: socket closed without a close frame"),
        (ConnectionLost("BrokenPipeError", during="while sending"), "connection lost while sending: BrokenPipeError"),
        (ProtocolError("masked frame from the server", "5.1"), "masked frame from the server (section 5.1)"),
        (ProtocolError("unknown opcode 0x3"), "unknown opcode 0x3"),
        (
            LoginRefused("POST /login/", "answered HTTP 401", 401, hint="a wrong username or password?"),
            "login refused: POST /login/ answered HTTP 401 (a wrong username or password?)",
        ),
        (
            LoginRefused("GET /x/", "answered HTTP 302", 302, hint="a redirect", fix="give the path of the form"),
            "login refused: GET /x/ answered HTTP 302 (a redirect): give the path of the form",
        ),
        (
            LoginRefused("GET /x/", "nothing listens at 127.0.0.1:9", unreachable=True),
            "login refused: GET /x/: nothing listens at 127.0.0.1:9",
        ),
    ],
)
def test_an_error_builds_its_message_from_its_fields(error, text):
    """Callers pass facts; the error writes the one text (Locust's failure row), the same for every caller."""
    assert str(error) == text
    assert repr(error) == text or not isinstance(error, WsError)  # a WsError's repr is its message too


def test_the_fields_stay_on_the_error():
    """What the message was built from can be read back, not parsed out of the text."""
    assert ConnectionRefused("h:1").server == "h:1"
    assert HandshakeTimeout(2.0).timeout == 2.0 and ReplyTimeout(0.5).timeout == 0.5
    lost = ConnectionLost("EOF", during="during handshake")
    assert (lost.why, lost.during) == ("EOF", "during handshake")
    assert ProtocolError("x", "5.2").section == "5.2"
    refused = LoginRefused("GET /x/", "nothing listens at h:1", unreachable=True)
    assert refused.request == "GET /x/" and refused.status is None and refused.unreachable
    assert str(NotSetUp()).startswith("chanload is not set up for this Locust environment")


def test_a_message_written_whole_by_an_older_caller_is_kept():
    """Callers that still write the whole text (starting with the kind) get it word for word."""
    assert str(ReplyTimeout("reply timeout: no matching reply within 5s")) == (
        "reply timeout: no matching reply within 5s"
    )
    assert str(ConnectionLost("connection lost: not connected")) == "connection lost: not connected"
    assert str(ConnectionRefused("connection refused: nothing listens at h:1")) == (
        "connection refused: nothing listens at h:1"
    )
    assert str(HandshakeTimeout("handshake timeout: no answer within 5s")) == "handshake timeout: no answer within 5s"


def test_an_error_survives_pickling_and_copying_with_its_fields():
    """Rebuilt from its message and fields, not by calling the constructor with the message."""
    errors = [
        LoginRefused("GET /x/", "answered HTTP 404", 404, fix="give the path of the form"),
        NotSetUp(),
        ClosedByServer(4401, "Unauthorized"),
        ReplyTimeout(1.5),
        HandshakeRejected(403, "Forbidden"),
        StepError("request", KeyError("id")),
        OptionError("--ws-path: give a path"),
    ]
    for error in errors:
        for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
            assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)


def test_a_timeout_given_as_text_is_kept_with_its_kind():
    """An older caller's text where a number of seconds goes: kept, the kind put first when missing."""
    assert str(ReplyTimeout("after 5 s")) == "reply timeout: after 5 s"
    assert str(HandshakeTimeout("handshake timeout: no answer")) == "handshake timeout: no answer"
