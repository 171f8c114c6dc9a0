"""A `Session`'s bookkeeping: failures recorded, a step's own exception turned into a `StepError`, messages
rendered with their marks, the connection dropped. `Bookkeeping` is a part of `Session` kept in a module of its
own; it uses the session's attributes.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from chanload.conversation import marks
from chanload.conversation.compose import Composer
from chanload.conversation.messages import Frame, Payload
from chanload.conversation.observer import Observer
from chanload.conversation.recording import Recording
from chanload.exceptions import ConnectionLost, StepError, WsError
from chanload.wire.reader import Reader
from chanload.wire.transport import Transport

log = logging.getLogger("chanload")
_first_seen: set[str] = set()  # failure messages already logged with the path they were met at
CACHE_LIMIT = 256


class Bookkeeping:
    """Recording failures and sends, rendering messages: the part of `Session` that keeps the books."""

    # The session's, set in Session.__init__ and connect().
    recording: Recording
    observers: tuple[Observer, ...]
    client: Transport | None
    payload: Payload
    marks: bool
    user: str
    group: str
    username: str
    mark_seq: int
    _mark: int
    _mark_ns: int
    _reader: Reader | None

    def _composer(self) -> Composer:
        raise NotImplementedError

    def _client(self) -> Transport:
        if self.client is None:
            raise ConnectionLost("connection lost: not connected (call connect() first)")
        return self.client

    def _failed(self, kind: str, name: str, seconds: float, exc: WsError) -> None:
        for observer in self.observers:
            observer.failed(self, kind, name, seconds, exc)
        self.recording.ledger.failure_kinds[exc.kind] += 1
        self.recording.fire(kind, name, seconds, 0, exc)
        if exc.fatal:
            client = self._detach()
            if client is not None:
                client.abort()

    def _step_error(self, kind: str, name: str, start: float, call: str, exc: Exception) -> StepError:
        """Record an exception that is not a WsError, raised inside a step, as that step's failure; return it.

        The message stays one per fault: this connection's id and the marks in the original's are written
        as placeholders. The first time this process meets a message, it is logged with its traceback.
        """
        try:
            detail = marks.hide(str(exc))
        except Exception:  # an exception whose str() raises too: its class alone
            detail = ""
        if self.user:
            detail = detail.replace(self.user, "{user}")
        error = StepError(call, exc, detail)
        key = str(error)
        if key not in _first_seen and len(_first_seen) < CACHE_LIMIT:  # a message that varies: no log flood
            _first_seen.add(key)
            log.warning("%s (first seen; its traceback follows)", error, exc_info=exc)
        self._failed(kind, name, since(start), error)
        if type(exc).__module__.startswith("locust."):
            # Locust's own control flow raised in a user's code (StopUser, RescheduleTask, InterruptTaskSet):
            # the step is recorded as failed, then Locust gets the exception it understands. Checked by
            # module name, since this layer never imports Locust.
            raise exc
        return error

    def _detach(self) -> Transport | None:
        client, self.client = self.client, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()
        if client is not None:
            self.recording.open_connections -= 1
            self.recording.delivery.left(self.user, time.time_ns())  # owed nothing sent later (minus a grace)
        return client

    def _sent(self, client: Transport, mark: int) -> None:
        """Note marked message number `mark` as sent (the socket took it): receivers are owed it."""
        self.recording.delivery.sent(self.group, getattr(client, "url", ""), self.user, mark, self._mark_ns)

    def _render(self, message, seq: int) -> Frame:
        """Message `seq` as sent; `_mark` is its mark's number (counted apart from {seq}), or -1 without one."""
        sent_ns = time.time_ns()
        if message is None:  # the session's payload: the common case, no lookup
            payload = self.payload
            if not payload.uses_mark:
                self._mark = -1
                return payload.render(
                    user=self.user, seq=seq, group=self.group, sent_ns=sent_ns, username=self.username
                )
            marked = True
            frame: Frame = payload.render(
                user=self.user, seq=seq, group=self.group, sent_ns=sent_ns, username=self.username,
                mark_seq=self.mark_seq,
            )  # fmt: skip
        else:
            compose = self._composer()
            frame = compose.frame(
                message, self.user, seq, self.group, self.username, sent_ns=sent_ns, mark_seq=self.mark_seq
            )
            marked = compose.marked
            if compose.marks:
                self.marks = True  # a message of ours carried a mark: others' copies are deliveries from now on
        if marked:
            self._mark, self._mark_ns = self.mark_seq, sent_ns
            self.mark_seq += 1
        else:
            self._mark = -1
        return frame


def since(start: float) -> float:
    """Seconds since `start` (perf_counter); 0 for a step that failed before its clock started."""
    return time.perf_counter() - start if start else 0.0


def log_first(exc: WsError, host: str, path: str) -> None:
    """Log a failure the first time this process meets it, with the path tried (never in the request name).

    The query string is left out: it may carry a token.
    """
    key = str(exc)
    if key in _first_seen:
        return
    _first_seen.add(key)
    parts = urlsplit(f"{host}/{path}")
    log.warning("%s (first seen connecting to %s://%s%s)", exc, parts.scheme, parts.netloc, parts.path)
