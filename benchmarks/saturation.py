"""Saturation: the msg/s the suite drives the target to, beside what a bare asyncio client reaches.

    make bench-saturation        (python -m benchmarks.saturation)

One Daphne, loaded in turn by the bare asyncio `websockets` client (benchmarks/bare.py) and by the
suite (`locust -f loadtests/ws.py RoomUser --headless --ws-think 0`), each alone, with the same
number of connections, closed loop, flat out. The phases run in the order bare, suite, suite, bare
(ABBA), so a slow drift of the machine's speed during the run weighs on both sides alike; each
phase's rate is its replies OK over a window of whole seconds after a warm-up, and the figure is
the suite's total over the bare client's total in equal windows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.common import Phase, Target, bare_phase, goal, suite_phase

CONNECTIONS = 50  # enough that the target, not the generator's concurrency, limits the rate
WARMUP = 2.0
WINDOW = 12
GOAL_RATIO = 0.95


def _line(phase: Phase) -> str:
    cpu, secs = phase.window.cpu, phase.window.seconds
    return (
        f"  {phase.name:<12} {phase.rate:7.0f} msg/s   generator CPU {cpu['generator'] / secs * 100:3.0f}% of a core"
        f" ({cpu['generator'] / phase.round_trips * 1e6:5.1f} us/msg)   target CPU {cpu['target'] / secs * 100:3.0f}%"
        f" ({cpu['target'] / phase.round_trips * 1e6:5.1f} us/msg)"
    )


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp, Target() as target:
        print(
            f"saturation: {CONNECTIONS} connections, closed loop, no think time, against one Daphne ({target.host});"
            f" phases bare, suite, suite, bare; each a {WINDOW} s window of whole seconds after a {WARMUP:g} s warm-up",
            flush=True,
        )
        phases: list[Phase] = []
        for side in ("bare", "suite", "suite", "bare"):
            if side == "bare":
                phase = bare_phase(target, CONNECTIONS, warmup=WARMUP, window=WINDOW, tmp=Path(tmp))
            else:
                extra = ["--ws-think", "0"]
                phase = suite_phase(target, CONNECTIONS, extra, warmup=WARMUP, window=WINDOW, tmp=Path(tmp))
            phases.append(phase)
            print(_line(phase), flush=True)

    bare = [p for p in phases if p.name != "suite"]
    suite = [p for p in phases if p.name == "suite"]
    bare_rate = sum(p.round_trips for p in bare) / sum(p.window.seconds for p in bare)
    suite_rate = sum(p.round_trips for p in suite) / sum(p.window.seconds for p in suite)
    ratio = suite_rate / bare_rate
    print("CPU = user+sys from /proc (psutil) over each window; 100% = one core (this machine has 2, shared by all)")
    print(f"suite {suite_rate:.0f} msg/s / bare asyncio {bare_rate:.0f} msg/s = {ratio * 100:.1f}%")
    goal(
        f"saturation (suite msg/s >= {GOAL_RATIO * 100:.0f}% of the bare asyncio client's)",
        f"{ratio * 100:.1f}%",
        ratio >= GOAL_RATIO,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
