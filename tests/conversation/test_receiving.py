"""The receiving half of a Session (chanload.conversation.receiving): what a reply timeout says."""

from __future__ import annotations

import time

import pytest

from chanload.conversation.session import Session
from chanload.exceptions import ReplyTimeout
from chanload.testing import FakeServer


class Chatty:
    """A fake connection that sends a frame nobody awaits every 20 ms, for ever (bounded by the step's wait)."""

    def __init__(self, url: str, **options) -> None:
        self.url, self.headers, self.subprotocols = url, [], []
        self.arrival, self.arrival_ns = 0.0, 0

    def connect(self) -> None:
        pass

    def recv(self, timeout=-1.0):
        time.sleep(0.02)
        self.arrival, self.arrival_ns = time.perf_counter(), time.time_ns()
        return "noise"

    def ready(self, timeout: float) -> bool:
        return True

    def send(self, text) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


@pytest.mark.parametrize("listen", [False, True])
def test_a_reply_timeout_names_the_wait_the_step_waited(listen):
    """`expect(..., timeout=0.2)` on a session whose reply timeout is 5 s, with other frames arriving meanwhile
    (skipped): the error says 0.2s, the wait it was, in the one text every reply timeout has."""
    ws = Session("ws://127.0.0.1:9", client_factory=Chatty, reply_timeout=5.0, other="skip", listen=listen)
    ws.connect("room/")
    with pytest.raises(ReplyTimeout) as failed:
        ws.expect("never", timeout=0.2)
    assert str(failed.value) == "reply timeout: no reply within 0.2s"


def test_a_reply_timeout_with_nothing_arriving_has_the_same_text():
    ws = FakeServer(lambda text: []).session(reply_timeout=0.5)
    ws.connect("room/")
    with pytest.raises(ReplyTimeout) as failed:
        ws.request("hi")
    assert str(failed.value) == "reply timeout: no reply within 0.5s"
