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
from chanload.pytest.notes import FRAMES, FailureNotes
from chanload.wire.reader import Reader
from chanload.wire.transport import Transport


class LockedRecording(LocalRecording):
    """A `LocalRecording` whose samples may come from a session's reader thread and from its steps at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()

    def fire(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        with self.lock:
            super().fire(kind, name, seconds, length, exc)


class ThreadReader(Reader):
    """A `chanload.wire.reader.Reader` in a thread whatever runs the sockets, `sort` and `ended` under `lock`."""

    def __init__(
        self, client: Any, sort: Callable[[Frame, int], str | None], ended: Callable[[], None], lock: threading.RLock
    ) -> None:
        super().__init__(client, sort, ended, threads=True, lock=lock)


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

    def _listen(self, client: Transport, user: str, group: str) -> Any:
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

    def _sent(self, client: Transport, mark: int) -> None:
        with self.lock:
            super()._sent(client, mark)
            self.sent_marks.append((self.user, mark, self._mark_ns))

    def _detach(self) -> Transport | None:
        with self.lock:
            reader = self._reader
        if reader is not None:
            reader.stop()  # outside the lock: the thread may be waiting for it
        with self.lock:
            return super()._detach()
