"""Send stamps for the benchmarks: each open-model message's intended and actual send time, written at exit.

Off unless `CHANLOAD_SEND_STAMPS=FILE` is set in the environment of a (single-process) run; then a session
records (intended, actual) perf_counter pairs for every scheduled send, and the process writes them to FILE as
JSON when it exits. `make bench-fidelity` reads them to compare the gaps between the suite's sends with the gaps
its schedule asked for.

The switch is read when a session is built (`sink()`), not on each send, and nothing is opened or registered
with `atexit` until one asks: importing this module costs a run without the switch nothing.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
from collections.abc import Callable

ENV = "CHANLOAD_SEND_STAMPS"

Stamp = tuple[float, float]  # (intended, actual) perf_counter times of one send


def sink() -> Callable[[Stamp], None] | None:
    """Where to record a send's (intended, actual) times, or None when the switch is off; ask once, at construction.

    Every session of the process records into the same list, written to the file when the process exits.
    """
    sends = _sends()
    return None if sends is None else sends.append


def _sends() -> list[Stamp] | None:
    path = os.environ.get(ENV)
    return _opened(path) if path else None


@functools.cache
def _opened(path: str) -> list[Stamp]:
    sends: list[Stamp] = []
    atexit.register(_write, path, sends)
    return sends


def _write(path: str, sends: list[Stamp]) -> None:
    with open(path, "w") as f:
        json.dump({"intended": [i for i, _ in sends], "actual": [a for _, a in sends]}, f)


def __getattr__(name: str) -> list[Stamp] | None:
    # `SENDS`, the list itself (None when off), as code written before `sink()` imports it: read when imported.
    if name == "SENDS":
        return _sends()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def short_gaps(times: list[float], below: float = 50e-6) -> tuple[float, int]:
    """The share of gaps between consecutive times (sorted first) shorter than `below` seconds, and the gap count."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    return (sum(1 for g in gaps if g < below) / len(gaps) if gaps else 0.0), len(gaps)
