"""A `Session`'s messages: `request` (a round trip), `send` (no reply awaited) and `expect` (a frame awaited).

`Messaging` is a part of `Session` kept in a module of its own; it uses the session's attributes, and its
receiving half (`Receiving`) and books (`Bookkeeping`).
"""

from __future__ import annotations

import time

from chanload.conversation.bookkeeping import Bookkeeping, since
from chanload.conversation.messages import Expect, Frame, Matcher, Payload
from chanload.conversation.receiving import Receiving
from chanload.exceptions import WsError
from chanload.recording.types import CORRECTED, MESSAGE, RECEIVE, SEND, SEND_LAG
from chanload.wire.stamps import SENDS


class Messaging(Receiving, Bookkeeping):
    """Sending and awaiting messages: the steps of a conversation once connected."""

    # The session's, set in Session.__init__ and connect().
    name: str
    seq: int
    expected: Expect
    matching: Expect | None

    def request(
        self,
        message: Frame | dict | list | Payload | None = None,
        expect: Expect | str | dict | list | Matcher | None = None,
        *,
        match: Expect | str | dict | list | Matcher | None = None,
        step: str | None = None,
        intended: float | None = None,
    ) -> Frame:
        """Send a message and wait for the frame that matches: one round trip, recorded as `WS message`.

        Args:
            message: text (placeholders filled, as in `--ws-payload`), bytes (as is), a dict or list
                (sent as JSON, the placeholders in its string values filled, keys untouched), or None
                for the session's payload.
            expect: what the reply must be (see `Expect.of`), or None for the session's.
            match: which frame is the reply (`Expect.of`'s forms), or None for the session's (`--ws-match`);
                with neither, the first frame `expect` accepts. A frame that matches and fails `expect`
                fails the step at once (`WrongReply`); frames that do not match are others (`--ws-other`).
            step: the request name of this step (default: the route template), e.g. "quote".
            intended: open model: the perf_counter time this message was due, for the corrected row.
        Returns the reply; raises the `WsError` that failed the step, after recording it (`StepError`
        for any other exception raised inside it; the message counts as sent and failed).
        """
        name = step or self.name
        ledger = self.recording.ledger
        seq = self.seq
        # In flight from now until answered or failed, so that the counters reconcile at any moment (a
        # worker's report mid-run too); when the run stops the user while it waits, it stays in flight.
        ledger.sent += 1
        ledger.in_flight += 1
        self.seq = seq + 1
        start = 0.0
        try:
            expected = self.expected if expect is None else self._composer().expect(expect)
            matching = self.matching if match is None else self._composer().expect(match)
            text = self._render(message, seq)
            mark = self._mark
            check = expected.matcher(self.user, seq, self.group, self.username, mark)
            start = time.perf_counter()
            if SENDS is not None and intended is not None:
                SENDS.append((intended, start))  # CHANLOAD_SEND_STAMPS: the benchmarks' own instrument
            client = self._client()
            if self.observers:
                for observer in self.observers:
                    observer.sent(self, text)
            client.send(text)
            if mark >= 0:
                self._sent(client, mark)  # the senders' side of delivery (chanload.recording.delivery)
            if matching is None:
                reply, end = self._await(client, check, expected, seq, start, self.reply_timeout)
            else:
                which = matching.matcher(self.user, seq, self.group, self.username, mark)
                reply, end = self._await(client, which, matching, seq, start, self.reply_timeout, check, expected)
        except WsError as exc:
            ledger.in_flight -= 1
            ledger.failed += 1
            self._failed(MESSAGE, name, since(start), exc)
            raise
        except Exception as exc:
            ledger.in_flight -= 1
            ledger.failed += 1
            raise self._step_error(MESSAGE, name, start, "request", exc) from exc
        ledger.in_flight -= 1
        if end < start:
            # A frame that sat in the read buffer from before this send, taken as the reply, arrived
            # before it was asked for. Recorded as 0, never negative, and counted.
            ledger.early_replies += 1
            end = start
        ledger.ok += 1
        ledger.last_ok_at = time.time()
        self.recording.fire(MESSAGE, name, end - start, len(reply), None)
        if intended is not None:
            self.recording.recorder.record(CORRECTED, name, end - intended)
            self.recording.recorder.record(SEND_LAG, name, start - intended)
        return reply

    def send(self, message: Frame | dict | list | Payload | None = None, *, step: str | None = None) -> None:
        """Send a message without waiting for a reply (not a round trip: only a failure is recorded, as `WS send`)."""
        seq = self.seq
        self.seq = seq + 1
        start = 0.0
        try:
            text = self._render(message, seq)
            start = time.perf_counter()
            client = self._client()
            if self.observers:
                for observer in self.observers:
                    observer.sent(self, text)
            client.send(text)
            if self._mark >= 0:
                self._sent(client, self._mark)
        except WsError as exc:
            self._failed(SEND, step or self.name, since(start), exc)
            raise
        except Exception as exc:
            raise self._step_error(SEND, step or self.name, start, "send", exc) from exc

    def expect(
        self,
        expect: Expect | str | dict | list | Matcher,
        *,
        match: Expect | str | dict | list | Matcher | None = None,
        timeout: float | None = None,
        step: str | None = None,
    ) -> Frame:
        """Wait for a frame that matches, with no message of its own (a welcome, a push).

        Frames that do not match are skipped and counted, or fail, as `--ws-other` says. Placeholders
        take the values of the last message sent. With `match`, the first frame it accepts is the one, and
        it must pass `expect` (else `WrongReply` at once). With `step`, the wait is recorded as `WS receive`
        (timed from this call); a failed wait is always recorded. Returns the frame.
        """
        seq = max(self.seq - 1, 0)
        wait = self.reply_timeout if timeout is None else timeout
        start = time.perf_counter()
        try:
            expected = self._composer().expect(expect)
            mark = self.mark_seq - 1  # `own`: the copy of the last marked message sent
            check = expected.matcher(self.user, seq, self.group, self.username, mark)
            client = self._client()
            if match is None:
                frame, end = self._await(client, check, expected, seq, start, wait)
            else:
                matching = self._composer().expect(match)
                which = matching.matcher(self.user, seq, self.group, self.username, mark)
                frame, end = self._await(client, which, matching, seq, start, wait, check, expected)
        except WsError as exc:
            self._failed(RECEIVE, step or self.name, time.perf_counter() - start, exc)
            raise
        except Exception as exc:
            raise self._step_error(RECEIVE, step or self.name, start, "expect", exc) from exc
        if step is not None:
            self.recording.fire(RECEIVE, step, max(end - start, 0.0), len(frame), None)
        return frame
