"""Marks: short tokens a message carries so that any receiver can tell who sent it, which one, and when.

A mark is `cl1.<sender>.<seq>.<sent_ns>`: the sending connection's id, the number of this marked
message on that connection (0, 1, 2, ... over marked messages only: the session counts them apart from
`{seq}`, so unmarked messages between them leave no gap) and its send time (CLOCK_REALTIME, ns). It is
plain ASCII without quotes or backslashes, so it survives being put in a JSON string, wrapped in
another object or relayed by a chat app as part of a text. A receiver finds marks anywhere in a
frame, measures delivery latency from `sent_ns`, and counts gaps, duplicates and reordering per sender
from `seq`.
"""

from __future__ import annotations

import os
import random
import re
from typing import NamedTuple

PREFIX = "cl1."
_MARK = re.compile(r"cl1\.([A-Za-z0-9_-]{1,64})\.(\d{1,18})\.(\d{1,20})")
_MARK_BYTES = re.compile(_MARK.pattern.encode())
_SENDER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Mark(NamedTuple):
    sender: str
    seq: int
    sent_ns: int


def make(sender: str, seq: int, sent_ns: int) -> str:
    """The mark for message `seq` of connection `sender`, sent at `sent_ns`."""
    return f"{PREFIX}{sender}.{seq}.{sent_ns}"


def find(frame: str | bytes) -> list[Mark]:
    """Every mark in a text or binary frame, in order."""
    if isinstance(frame, bytes):
        return [Mark(s.decode(), int(q), int(t)) for s, q, t in _MARK_BYTES.findall(frame)]
    return [Mark(s, int(q), int(t)) for s, q, t in _MARK.findall(frame)]


def hide(text: str) -> str:
    """`text` with every mark in it written `{mark}` (a failure message stays one message for all senders)."""
    return _MARK.sub("{mark}", text)


def valid_sender(sender: str) -> bool:
    """Whether `sender` can stand in a mark (ASCII letters, digits, `-`, `_`; no dots)."""
    return _SENDER.fullmatch(sender) is not None


_process: tuple[int, str] = (0, "")


def process_id() -> str:
    """This process's part of connection ids: its pid and random bits (containers can share pids).

    Computed anew in each process, so processes forked by Locust (`--processes`) each get their own.
    """
    global _process
    pid = os.getpid()
    if _process[0] != pid:
        _process = (pid, f"{pid:x}{random.getrandbits(20):05x}")
    return _process[1]
