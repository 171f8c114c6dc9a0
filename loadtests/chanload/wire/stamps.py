"""Send stamps for the benchmarks: each open-model message's intended and actual send time, written at exit.

Off unless `CHANLOAD_SEND_STAMPS=FILE` is set in the environment of a (single-process) run; then
`chanload.conversation.session` appends (intended, actual) perf_counter pairs for every scheduled send, and the
process writes them to FILE as JSON when it exits. `make bench-fidelity` reads them to compare the
gaps between the suite's sends with the gaps its schedule asked for.
"""

from __future__ import annotations

import atexit
import json
import os

PATH = os.environ.get("CHANLOAD_SEND_STAMPS") or None
SENDS: list[tuple[float, float]] | None = [] if PATH else None


def _write() -> None:
    assert PATH is not None and SENDS is not None
    with open(PATH, "w") as f:
        json.dump({"intended": [i for i, _ in SENDS], "actual": [a for _, a in SENDS]}, f)


if PATH:
    atexit.register(_write)


def short_gaps(times: list[float], below: float = 50e-6) -> tuple[float, int]:
    """The share of gaps between consecutive times (sorted first) shorter than `below` seconds, and the gap count."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    return (sum(1 for g in gaps if g < below) / len(gaps) if gaps else 0.0), len(gaps)
