"""Locust users on `chanload.conversation.session`: a public base class for your own, and the built-in scripts.

`WsUser` gives each user `self.ws`, a `Session` (connect, request, send, expect, close). A step that
fails has already been recorded when its `WsError` leaves the task, so `WsUser` ends the task there
quietly, as Locust's `RescheduleTask` would, and pauses briefly after a failed handshake so that a
dead target is not hammered. The built-in users are short scripts on the same calls:

  EchoUser       send, expect the reply (`OK`), repeat: the seed's contract
  BroadcastUser  a room member: marked messages, and every other member's, measured as deliveries
"""

from __future__ import annotations

from locust import User, constant, task
from locust.user.task import LOCUST_STATE_STOPPING

import functools

import gevent

from chanload.conversation.groups import Groups
from chanload.conversation.messages import Expect, Payload
from chanload.conversation.pacing import Schedule, ThinkTime
from chanload.conversation.session import Session
from chanload.exceptions import OptionError, WsError
from chanload.locust import plugin  # noqa: F401 - a user class brings the wiring: options, recording, artifacts
from chanload.run.settings import Settings
from chanload.run.state import State, state
from chanload.wire.client import subprotocol_names

RECONNECT_PAUSE = 0.2  # after a failed handshake, so a dead target is not hammered in a hot loop


class WsUser(User):
    """Base class for websocket users: `self.ws` is this user's `Session`.

    Class attributes give the session its defaults; `--ws-path`, `--ws-payload` and `--ws-expect`
    override them: `route` (path template), `groups` (the values `{group}` takes, as `--ws-groups` writes
    them), `payload`, `expect`, `other` ("fail" or "skip" frames that do not match while a reply is
    awaited), `listen` (read frames as they arrive; None: when the payload carries `{mark}`), and
    `subprotocols` (offered in every handshake; `--ws-subprotocol` overrides them).
    """

    abstract = True
    route = "room/{group}"
    groups = "10"
    payload = "hello"
    expect = "OK"
    other = "fail"
    listen: bool | None = None
    subprotocols: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = [_quiet(t) if callable(t) and not isinstance(t, type) else t for t in cls.tasks]

    def on_start(self) -> None:
        self.ws = self.make_session(state(self.environment))

    def make_session(self, st: State) -> Session:
        """This user's Session: the class's attributes, with the command line's `--ws-*` values over them."""
        s = st.settings
        return Session(
            s.host,
            recording=st,
            route=s.path or self.route,
            groups=s.groups or self.groups,
            payload=s.payload or self.payload,
            expect=s.expect or self.expect,
            other=s.other or self.other,
            listen=self.listen,
            connect_timeout=s.connect_timeout,
            reply_timeout=s.reply_timeout,
            headers=s.headers,
            subprotocols=s.subprotocols or self.subprotocols,
        )

    def on_stop(self) -> None:
        self.ws.close()

    @classmethod
    def check(cls, settings: Settings) -> None:
        """Refuse, before any load, option values this class cannot run with (raises OptionError)."""
        if settings.groups is None:
            Groups.parse(cls.groups, f"{cls.__name__}.groups")
        if not settings.subprotocols:
            subprotocol_names(cls.subprotocols, f"{cls.__name__}.subprotocols")
        payload = settings.payload or Payload(cls.payload, f"{cls.__name__}.payload")
        expect = settings.expect or Expect.of(cls.expect)
        if expect.form == "own" and not payload.uses_mark:
            raise OptionError(
                f"--ws-expect own: {cls.__name__}'s payload {payload.template!r} carries no {{mark}}, so no reply "
                'can be recognised as its own: give --ws-payload with {mark}, e.g. \'{"message": "{mark}"}\''
            )


def _quiet(func):
    """A task that ends quietly on a recorded WsError, pausing first if the handshake failed."""
    if getattr(func, "_chanload_quiet", False):
        return func

    @functools.wraps(func)
    def run(user, *args, **kwargs):
        try:
            return func(user, *args, **kwargs)
        except WsError:
            ws = getattr(user, "ws", None)
            if ws is not None and ws.connect_failed:
                gevent.sleep(RECONNECT_PAUSE)

    run._chanload_quiet = True
    return run


class ChannelsUser(WsUser):
    """The built-in script: one connection to a random room; messages paced (think time or schedule), checked."""

    abstract = True
    wait_time = constant(0)  # pacing is ours (think time or schedule), see on_start

    def on_start(self) -> None:
        super().on_start()
        self._pacer = self.make_pacer(state(self.environment).settings)
        gevent.sleep(self._pacer.start_phase())

    def make_pacer(self, settings: Settings) -> Schedule | ThinkTime:
        """When messages go: on a schedule (--ws-rate), or after a think time (--ws-think)."""
        return Schedule(settings.rate) if settings.rate else ThinkTime(*settings.think)

    @task
    def converse(self) -> None:
        """Messages, one after another, until Locust stops this user.

        The loop stays in this task instead of returning to Locust after every message: a return
        costs Locust's task bookkeeping and a switch through the event loop (wait_time 0), which was
        a tenth of the CPU of a round trip. Locust's graceful stop (--stop-timeout) still ends the
        user after its current message; a subclass with more tasks gets one message per turn.
        """
        ws = self.ws
        pacer = self._pacer
        scheduled = isinstance(pacer, Schedule)
        limit = state(self.environment).settings.messages_per_connection
        only_task = len(self.tasks) == 1
        while True:
            if ws.client is None:
                ws.connect()  # a failure ends the task (and pauses), see _quiet
                if isinstance(pacer, Schedule):
                    pacer.restart()
            intended = pacer.next_send()
            try:
                ws.request(intended=intended if scheduled else None)
            except WsError:
                pass  # recorded; a fatal one dropped the connection, and the next turn reconnects
            if limit and ws.seq >= limit:
                ws.close()
            if not only_task or self._state == LOCUST_STATE_STOPPING:
                return


class EchoUser(ChannelsUser):
    """Sends a message, waits for the expected reply, repeats: the seed's OK contract."""

    abstract = True


class BroadcastUser(ChannelsUser):
    """A room member: sends marked messages and receives every member's, measured as deliveries.

    Each message carries `{mark}` (sender, number, send time): every other member that receives it
    records its delivery latency and counts gaps, duplicates and reordering per sender. The reply
    is `OK` by default (our target's acknowledgement); with `--ws-expect own`, a relay app's copy
    of the sender's own message.
    """

    abstract = True
    route = "chat/{group}"
    payload = '{"text": "hello", "mark": "{mark}"}'

    @classmethod
    def check(cls, settings: Settings) -> None:
        super().check(settings)
        if settings.payload is not None and not settings.payload.uses_mark:
            raise OptionError(
                f"--ws-payload {settings.payload.template!r}: {cls.__name__} measures deliveries by the {{mark}} each "
                'message carries; put {mark} in it, e.g. \'{"text": "hi", "mark": "{mark}"}\''
            )
