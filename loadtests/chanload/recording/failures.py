"""A bound on the different failure messages one row keeps, so that Locust's failure table stays a table.

Locust keeps one failure row per (request type, name, message). chanload's messages are templates (the
expectation as written, `{seq}` and `{mark}` for this message's values, the differing fields of a JSON
reply), but a reply or a user's exception can still carry what differs per message: a server counter, a
timestamp, the id of a reply that came out of step. Each row and kind of failure keeps its first `LIMIT`
different messages as they are; any further one is written as one message that says so, so a run never
grows a row per message. Counts are untouched: every failure is still a failure of its row.
"""

from __future__ import annotations

from typing import TypeVar

from chanload.exceptions import WrongReply

E = TypeVar("E", bound=BaseException)

LIMIT = 10  # different messages kept as they are per (request type, name, kind of failure)
_KEYS = 4096  # (request type, name, kind) triples remembered; a run with more rows than this shares the rest


class FailureMessages:
    """Which failure messages this process has shown per row and kind; `bounded` gives the one to show."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._seen: dict[tuple[str, str, str], set[str]] = {}

    def bounded(self, kind: str, name: str, exc: E) -> E:
        """`exc` itself while its row and kind have fewer than `limit` other messages; else the row's overflow."""
        failure = getattr(exc, "kind", type(exc).__name__)
        key = (kind, name, str(failure))
        text = str(exc)
        seen = self._seen.get(key)
        if seen is None and len(self._seen) < _KEYS:
            seen = self._seen[key] = set()
        if seen is not None and (text in seen or len(seen) < self.limit):
            seen.add(text)
            return exc
        return overflow(exc, self.limit)


def overflow(exc: E, limit: int) -> E:
    """A copy of `exc` whose message stands for every message past the first `limit` of its row and kind."""
    more = f"more than {limit} different ones on this row; --ws-trace shows each"
    if isinstance(exc, WrongReply):
        text = f"wrong reply: expected {exc.expected}, got another reply ({more})"
    else:
        text = f"{getattr(exc, 'kind', type(exc).__name__)}: another message ({more})"
    cls = type(exc)
    shown = cls.__new__(cls, text)  # not cls(...): chanload's errors take other arguments than their message
    shown.__dict__.update(exc.__dict__)
    shown.args = (text,)
    shown.__cause__ = exc.__cause__
    return shown
