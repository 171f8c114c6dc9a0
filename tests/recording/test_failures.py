"""chanload.recording.failures: a row keeps its first few different failure messages, never one per message."""

from __future__ import annotations

from chanload.exceptions import ReplyTimeout, StepError, WrongReply
from chanload.recording.failures import LIMIT, FailureMessages


def test_the_first_messages_pass_as_they_are_and_repeats_stay_themselves():
    failures = FailureMessages()
    first = [WrongReply("'OK'", f"ERR {i}") for i in range(LIMIT)]
    assert [failures.bounded("WS message", "room", exc) for exc in first] == first
    again = WrongReply("'OK'", "ERR 3")
    assert failures.bounded("WS message", "room", again) is again  # a message already shown stays itself


def test_past_the_limit_a_row_shows_one_message_that_says_so():
    failures = FailureMessages(limit=3)
    shown = {str(failures.bounded("WS message", "room", WrongReply("'OK'", f"ERR {i}"))) for i in range(500)}
    assert len(shown) == 4, shown
    overflow = (
        "wrong reply: expected 'OK', got another reply (more than 3 different ones on this row; --ws-trace shows each)"
    )
    assert overflow in shown


def test_the_overflow_keeps_the_class_and_the_reply():
    failures = FailureMessages(limit=1)
    failures.bounded("WS message", "room", WrongReply("'OK'", "a"))
    exc = WrongReply("'OK'", "b")
    shown = failures.bounded("WS message", "room", exc)
    assert type(shown) is WrongReply and shown is not exc
    assert shown.reply == "b" and shown.kind == "wrong reply" and not shown.fatal
    assert repr(shown) == str(shown)  # Locust groups by repr: the plain message
    assert str(exc).endswith("got 'b'")  # the original is untouched


def test_rows_and_kinds_are_bounded_apart():
    failures = FailureMessages(limit=1)
    failures.bounded("WS message", "a", WrongReply("'OK'", "x"))
    other_row = WrongReply("'OK'", "y")
    assert failures.bounded("WS message", "b", other_row) is other_row
    other_kind = ReplyTimeout("reply timeout after 5 s")
    assert failures.bounded("WS message", "a", other_kind) is other_kind
    step = StepError("request", ValueError("bad 2"))
    failures.bounded("WS message", "a", StepError("request", ValueError("bad 1")))
    assert str(failures.bounded("WS message", "a", step)) == (
        "step error: another message (more than 1 different ones on this row; --ws-trace shows each)"
    )


def test_an_exception_that_is_not_chanloads_is_bounded_by_its_class():
    failures = FailureMessages(limit=1)
    failures.bounded("GET", "/", RuntimeError("one"))
    assert str(failures.bounded("GET", "/", RuntimeError("two"))).startswith("RuntimeError: another message")
