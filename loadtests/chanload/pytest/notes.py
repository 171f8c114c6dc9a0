"""`FailureNotes`: the observer that makes a failed step of a behaviour test explain itself.

It keeps the last frames of a session's conversation (sent and received, with their times, secrets
masked by the session's `masker`) and every frame received; when a step fails, it adds to the error a note
that names the step, what it expected, what arrived and those last frames. pytest shows the note under
the error, and the error's `frames` holds the lines.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from chanload.conversation.masking import mask_url
from chanload.conversation.messages import Expect, Frame
from chanload.conversation.observer import Observing, Step
from chanload.exceptions import ChanloadError, WsError
from chanload.formatting import shorten

FRAMES = 12  # frames (sent and received) a failure note shows
KEEP = 100_000  # frames kept in `kept` (past it they are counted in `received_dropped`)
SHOW = 120  # characters of a frame shown in a note
ARROWS = {">": "> sent    ", "<": "< received", "connect": "  connect ", "!": "! failed  "}


class FailureNotes(Observing):
    """What a session sent and received, and a note on the error of each step that fails (`session.observe(it)`).

    `kept` holds every frame received, in order (at most 100,000, then counted in `received_dropped`).
    `lock` guards what the session's reader thread and its steps both write.
    """

    def __init__(self, frames: int = FRAMES, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.t0 = time.perf_counter()
        self.lines: deque[tuple[float, str, Frame]] = deque(maxlen=max(frames, 1))
        self.kept: list[Frame] = []
        self.received_dropped = 0
        self.last: Frame | None = None
        self.last_client: Any = None  # the connection last opened (the one a failure dropped, too)
        self.steps: list[tuple[Step, str, float, int]] = []  # under way: step, expected, start, frames before

    # What happened

    def connecting(self, session: Any, client: Any) -> None:
        self.last_client = client  # named by a failure note, even if the handshake fails

    def connected(self, session: Any, client: Any, seconds: float, error: WsError | None) -> None:
        start = time.perf_counter() - seconds
        url = mask_url(getattr(client, "url", ""))
        text = f"{url}: {error}" if error is not None else f"{url} accepted in {seconds * 1000:.3f} ms"
        self.lines.append((start, "connect", text))

    def sent(self, session: Any, frame: Frame) -> None:
        self.lines.append((time.perf_counter(), ">", frame))

    def received(self, session: Any, frame: Frame, arrival: float) -> None:
        with self.lock:
            self.lines.append((arrival, "<", frame))
            self.last = frame
            if len(self.kept) < KEEP:
                self.kept.append(frame)
            else:
                self.received_dropped += 1

    def frames(self, session: Any) -> list[str]:
        """The last frames, one line each: ms since the session began, `>` sent, `<` received."""
        mask = session.masker
        lines = []
        for when, what, frame in list(self.lines):
            text = mask(str(frame)) if what in ("connect", "!") else self.show(session, frame)
            lines.append(f"+{(when - self.t0) * 1000:10.3f} ms  {ARROWS[what]} {text}")
        return lines

    def show(self, session: Any, frame: Frame) -> str:
        mask = session.masker
        if isinstance(frame, bytes):
            masked: str | bytes = mask(frame.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        else:
            masked = mask(frame)
        return shorten(masked, SHOW)

    # The steps

    def step(self, session: Any, step: Step) -> None:
        if step.call == "open":
            return
        expected = _expected(session, step)
        self.steps.append((step, expected, time.perf_counter(), len(self.kept) + self.received_dropped))

    def step_ended(self, session: Any, step: Step, error: ChanloadError | None) -> None:
        if step.call == "open" or not self.steps:
            return
        _step, expected, start, before = self.steps.pop()
        if error is not None:
            self.lines.append((time.perf_counter(), "!", f"{step.name}: {error}"))
            self.explain(session, step, expected, start, before, error)

    def explain(self, session: Any, step: Step, expected: str, start: float, before: int, exc: BaseException) -> None:
        """Add the step, its expectation, what arrived and the last frames to `exc` (a note pytest shows)."""
        if getattr(exc, "frames", None) is not None:
            return  # an inner step's (an opening step's) note says it already
        count = len(self.kept) + self.received_dropped - before
        if count and self.last is not None:
            arrived = f"{count} frame{'s' if count > 1 else ''}, the last {self.show(session, self.last)}"
        else:
            arrived = "nothing"
        client = session.client if session.client is not None else self.last_client
        where = mask_url(getattr(client, "url", "")) or session.host
        lines = self.frames(session)
        note = [
            f"chanload step {step.name!r} ({step.call}) failed after {(time.perf_counter() - start) * 1000:.3f} ms "
            f"at {where}:",
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


def _expected(session: Any, step: Step) -> str:
    """What the step expects, in words."""
    if step.call == "connect":
        return "the handshake accepted (HTTP 101)"
    if step.call == "login":
        return "a session cookie from the login form"
    if step.call == "login_token":
        return f"a token in the reply's {step.field!r}"
    if step.call == "send":
        return "the message sent"
    default = session.expected if step.call == "request" else None
    try:
        what = default if step.expect is None else Expect.of(step.expect)
        text = "" if what is None else what.describe()
        if step.match is not None:
            text += f" (the frame matching {Expect.of(step.match).describe()})"
        return text
    except Exception:  # a bad template: the step itself says so
        return shorten(repr(step.expect), SHOW)
