"""The receiving half of a `Session`: waiting for the frame that is the reply, and sorting what else arrives.

A frame read while a reply is awaited is one of: another member's marked message (a delivery, recorded
with its latency from the mark's send time, never taken for a reply), this connection's own marked
message relayed back, the reply (the first frame the matcher accepts; with `--ws-match` it must then pass
`--ws-expect` too, or the step fails at once), or another frame (`--ws-other`: counted and skipped, or
the step fails). Frames are read straight off the socket, or, for a listening session, from the queue its
reader fills as they arrive.

`Receiving` is a part of `Session` kept in a module of its own; it uses the session's attributes.
"""

from __future__ import annotations

import time

from chanload.conversation import marks
from chanload.conversation.messages import Expect, Frame, Matcher
from chanload.conversation.observer import Observer
from chanload.conversation.recording import Recording
from chanload.exceptions import ReplyTimeout
from chanload.recording.types import DELIVERY
from chanload.wire.reader import Reader
from chanload.wire.transport import Transport


class Receiving:
    """Waiting for replies and sorting frames: the part of `Session` that reads."""

    # The session's, set in Session.__init__ and connect().
    recording: Recording
    name: str
    other: str
    reply_timeout: float
    marks: bool
    user: str
    group: str
    username: str
    _reader: Reader | None
    observers: tuple[Observer, ...]

    def _await(
        self,
        client: Transport,
        match: Matcher,
        expected: Expect,
        seq: int,
        start: float,
        wait: float,
        check: Matcher | None = None,
        checked: Expect | None = None,
    ) -> tuple[Frame, float]:
        """The frame that matches and when it reached the socket (perf_counter), within `wait` s of `start`.

        With `check` (what `checked` describes), the matched frame must pass it too, or the step fails at once.
        """
        if self._reader is not None:
            frame, arrival = self._await_queued(self._reader, match, expected, seq, start, wait)
        else:
            frame, arrival = self._await_direct(client, match, expected, seq, start, wait)
        if check is not None and not check(frame):
            assert checked is not None
            for observer in self.observers:
                observer.wrong(self, frame)
            raise checked.wrong_reply(frame, self.user, seq, self.group, self.username)
        if self.observers:
            for observer in self.observers:
                observer.taken(self, frame, arrival, start)
        return frame, arrival

    def _await_direct(
        self, client: Transport, match: Matcher, expected: Expect, seq: int, start: float, wait: float
    ) -> tuple[Frame, float]:
        # The common case is one wait on the connection's reusable reply timer, and a match.
        reply = client.recv() if wait == self.reply_timeout else client.recv(wait)
        if self.observers:
            self._received(reply, client.arrival)
        while True:
            own = False
            if self.marks:
                kind = self._sort(reply, client.arrival_ns, self.user, self.group)
                if kind == "delivery":
                    reply = self._recv_until(client, start + wait, wait)
                    continue
                own = kind == "own"
            if match(reply):
                return reply, client.arrival
            if not own:
                self._other(reply, expected, seq)
            reply = self._recv_until(client, start + wait, wait)

    def _recv_until(self, client: Transport, deadline: float, wait: float) -> Frame:
        """The next frame before `deadline` (perf_counter), the end of a wait of `wait` s; else a reply timeout."""
        left = deadline - time.perf_counter()
        if left <= 0:
            client.abort()  # a late reply would put the conversation out of step
            raise ReplyTimeout(wait)  # the wait this step was given
        frame = client.recv(left)
        if self.observers:
            self._received(frame, client.arrival)
        return frame

    def _received(self, frame: Frame, arrival: float) -> None:
        for observer in self.observers:
            observer.received(self, frame, arrival)

    def _await_queued(
        self, reader: Reader, match: Matcher, expected: Expect, seq: int, start: float, wait: float
    ) -> tuple[Frame, float]:
        while True:
            item = reader.get(start + wait)
            if item is None:
                raise ReplyTimeout(wait)
            frame, arrival, own = item
            if match(frame):
                return frame, arrival
            if not own:
                self._other(frame, expected, seq)

    def _other(self, frame: Frame, expected: Expect, seq: int) -> None:
        """A frame that is not the awaited one: counted and skipped, or the step fails (--ws-other)."""
        for observer in self.observers:
            observer.other(self, frame)
        if self.other == "skip":
            self.recording.ledger.other_frames += 1
            return
        raise expected.wrong_reply(frame, self.user, seq, self.group, self.username)

    def _sort(self, frame: Frame, arrival_ns: int, receiver: str, group: str) -> str | None:
        """Record the deliveries a frame carries: 'delivery' (others' marks only), 'own' (this connection's), None."""
        found = marks.find(frame)
        if not found:
            return None
        self.recording.delivery.heard(receiver, arrival_ns)  # known to be in the room from now on
        own = False
        for mark in found:
            if mark.sender == receiver:
                own = True
                continue
            self.recording.delivery.see(group, receiver, mark.sender, mark.seq)
            # sent_ns is the sender's CLOCK_REALTIME (one machine, or clocks kept in step); so is the stamp.
            self.recording.fire(DELIVERY, self.name, (arrival_ns - mark.sent_ns) / 1e9, len(frame), None)
        kind = "own" if own else "delivery"
        if self.observers:
            for observer in self.observers:
                observer.sorted(self, frame, arrival_ns, kind, receiver)
        return kind

    def _listen(self, client: Transport, user: str, group: str) -> Reader:
        """A reader that sorts marks on arrival; when they are not looked for yet, it asks on every frame."""
        # It reads every frame until the connection ends: what others send meanwhile is owed to it.
        book = self.recording.delivery
        book.listening(group, getattr(client, "url", ""), user, self.reply_timeout)
        ended = lambda: book.left(user, time.time_ns())  # noqa: E731 - the server closed it, or it broke
        if self.observers:
            return Reader(client, lambda frame, ns: self._arrived(client, frame, ns, user, group), ended)
        if self.marks:
            return Reader(client, lambda frame, ns: self._sort(frame, ns, user, group), ended)
        return Reader(client, lambda frame, ns: self._sort(frame, ns, user, group) if self.marks else None, ended)

    def _arrived(self, client: Transport, frame: Frame, arrival_ns: int, user: str, group: str) -> str | None:
        """A frame a reader read, told to the observers, then sorted (when marks are looked for)."""
        self._received(frame, client.arrival)
        return self._sort(frame, arrival_ns, user, group) if self.marks else None
