"""Waiting for a count to reach a value and hold, without a fixed pause that a loaded machine outruns."""

from __future__ import annotations

import time


def settled(sleep, count, expected: int, timeout: float = 10.0) -> int:
    """`count()` once it reached `expected` (or `timeout` passed), 0.1 s later; `sleep`: time.sleep or gevent.sleep.

    A loaded machine may take longer than any fixed pause to run a thousand switches; a reader that does
    not stop shows as a count past `expected`, however long the wait.
    """
    deadline = time.monotonic() + timeout
    while count() < expected and time.monotonic() < deadline:
        sleep(0.01)
    sleep(0.1)
    return count()
