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
import time

import gevent

from chanload.conversation import trace
from chanload.conversation.groups import Groups
from chanload.conversation.messages import Expect, Payload
from chanload.conversation.opening import openings
from chanload.conversation.pacing import Schedule, ThinkTime
from chanload.conversation.reconnect import Reconnector
from chanload.conversation.session import Session
from chanload.conversation.trace import TracingSession
from chanload.exceptions import OptionError, WsError
from chanload.locust import plugin  # noqa: F401 - a user class brings the wiring: options, recording, artifacts
from chanload.run.settings import Settings, host_url
from chanload.run.state import State, state
from chanload.wire.client import subprotocol_names

RECONNECT_PAUSE = 0.2  # after a failed handshake, so a dead target is not hammered in a hot loop
LOGIN_PAUSE = 1.0  # after a refused login: a login is heavier than a handshake (a password hash, a session)


class WsUser(User):
    """Base class for websocket users: `self.ws` is this user's `Session`.

    Class attributes give the session its defaults; `--ws-path`, `--ws-payload` and `--ws-expect`
    override them: `route` (path template), `groups` (the values `{group}` takes, as `--ws-groups` writes
    them), `payload`, `expect`, `other` ("fail" or "skip" frames that do not match while a reply is
    awaited), `listen` (read frames as they arrive; None: when the payload carries `{mark}`),
    `subprotocols` (offered in every handshake; `--ws-subprotocol` overrides them), `match` (which frame
    is the reply; `--ws-match`) and `opening` (steps after every connect, `--ws-open`'s texts).
    """

    abstract = True
    route = "room/{group}"
    groups = "10"
    payload = "hello"
    expect = "OK"
    other = "fail"
    listen: bool | None = None
    subprotocols: tuple[str, ...] = ()
    match: str | None = None
    opening: tuple[str, ...] = ()
    login_url = ""  # a login form's path (Django's LoginView: "/accounts/login/"); --login-url overrides it

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = [_quiet(t) if callable(t) and not isinstance(t, type) else t for t in cls.tasks]

    def on_start(self) -> None:
        self.ws = self.make_session(state(self.environment))
        self.arm_login(state(self.environment).settings)

    def arm_login(self, settings: Settings) -> None:
        """With a login (`--login-url` or the class's `login_url`), take the next `--credentials` account.

        The login itself runs in the first `connect()`, not here (on_start never fails): a refused one is
        recorded, and the task ends and pauses LOGIN_PAUSE before trying again. A handshake later answered
        401 or 403, after one that worked, makes the next connect log in again.
        """
        url = settings.login_url or self.login_url
        if not url:
            return
        if settings.accounts is None:  # check() refuses this before any load; a class built in code may not
            raise OptionError(f"{type(self).__name__} logs in at {url}: give --credentials FILE")
        username, password = settings.accounts.next()
        self.log_in(url, username, password, settings.login_cookie)

    def log_in(self, url: str, username: str, password: str, cookie: str) -> None:
        """Arm this user's login: a form login (Django's LoginView) at the first connect. Override it for
        another kind, e.g. a token: `self.ws.login_token(url, {"username": username, "password": password},
        defer=True)`."""
        self.ws.login(url, username, password, cookie=cookie, defer=True)

    def make_session(self, st: State) -> Session:
        """This user's Session: the class's attributes, with the command line's `--ws-*` values over them.

        With `--ws-trace`, the first session this process makes is a `TracingSession`, which prints its conversation.
        """
        s = st.settings
        kind = TracingSession if s.trace and trace.claim() else Session
        return kind(
            host_url(self.host) if self.host else s.host,  # Locust's: --host, else the class's own
            recording=st,
            route=s.path or self.route,
            groups=s.groups or self.groups,
            payload=s.payload or self.payload,
            expect=s.expect or self.expect,
            match=s.match or self.match,
            opening=s.opening or self.opening,
            other=s.other or self.other,
            listen=self.listen,
            connect_timeout=s.connect_timeout,
            reply_timeout=s.reply_timeout,
            max_message=s.max_message,
            ca_file=s.ca_file,
            insecure=s.insecure,
            headers=s.headers,
            subprotocols=s.subprotocols or self.subprotocols,
        )

    def on_stop(self) -> None:
        self.ws.close()

    @classmethod
    def check(cls, settings: Settings) -> None:
        """Refuse, before any load, option values this class cannot run with (raises OptionError)."""
        _shadowed(cls)
        groups = settings.groups or Groups.parse(cls.groups, f"{cls.__name__}.groups")  # the pool in effect
        if not settings.subprotocols:
            subprotocol_names(cls.subprotocols, f"{cls.__name__}.subprotocols")
        if settings.match is None and cls.match is not None:
            Expect.of(cls.match).check(groups)
        for step in settings.opening or openings(cls.opening, f"{cls.__name__}.opening"):
            for template in (step.send, step.expect):
                if template is not None:
                    template.check(groups)  # JSON templates, filled with the rooms in effect
            if step.expect is not None and step.expect.form == "own" and not step.uses_mark:
                raise OptionError(
                    f"--ws-open {step.spec!r}: the step waits for its own message back, but what it sends carries "
                    "no {mark}, so no frame can be recognised as its own: put {mark} in what it sends, e.g. "
                    f'\'[{step.name}] {{"message": "{{mark}}"}} => own\''
                )
        url = settings.login_url or cls.login_url
        if url and settings.accounts is None:
            raise OptionError(
                f"{cls.__name__} logs in at {url}: give --credentials FILE, the accounts to log in with "
                "(username,password lines, taken in turn)"
            )
        if settings.accounts is not None and not url:
            raise OptionError(
                f"--credentials {settings.accounts.source}: {cls.__name__} has no login to use them for: give "
                "--login-url PATH, the login form's path (e.g. /accounts/login/)"
            )
        payload = settings.payload or Payload(cls.payload, f"{cls.__name__}.payload")
        expect = settings.expect or Expect.of(cls.expect)
        payload.check(groups)  # JSON templates, filled with the rooms this class will really use
        expect.check(groups)
        match = settings.match or (Expect.of(cls.match) if cls.match is not None else None)
        for option, form in (("--ws-expect", expect.form), ("--ws-match", match.form if match else None)):
            if form == "own" and not payload.uses_mark:
                raise OptionError(
                    f"{option} own: {cls.__name__}'s payload {payload.template!r} carries no {{mark}}, so no reply "
                    'can be recognised as its own: give --ws-payload with {mark}, e.g. \'{"message": "{mark}"}\''
                )

    @classmethod
    def describe(cls, settings: Settings) -> dict:
        """What this class really runs with: the command line's values over the class's (summary.json)."""
        return {
            "route": settings.path or cls.route,
            "groups": settings.groups.spec if settings.groups else str(cls.groups),
            "payload": settings.payload.template if settings.payload else cls.payload,
            "expect": settings.expect.spec if settings.expect else _spec(cls.expect),
            "match": settings.match.spec if settings.match else _spec(cls.match),
            "opening": [step.spec for step in settings.opening] or [str(step) for step in cls.opening],
            "other": settings.other or cls.other,
            "subprotocols": list(settings.subprotocols or cls.subprotocols),
            "login_url": settings.login_url or cls.login_url or None,
            "pacing": cls.pacing(settings),
        }

    @classmethod
    def pacing(cls, settings: Settings) -> str:
        """How this class paces its tasks: Locust's `wait_time` between them, described."""
        return "wait_time " + _wait_time(cls)


# The class attributes a session is made from; `expect` and `match` may be predicates (functions of a frame).
_SESSION_ATTRIBUTES = ("route", "groups", "payload", "expect", "other", "listen", "subprotocols", "match", "opening",
                       "login_url")  # fmt: skip
_PREDICATES = ("expect", "match")


def _shadowed(cls: type) -> None:
    """Refuse a task or method that hides one of WsUser's session attributes (`def other(self)`, a `@task` named
    `expect`): the session would be made from the function, and fail in a way that does not say why."""
    for name in _SESSION_ATTRIBUTES:
        value = getattr(cls, name, None)
        is_task = hasattr(value, "locust_task_weight")
        if is_task or (callable(value) and not isinstance(value, type) and name not in _PREDICATES):
            what = "a task" if is_task else "a method"
            raise OptionError(
                f"{cls.__name__}.{name} is {what}: it hides WsUser.{name}, which the session is made from "
                f"(see WsUser's attributes); give the {what.split()[1]} another name"
            )


def _spec(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Expect):
        return value.spec
    return getattr(value, "__name__", type(value).__name__)


def _wait_time(cls) -> str:
    """A user class's `wait_time` as written: `between(0.5, 1.5)`, `constant(1)`, ... or the function's name."""
    func = getattr(cls, "wait_time", None)
    if func is None:
        return "none (Locust's default: 0)"
    func = getattr(func, "__func__", func)
    outer, _, rest = getattr(func, "__qualname__", "").partition(".<locals>.")
    cells = dict(zip(getattr(getattr(func, "__code__", None), "co_freevars", ()), func.__closure__ or (), strict=False))
    values = {name: cell.cell_contents for name, cell in cells.items()}
    if rest and outer == "between" and {"min_wait", "max_wait"} <= set(values):
        return f"between({values['min_wait']:g}, {values['max_wait']:g})"
    if rest and outer in ("constant", "constant_pacing") and isinstance(values.get("wait_time"), int | float):
        return f"{outer}({values['wait_time']:g})"
    return f"{getattr(func, '__qualname__', repr(func))} (a function of the class)"


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
            if ws is not None and ws.login_failed:
                gevent.sleep(LOGIN_PAUSE)
            elif ws is not None and ws.connect_failed:
                gevent.sleep(RECONNECT_PAUSE)

    run._chanload_quiet = True
    return run


class ChannelsUser(WsUser):
    """The built-in script: one connection to a random room; messages paced (think time or schedule), checked."""

    abstract = True
    wait_time = constant(0)  # pacing is ours (think time or schedule), see on_start

    def on_start(self) -> None:
        super().on_start()
        settings = state(self.environment).settings
        self._pacer = self.make_pacer(settings)
        self._reconnector = Reconnector(settings.reconnect, settings.lifetime)
        gevent.sleep(self._pacer.start_phase())

    def make_pacer(self, settings: Settings) -> Schedule | ThinkTime:
        """When messages go: on a schedule (--ws-rate), or after a think time (--ws-think)."""
        return Schedule(settings.rate, arrivals=settings.arrivals) if settings.rate else ThinkTime(*settings.think)

    @classmethod
    def pacing(cls, settings: Settings) -> str:
        if cls.make_pacer is not ChannelsUser.make_pacer:
            return f"{cls.__name__}.make_pacer (its own)"
        if settings.rate:
            how = ", Poisson arrivals" if settings.arrivals == "poisson" else ", a fixed grid"
            return f"rate {settings.rate:g}/s per connection (--ws-rate{how})"
        low, high = settings.think
        return f"think {low:g}-{high:g} s (--ws-think)" if high != low else f"think {low:g} s (--ws-think)"

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
        settings = state(self.environment).settings
        limit = settings.messages_per_connection
        only_task = len(self.tasks) == 1
        back = self._reconnector
        while True:
            if ws.client is None:
                if back.stays_down:
                    _stay_down(self)
                    return
                reconnect(self, back)  # a failure ends the task (and pauses), see _quiet
                if isinstance(pacer, Schedule):
                    pacer.restart()
            intended = pacer.next_send()
            reader = getattr(ws, "_reader", None)  # a listening session's: it may hold what ended the connection
            try:
                ws.request(intended=intended if scheduled else None)
                back.message_ok()
            except WsError as exc:
                if ws.client is None:  # a fatal failure dropped the connection: counted by cause
                    _dropped(ws, back, (reader.error() if reader is not None else None) or exc, reader)
            if limit and ws.seq >= limit:
                ws.close()
            elif ws.client is not None and back.expired():
                ws.close()  # 1000: its lifetime is over (--ws-lifetime)
                back.closed_by_churn(ws.recording)
            if not only_task or self._state == LOCUST_STATE_STOPPING:
                return


def reconnect(user: WsUser, back: Reconnector) -> None:
    """Connect `user.ws` by its policy: wait (backoff), connect, run the opening steps; again until it works.

    Under `now` a failed attempt is raised (the task ends and pauses RECONNECT_PAUSE, as before the policy);
    under `backoff` the attempts go on here, each after its delay, until one works or Locust stops the user.
    After a drop the same room is joined again, the login (if any) runs again, and the opening steps run:
    the conversation resumes.
    """
    ws = user.ws
    name = f"{ws.name} churn" if back.churned else None
    while True:
        pause = back.before()
        if pause:
            gevent.sleep(pause)
        outage = back.down_since is not None
        previous = ws.user if outage else ""
        login = getattr(ws, "_login", None)
        if outage and back.tries == 1 and login is not None:  # once an outage (a 401 or 403 asks again)
            login.due = True  # a restarted server may have lost the session: log in again, as after a 401
        try:
            ws.connect(group=(ws.group or None) if outage else None, step=name)
        except WsError as exc:
            back.failed(exc, ws.recording)
            if back.policy.mode != "backoff":
                raise
            continue
        back.ready(ws.recording, ws.name)
        if previous:
            ws.recording.delivery.rejoined(ws.user, previous)  # what the room said meanwhile: missed while away
        return


def _dropped(ws: Session, back: Reconnector, exc: WsError, reader=None) -> None:
    """The connection dropped under a step: counted by the cause that ended it (the reader's, when it saw it
    first), from when it ended (the reader's time: a listening user notices at its next send, a think time
    later). A marked message whose round trip failed with it is owed to nobody: its sender knows it failed."""
    ended = getattr(reader, "ended_at", None)  # (perf_counter, time_ns) when the reader saw the end
    back.dropped(exc, ws.recording, ended[0] if ended else None)
    ws.recording.delivery.sender_dropped(ws.user, ended[1] if ended else time.time_ns())
    mark = getattr(ws, "_mark", -1)  # the mark number of the message just sent, or -1
    if mark >= 0:
        ws.recording.delivery.unsent(ws.user, mark)


def _stay_down(user: WsUser) -> None:
    """--ws-reconnect off: the user stays down, its task sleeping until Locust stops it (every second a check)."""
    while user._state != LOCUST_STATE_STOPPING:
        gevent.sleep(1.0)


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
