"""Observers of a Session (chanload.conversation.observer): told what it does, at no cost when there are none."""

from __future__ import annotations

import pytest

from chanload.conversation.observer import Observing
from chanload.exceptions import ReplyTimeout, WrongReply
from chanload.testing import FakeServer


class Log(Observing):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def step(self, session, step):
        self.events.append(("step", step.call, step.name, step.seq))

    def step_ended(self, session, step, error):
        self.events.append(("ended", step.call, type(error).__name__ if error else None))

    def connected(self, session, client, seconds, error):
        self.events.append(("connected", client.url, error))

    def sent(self, session, frame):
        self.events.append(("sent", frame))

    def received(self, session, frame, arrival):
        self.events.append(("received", frame))

    def taken(self, session, frame, arrival, start):
        self.events.append(("taken", frame))

    def other(self, session, frame):
        self.events.append(("other", frame))

    def failed(self, session, kind, name, seconds, error):
        self.events.append(("failed", kind, name, error.kind))

    def closing(self, session):
        self.events.append(("closing",))


def test_a_session_with_no_observer_runs_its_class_steps_unwrapped():
    ws = FakeServer().session()
    assert not ws.observers and "request" not in vars(ws) and "connect" not in vars(ws)


@pytest.mark.parametrize("listen", [False, True])
def test_an_observer_is_told_each_step_frame_and_failure_in_order(listen):
    server = FakeServer(lambda text: [("OK", 0.0)] if text == "hi" else [("nope", 0.0)])
    ws = server.session(reply_timeout=0.5, listen=listen)
    log = Log()
    ws.observe(log)
    ws.connect("room/a")
    assert ws.request("hi", "OK", step="greet") == "OK"
    with pytest.raises(WrongReply):
        ws.request("bad", "OK", step="oops")
    ws.connect("room/a")
    with pytest.raises(ReplyTimeout):
        ws.expect("never", timeout=0.2, step="wait")
    ws.close()
    events = log.events
    assert events[:3] == [("step", "connect", "room/a", 0), ("connected", "ws://127.0.0.1:9/room/a", None),
                          ("ended", "connect", None)]  # fmt: skip
    greet = events.index(("step", "request", "greet", 0))
    assert events[greet + 1 : greet + 5] == [("sent", "hi"), ("received", "OK"), ("taken", "OK"),
                                             ("ended", "request", None)]  # fmt: skip
    oops = events.index(("step", "request", "oops", 1))
    assert events[oops + 1 : oops + 6] == [("sent", "bad"), ("received", "nope"), ("other", "nope"),
                                           ("failed", "WS message", "oops", "wrong reply"),
                                           ("ended", "request", "WrongReply")]  # fmt: skip
    assert ("failed", "WS receive", "wait", "reply timeout") in events and ("ended", "expect", "ReplyTimeout") in events
    # Closed once politely: by the second connect (a wrong reply keeps the connection); the timeout dropped the other.
    assert events.count(("closing",)) == 1 and events.index(("closing",)) < events.index(("step", "expect", "wait", 0))
