"""Locust users for tests/test_conversation_e2e.py: steps that raise, and a relay chat by dict messages.

    locust -f tests/apps/conversation_steps.py StepFaultUser ...   # room/{group}: OK for every message
    locust -f tests/apps/conversation_steps.py RelayDictUser ...   # chat/{group}: OK, then the room's copies

`StepFaultUser` makes a good round trip, then a step that raises inside the session: a per-call
template with an unknown placeholder on odd connections, a matcher that raises on even ones. Each is
a recorded failure that drops the connection; the next turn reconnects. `RelayDictUser` sends a dict
per call whose `{mark}` is filled in, with a plain class payload: the other members' copies are
deliveries.
"""

from __future__ import annotations

from locust import constant, task

from chanload import WsUser


def indexes_the_frame(frame):
    return frame["ok"] == 1  # a frame is a str: TypeError


class StepFaultUser(WsUser):
    route = "room/{group}"
    wait_time = constant(0.01)

    @task
    def converse(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()
        ws.request(step="good")
        if ws.connections % 2:
            ws.request("hi {nope}", step="template")
        else:
            ws.request("hi", indexes_the_frame, step="matcher")


class RelayDictUser(WsUser):
    route = "chat/{group}"
    groups = "1"  # one room: every member hears every other
    wait_time = constant(0.05)

    @task
    def talk(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()
        ws.request({"text": "hi", "mark": "{mark}"}, step="talk")


class RelayMixedUser(RelayDictUser):
    """A marked message, then one without a mark (a typing notice): receivers must count no gap between them.

    The room relays the typing notices too: others' copies are other frames, skipped while an OK is awaited.
    """

    other = "skip"

    @task
    def talk(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()
        ws.request({"text": "hi", "mark": "{mark}"}, step="talk")
        ws.request({"text": "typing"}, step="typing")
