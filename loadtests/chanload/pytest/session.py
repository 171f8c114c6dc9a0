"""Sessions for behaviour tests (the pytest plugin's `ws` and `ws_factory`): threads, no gevent, failures explained.

A `BehaviourSession` is a `Session` for a test process: with `listen` (its default here) a thread of its
own reads every frame as it arrives (the plain `Session` reads in a gevent greenlet, as Locust runs it),
so members of a room receive each other's messages between their own steps. It keeps the last frames of
its conversation (sent and received, with their times) and, when a step fails, adds to the error a note
that names the step, what it expected, what arrived and those last frames; pytest shows the note under
the error. The plain `Session`'s steps are untouched: all of this lives in this subclass.

`chanload.pytest.crowd.SessionFactory` makes them (`ws_factory()`) and runs N at once (`ws_factory.run`).

Each session keeps its own `LocalRecording`; a lock keeps its reader thread's bookkeeping and the test's
steps apart. A session belongs to one thread at a time: give each thread its own.
"""

from __future__ import annotations

import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from chanload.conversation import marks
from chanload.conversation.groups import route_name
from chanload.conversation.messages import Expect, Frame
from chanload.conversation.recording import LocalRecording
from chanload.conversation.session import Session
from chanload.conversation.trace import Masker, mask_url
from chanload.exceptions import ChanloadError, WsError
from chanload.formatting import shorten
from chanload.wire.client import WsClient
from chanload.wire.framing import MAX_MESSAGE
from chanload.wire.reader import READ_AHEAD, Reader

FRAMES = 12  # frames (sent and received) a failure note shows
KEEP = 100_000  # frames a session keeps in `received` (past it they are counted in `received_dropped`)
SHOW = 120  # characters of a frame shown in a note
POLL = 0.05  # seconds a reader thread waits for the socket between checks for stop()


class LockedRecording(LocalRecording):
    """A `LocalRecording` whose samples may come from a session's reader thread and from its steps at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()

    def fire(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        with self.lock:
            super().fire(kind, name, seconds, length, exc)


class ThreadReader(Reader):
    """A `chanload.wire.reader.Reader` with a thread instead of a greenlet: the same `get` and `stop`."""

    def __init__(
        self,
        client: Any,
        sort: Callable[[Frame, int], str | None],
        ended: Callable[[], None],
        lock: threading.RLock,
    ) -> None:
        import queue

        self._frames: queue.Queue[Any] = queue.Queue(READ_AHEAD)  # bounded as the greenlet reader's
        self._empty = queue.Empty
        self._limit = getattr(client, "max_message", 0) or MAX_MESSAGE
        self._bytes = 0
        self._space = threading.Condition()
        self._stop = threading.Event()
        self.lock = lock
        self._thread = threading.Thread(
            target=self._loop, args=(client, sort, ended), name="chanload-reader", daemon=True
        )
        self._thread.start()

    def _took(self, size: int) -> None:
        with self._space:
            self._bytes -= size
            self._space.notify()

    def _put(self, item: Any, size: int) -> bool:
        """Queue `item` once there is room (READ_AHEAD frames, `max_message` bytes); False if stopped meanwhile."""
        import queue

        with self._space:
            while self._bytes and self._bytes + size > self._limit:
                if self._stop.is_set():
                    return False
                self._space.wait(POLL)
            self._bytes += size
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        """Stop reading and wait for the thread (a close handshake must not read the socket while it does)."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def _ready(self, client: Any) -> bool:
        """Whether a frame can be read now without blocking for long (bytes buffered, or the socket readable)."""
        ready = getattr(client, "ready", None)
        if ready is not None:
            return bool(ready(POLL))  # a client with no socket to select (chanload.testing.FakeClient) says itself
        decoder = getattr(client, "_decoder", None)
        if decoder is not None and decoder.buffer:
            return True
        sock = getattr(client, "_sock", None)
        if sock is None:
            return True  # not connected (any more): recv raises the error that says so
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return True  # TLS: bytes decrypted already, the socket itself may have none left
        try:
            readable, _, _ = select.select([sock], [], [], POLL)
        except (OSError, ValueError):
            return True  # closed under us: recv says how
        return bool(readable)

    def _loop(self, client: Any, sort: Callable[[Frame, int], str | None], ended: Callable[[], None]) -> None:
        while not self._stop.is_set():
            if not self._ready(client):
                continue
            if self._stop.is_set():
                return
            try:
                frame = client.recv(timeout=None)
            except WsError as exc:
                if self._stop.is_set():
                    return  # closed by the session itself
                self._put(exc, 0)
                with self.lock:
                    ended()
                return
            with self.lock:
                kind = sort(frame, client.arrival_ns)
            if kind != "delivery" and not self._put((frame, client.arrival, kind == "own"), len(frame)):
                return


class BehaviourSession(Session):
    """A `Session` for tests: reads in a thread (`listen`, on by default), explains a failed step.

    Takes `Session`'s arguments, plus `frames` (how many of the last frames a failure note shows,
    default 12). After a run it holds what it saw:

    - `received`: every frame received, in order (deliveries included; at most 100,000, then counted in
      `received_dropped`);
    - `deliveries`: (receiver, sender, mark number) for every other member's marked message received;
    - `sent_marks`: (sender, mark number, send time ns) for every marked message sent;
    - `joined`: (connection id, room path, time ns) for every connection opened.
    """

    def __init__(self, host: str, *, frames: int = FRAMES, listen: bool | None = True, **kwargs: Any) -> None:
        if "recording" not in kwargs or kwargs["recording"] is None:
            kwargs["recording"] = LockedRecording()
        super().__init__(host, listen=listen, **kwargs)
        recording = self.recording
        # guards what the reader thread and the steps both write (the crowd's account reads under it too)
        self.lock: threading.RLock = getattr(recording, "lock", None) or threading.RLock()
        self._t0 = time.perf_counter()
        self._lines: deque[tuple[float, str, Frame]] = deque(maxlen=max(frames, 1))
        self.received: list[Frame] = []
        self.received_dropped = 0
        self.deliveries: list[tuple[str, str, int]] = []
        self.sent_marks: list[tuple[str, int, int]] = []
        self.joined: list[tuple[str, str, int]] = []
        self._step: tuple[str, str, str, float, int] | None = None  # name, call, expected, start, frames before
        self._last: Frame | None = None
        self._last_client: Any = None  # the connection last opened (the one a failure dropped, too)
        self._masker = Masker()
        make = self._new_client
        self._new_client = cast(Callable[..., WsClient], lambda url, **options: _Watched(make(url, **options), self))

    # What happened, for a failure note

    def _note(self, when: float, what: str, frame: Frame) -> None:
        self._lines.append((when, what, frame))

    def _received(self, frame: Frame, arrival: float) -> None:
        self._lines.append((arrival, "<", frame))
        self._last = frame
        if len(self.received) < KEEP:
            self.received.append(frame)
        else:
            self.received_dropped += 1

    @property
    def last_frames(self) -> list[str]:
        """The last frames of the conversation, one line each: ms since the session began, `>` sent, `<` received."""
        self._secrets()
        lines = []
        for when, what, frame in list(self._lines):
            text = self._masker(str(frame)) if what in ("connect", "!") else self._show(frame)
            arrow = {">": "> sent    ", "<": "< received", "connect": "  connect ", "!": "! failed  "}[what]
            lines.append(f"+{(when - self._t0) * 1000:10.3f} ms  {arrow} {text}")
        return lines

    def _show(self, frame: Frame) -> str:
        if isinstance(frame, bytes):
            masked: str | bytes = self._masker(frame.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape"
            )
        else:
            masked = self._masker(frame)
        return shorten(masked, SHOW)

    def _secrets(self) -> None:
        for value in self.cookies.values():
            self._masker.add(value)
        for header in (*self.auth_headers, *self.headers):
            self._masker.add_header(header)
        for value in self.auth_query.values():
            self._masker.add(value)

    def _begin(self, name: str, call: str, expected: str) -> None:
        self._step = (name, call, expected, time.perf_counter(), len(self.received) + self.received_dropped)

    def _explain(self, exc: BaseException) -> None:
        """Add the step, its expectation, what arrived and the last frames to `exc` (a note pytest shows)."""
        if getattr(exc, "frames", None) is not None or self._step is None:
            return
        name, call, expected, start, before = self._step
        count = len(self.received) + self.received_dropped - before
        if count and self._last is not None:
            arrived = f"{count} frame{'s' if count > 1 else ''}, the last {self._show(self._last)}"
        else:
            arrived = "nothing"
        client = self.client if self.client is not None else self._last_client
        where = mask_url(getattr(client, "url", "")) or self.host
        lines = self.last_frames
        note = [
            f"chanload step {name!r} ({call}) failed after {(time.perf_counter() - start) * 1000:.3f} ms at {where}:",
            f"  expected: {expected}",
            f"  arrived:  {arrived}",
            f"  error:    {exc}",
            f"  last {len(lines)} frames (ms since the session began; > sent, < received):",
            *(f"    {line}" for line in lines),
        ]
        try:
            exc.frames = lines  # type: ignore[attr-defined]
        except AttributeError:
            pass
        exc.add_note("\n".join(note))

    def _run_step(self, name: str, call: str, expected: str, step: Callable[[], Any]) -> Any:
        outer = self._step
        self._begin(name, call, expected)
        try:
            return step()
        except ChanloadError as exc:
            self._lines.append((time.perf_counter(), "!", f"{name}: {exc}"))
            self._explain(exc)
            raise
        finally:
            self._step = outer

    # The steps

    def connect(self, path: str | None = None, **kwargs: Any) -> None:
        name = kwargs.get("step") or (route_name(path) if path else self.name)
        if path and "{group}" not in path and kwargs.get("group") is None:
            kwargs["group"] = path.strip("/")  # the room a delivery account names: the path, not a pool's value
        super_connect = super().connect
        since = time.time_ns()
        self._run_step(name, "connect", "the handshake accepted (HTTP 101)", lambda: super_connect(path, **kwargs))
        client = self._last_client = self.client
        with self.lock:
            self.joined.append((self.user, urlsplit(getattr(client, "url", "")).path, since))

    def request(
        self, message: Any = None, expect: Any = None, *, match: Any = None, step: str | None = None, **kwargs: Any
    ) -> Frame:
        expected = self._describe(expect, self.expected, match)
        super_request = super().request
        return cast(
            Frame,
            self._run_step(
                step or self.name,
                "request",
                expected,
                lambda: super_request(message, expect, match=match, step=step, **kwargs),
            ),
        )

    def send(self, message: Any = None, *, step: str | None = None) -> None:
        super_send = super().send
        self._run_step(step or self.name, "send", "the message sent", lambda: super_send(message, step=step))

    def expect(self, expect: Any, *, match: Any = None, timeout: float | None = None, step: str | None = None) -> Frame:
        expected = self._describe(expect, None, match)
        super_expect = super().expect
        return cast(
            Frame,
            self._run_step(
                step or self.name,
                "expect",
                expected,
                lambda: super_expect(expect, match=match, timeout=timeout, step=step),
            ),
        )

    def login(self, path: str, username: str, password: str, **kwargs: Any) -> None:
        self._masker.add(password)
        super_login = super().login
        self._run_step(
            kwargs.get("step") or path,
            "login",
            "a session cookie from the login form",
            lambda: super_login(path, username, password, **kwargs),
        )

    def login_token(self, path: str, data: Any, **kwargs: Any) -> str | None:
        if isinstance(data, dict):
            for value in data.values():
                self._masker.add(value)
        super_login_token = super().login_token
        return cast(
            "str | None",
            self._run_step(
                kwargs.get("step") or path,
                "login_token",
                f"a token in the reply's {kwargs.get('field', 'token')!r}",
                lambda: super_login_token(path, data, **kwargs),
            ),
        )

    def _describe(self, expect: Any, default: Expect | None, match: Any) -> str:
        try:
            what = default if expect is None else Expect.of(expect)
            text = "" if what is None else what.describe()
            if match is not None:
                text += f" (the frame matching {Expect.of(match).describe()})"
            return text
        except Exception:  # a bad template: the step itself says so
            return shorten(repr(expect), SHOW)

    # Bookkeeping the plain session does not keep

    def _listen(self, client: WsClient, user: str, group: str) -> Any:
        book = self.recording.delivery
        with self.lock:
            book.listening(group, getattr(client, "url", ""), user, self.reply_timeout)

        def sort(frame: Frame, ns: int) -> str | None:
            # Always: a member listens from its connect, so another member's marked message that arrives before
            # this one sends its own first mark is a delivery too (else it is missed, e.g. #0 of a fast sender).
            return self._sort(frame, ns, user, group)

        return ThreadReader(client, sort, lambda: book.left(user, time.time_ns()), self.lock)

    def _sort(self, frame: Frame, arrival_ns: int, receiver: str, group: str) -> str | None:
        with self.lock:
            kind = super()._sort(frame, arrival_ns, receiver, group)
            if kind == "delivery":
                for mark in marks.find(frame):
                    if mark.sender != receiver:
                        self.deliveries.append((receiver, mark.sender, mark.seq))
        return kind

    def _sent(self, client: WsClient, mark: int) -> None:
        with self.lock:
            super()._sent(client, mark)
            self.sent_marks.append((self.user, mark, self._mark_ns))

    def _detach(self) -> WsClient | None:
        with self.lock:
            reader = self._reader
        if reader is not None:
            reader.stop()  # outside the lock: the thread may be waiting for it
        with self.lock:
            return super()._detach()


class _Watched:
    """A client whose handshake, sends and receipts go into its session's last frames; the rest passes through."""

    def __init__(self, client: WsClient, session: BehaviourSession) -> None:
        self._client = client
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def connect(self) -> None:
        session = self._session
        session._last_client = self._client  # named by a failure note, even if the handshake fails
        start = time.perf_counter()
        url = mask_url(getattr(self._client, "url", ""))
        try:
            self._client.connect()
        except WsError as exc:
            session._note(start, "connect", f"{url}: {exc}")
            raise
        took = (time.perf_counter() - start) * 1000
        session._note(start, "connect", f"{url} accepted in {took:.3f} ms")

    def send(self, message: Frame) -> None:
        self._session._note(time.perf_counter(), ">", message)
        self._client.send(message)

    def recv(self, timeout: float | None = -1.0) -> Frame:
        frame = self._client.recv(timeout)
        self._session._received(frame, self._client.arrival)
        return frame
