"""Ceiling: how many messages a second one suite process drives on one core, beside two other Python clients.

    make bench-ceiling        (python -m benchmarks.ceiling)

The target is benchmarks/echo.py (picows on uvloop), pinned to CPU 0: it answers `OK` to every text
message several times faster than any client here can ask, so each client's own CPU is the limit.
Each client runs alone, pinned to CPU 1, with the same number of connections, closed loop, flat out:
the suite (one Locust process, `RoomUser --ws-think 0`), the bare asyncio `websockets` client
(benchmarks/bare.py) and a picows client (benchmarks/fastclient.py). The phases run in the order
suite, bare, picows, picows, bare, suite, so a drift of the machine's speed weighs on each alike.
Each phase's figures are over a window of whole seconds after a warm-up: msg/s (replies OK), the
client's CPU from /proc, and msg/s per core = replies / client CPU seconds. The echo server's CPU
is printed too: well under 100% of a core means it was not the bottleneck.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    ROOT,
    Generator,
    Phase,
    Target,
    bare_per_second,
    goal,
    measure,
    pinned,
    placement,
    stop,
    suite_phase,
)
from scripts.with_target import wait_for

CONNECTIONS = 50
WARMUP = 2.0
WINDOW = 8
GOAL_RATIO = 2.0


class EchoTarget(Target):
    """benchmarks/echo.py instead of Daphne, on a free loopback port, pinned to `cpus`."""

    def __enter__(self) -> EchoTarget:
        argv = [sys.executable, "-m", "benchmarks.echo", str(self.port)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, preexec_fn=pinned(self.cpus))
        wait_for(self.port, self.proc)
        return self

    def __exit__(self, *_exc) -> None:
        if self.proc is not None:
            stop(self.proc)


def client_phase(target: EchoTarget, module: str, name: str, tmp: Path, cpus: set[int] | None) -> Phase:
    out = tmp / f"{module}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", f"benchmarks.{module}", target.host, "--connections", str(CONNECTIONS)]
    argv += ["--seconds", f"{WARMUP + WINDOW + 1.5:g}", "--out", str(out)]
    gen = Generator(argv, "READY", name, cpus)
    gen.wait_ready()
    win = measure({"target": target.pid, "generator": gen.proc.pid}, WINDOW, WARMUP)
    if gen.finish() != 0:
        sys.exit(f"{name} failed:\n{gen.output()}")
    return Phase(name, win, win.count(bare_per_second(out)))


def per_core(phases: list[Phase]) -> float:
    return sum(p.round_trips for p in phases) / sum(p.window.cpu["generator"] for p in phases)


def main() -> int:
    target_cpus, client_cpus = placement()
    order = ["suite", "bare", "picows", "picows", "bare", "suite"]
    phases: dict[str, list[Phase]] = {"suite": [], "bare": [], "picows": []}
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp, EchoTarget(target_cpus) as target:
        where = "echo server on CPU 0, each client on CPU 1" if client_cpus else "unpinned"
        print(
            f"ceiling: {CONNECTIONS} connections per client, closed loop, no think time, each alone against"
            f" benchmarks/echo.py (picows, uvloop) at {target.host}; {where}; phases {', '.join(order)},"
            f" each a {WINDOW} s window after a {WARMUP:g} s warm-up",
            flush=True,
        )
        for side in order:
            if side == "suite":
                phase = suite_phase(
                    target,
                    CONNECTIONS,
                    ["--ws-think", "0"],
                    warmup=WARMUP,
                    window=WINDOW,
                    tmp=Path(tmp),
                    cpus=client_cpus,
                )
                phase.name = "suite"
            elif side == "bare":
                phase = client_phase(target, "bare", "bare asyncio", Path(tmp), client_cpus)
            else:
                phase = client_phase(target, "fastclient", "picows", Path(tmp), client_cpus)
            phases[side].append(phase)
            cpu, secs = phase.window.cpu, phase.window.seconds
            print(
                f"  {phase.name:<13} {phase.rate:8.0f} msg/s"
                f"   client CPU {cpu['generator'] / secs * 100:3.0f}% of a core"
                f" ({phase.round_trips / cpu['generator']:8.0f} msg/s per core)"
                f"   echo server CPU {cpu['target'] / secs * 100:3.0f}%",
                flush=True,
            )
    suite, bare, fast = per_core(phases["suite"]), per_core(phases["bare"]), per_core(phases["picows"])
    print("msg/s per core = replies OK / client CPU seconds, over both phases of each client (/proc, user+sys)")
    print(f"  suite {suite:.0f}, bare asyncio {bare:.0f}, picows {fast:.0f} msg/s per core")
    print(f"  suite / bare asyncio = {suite / bare:.2f}x; suite / picows = {suite / fast:.2f}x")
    if os.cpu_count() and os.cpu_count() < 2:
        print("  (one CPU: clients and echo server shared it; the figures are not per core)")
    goal(
        f"ceiling (one suite process >= {GOAL_RATIO:g}x the bare asyncio client's msg/s per core)",
        f"{suite / bare:.2f}x (picows {fast / suite:.2f}x the suite)",
        suite / bare >= GOAL_RATIO,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
