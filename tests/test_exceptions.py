"""chanload.exceptions: one hierarchy, every error under ChanloadError, messages as Locust groups them."""

from __future__ import annotations

import pytest

from chanload import exceptions
from chanload.exceptions import (
    ChanloadError,
    ClosedByServer,
    HandshakeRejected,
    NotSetUp,
    OptionError,
    ProtocolError,
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
