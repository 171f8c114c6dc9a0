"""Sessions for behaviour tests (the pytest plugin's `ws` and `ws_factory`): threads, no gevent, failures explained.

A `BehaviourSession` is a `Session` for a test process: with `listen` (its default here) a thread of its
own reads every frame as it arrives (the plain `Session` reads in a gevent greenlet, as Locust runs it),
so members of a room receive each other's messages between their own steps. Its observer
(`chanload.pytest.notes.FailureNotes`) keeps the last frames of its conversation and, when a step fails,
adds to the error a note that names the step, what it expected, what arrived and those last frames; pytest
shows the note under the error. It keeps the delivery bookkeeping `ws_factory.run` accounts from.

`chanload.pytest.crowd.SessionFactory` makes them (`ws_factory()`) and runs N at once (`ws_factory.run`).

Each session keeps its own `LocalRecording`; a lock keeps its reader thread's bookkeeping and the test's
steps apart. A session belongs to one thread at a time: give each thread its own.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from chanload.conversation import marks
from chanload.conversation.messages import Frame
from chanload.conversation.recording import LocalRecording
from chanload.conversation.session import Session
from chanload.conversation.trace import TraceObserver
from chanload.exceptions import WsError
from chanload.pytest.notes import FRAMES, FailureNotes
from chanload.wire.client import WsClient
from chanload.wire.framing import MAX_MESSAGE
from chanload.wire.reader import READ_AHEAD, Reader

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
    default 12) and `trace` (print the conversation frame by frame to stderr, as `--ws-trace` does: the
    plugin's `--chanload-trace`). Its `FailureNotes` observer (`notes`) writes the notes. After a run it holds
    what it saw:

    - `received`: every frame received, in order (deliveries included; at most 100,000, then counted in
      `received_dropped`);
    - `deliveries`: (receiver, sender, mark number) for every other member's marked message received;
    - `sent_marks`: (sender, mark number, send time ns) for every marked message sent;
    - `joined`: (connection id, room path, time ns) for every connection opened.
    """

    def __init__(
        self, host: str, *, frames: int = FRAMES, listen: bool | None = True, trace: bool = False, **kwargs: Any
    ) -> None:
        if "recording" not in kwargs or kwargs["recording"] is None:
            kwargs["recording"] = LockedRecording()
        super().__init__(host, listen=listen, **kwargs)
        recording = self.recording
        # guards what the reader thread and the steps both write (the crowd's account reads under it too)
        self.lock: threading.RLock = getattr(recording, "lock", None) or threading.RLock()
        self.deliveries: list[tuple[str, str, int]] = []
        self.sent_marks: list[tuple[str, int, int]] = []
        self.joined: list[tuple[str, str, int]] = []
        self.notes = FailureNotes(frames, self.lock)
        self.observe(self.notes)
        if trace:
            self.observe(TraceObserver(self.masker))

    @property
    def received(self) -> list[Frame]:
        return self.notes.kept

    @property
    def received_dropped(self) -> int:
        return self.notes.received_dropped

    @property
    def last_frames(self) -> list[str]:
        """The last frames of the conversation, one line each: ms since the session began, `>` sent, `<` received."""
        return self.notes.frames(self)

    def connect(self, path: str | None = None, **kwargs: Any) -> None:
        if path and "{group}" not in path and kwargs.get("group") is None:
            kwargs["group"] = path.strip("/")  # the room a delivery account names: the path, not a pool's value
        since = time.time_ns()
        super().connect(path, **kwargs)
        client = self.client
        with self.lock:
            self.joined.append((self.user, urlsplit(getattr(client, "url", "")).path, since))

    # Bookkeeping the plain session does not keep

    def _listen(self, client: WsClient, user: str, group: str) -> Any:
        book = self.recording.delivery
        with self.lock:
            book.listening(group, getattr(client, "url", ""), user, self.reply_timeout)

        def sort(frame: Frame, ns: int) -> str | None:
            self._received(frame, client.arrival)  # told to the observers: the notes keep it
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
