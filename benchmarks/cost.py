"""Generator cost: client CPU time per echo round trip, the suite's user against a bare asyncio client.

    make bench-cost        (python -m benchmarks.cost; CHANLOAD_BENCH_ROUNDS=N for more alone-rounds)

Two fair methods, both printed, and the goal is judged on the stricter (the higher ratio):

1. Side by side: the suite (`locust -f loadtests/ws.py RoomUser --headless --ws-think 0`) and the bare
   asyncio `websockets` client (benchmarks/bare.py) each hold the same number of connections and run
   closed loop, flat out, *at the same time* against one Daphne, so both pay for the same target, the
   same seconds and the same noise from anything else on the machine.
2. Alone, in turn: the target pinned to CPU 0, each client pinned to CPU 1, running alone against the
   same Daphne, in alternating rounds (suite, bare, suite, bare, ...). Each round's ratio compares the
   two neighbouring phases; the figure is the median of the rounds. This is what a user sees who runs
   the clients one after the other.

CPU (user + system) of each process is read from /proc at the edges of a window of whole seconds that
starts after every connection is open and a warm-up, so interpreter start-up, imports and connection
set-up are not counted; round trips are the replies each side counted OK in those same seconds.

With CHANLOAD_BENCH_METRICS=1 the suite also serves Prometheus metrics (`--ws-metrics-port`) in the
side-by-side method, and this process scrapes /metrics once a second, as a Prometheus with a 1 s
scrape interval would: compare the suite / bare ratio of that run with one without it to read the
cost of the metrics feed. CHANLOAD_BENCH_SCRAPE_HZ=10 scrapes ten times a second instead: it
magnifies the feed's cost tenfold, above the run-to-run noise.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from benchmarks.common import (
    Phase,
    Target,
    bare_per_second,
    bare_phase,
    cpu_line,
    finish_suite,
    free_port,
    goal,
    measure,
    median,
    placement,
    start_bare,
    start_suite,
    suite_phase,
)

CONNECTIONS = 25  # per generator
WARMUP = 2.0
WINDOW = 15  # side by side
ALONE_WINDOW = 8  # each alone-phase
ROUNDS = int(os.environ.get("CHANLOAD_BENCH_ROUNDS", "4"))  # alone: suite + bare per round
GOAL_RATIO = 0.5
SUITE_EXTRA = ["--ws-think", "0"]
METRICS = os.environ.get("CHANLOAD_BENCH_METRICS", "0") == "1"
SCRAPE_HZ = float(os.environ.get("CHANLOAD_BENCH_SCRAPE_HZ", "1"))


def scrape_every_second(port: int, stop: threading.Event, scrapes: list[int]) -> None:
    """What Prometheus does with a 1 s scrape interval (SCRAPE_HZ); the bytes of each scrape are kept."""
    while not stop.wait(1.0 / SCRAPE_HZ):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                scrapes.append(len(resp.read()))
        except OSError:
            pass  # not listening yet, or already gone


def side_by_side(tmp: Path) -> float:
    with Target() as target:
        report, bare_out = tmp / "suite", tmp / "bare.json"
        extra = list(SUITE_EXTRA)
        stop, scrapes = threading.Event(), []
        if METRICS:
            port = free_port()
            extra += ["--ws-metrics-port", str(port)]
            threading.Thread(target=scrape_every_second, args=(port, stop, scrapes), daemon=True).start()
        # Locust starts first (it imports for ~2 s); it runs until a little after the window ends.
        suite = start_suite(target.host, report, users=CONNECTIONS, run_time=int(WARMUP + WINDOW + 6), extra=extra)
        suite.wait_ready()
        bare = start_bare(target.host, CONNECTIONS, WARMUP + WINDOW + 2, bare_out)
        bare.wait_ready()
        pids = {"target": target.pid, "suite": suite.proc.pid, "bare": bare.proc.pid}
        window = measure(pids, WINDOW, WARMUP)
        if bare.finish() != 0:
            sys.exit(f"the bare client failed:\n{bare.output()}")
        suite_trips = finish_suite(suite, window, report).round_trips
        bare_trips = window.count(bare_per_second(bare_out))
        suite_lifetime, bare_lifetime = suite.lifetime_cpu, bare.lifetime_cpu
        stop.set()

    secs = window.seconds
    suite_cost = window.cpu["suite"] / suite_trips
    bare_cost = window.cpu["bare"] / bare_trips
    ratio = suite_cost / bare_cost
    print(
        f"1. side by side: {CONNECTIONS} suite users and {CONNECTIONS} bare asyncio connections, closed loop, no"
        f" think time, at the same time against one Daphne ({target.host}), unpinned, message 'hello' -> 'OK'"
    )
    print(
        f"   window: {secs} whole seconds after all connections were open and a {WARMUP:g} s warm-up; CPU = user+sys"
        " from /proc (psutil) at the window's edges; round trips = replies OK in those seconds"
    )
    if METRICS:
        mean = sum(scrapes) / len(scrapes) if scrapes else 0
        print(
            f"   metrics: ON (--ws-metrics-port), scraped {len(scrapes)} times, {SCRAPE_HZ:g}/s, {mean:.0f} bytes each"
        )
    else:
        print("   metrics: off (CHANLOAD_BENCH_METRICS=1 turns the Prometheus endpoint on, scraped once a second)")
    print(f"   suite (locust {CONNECTIONS} users):  {suite_trips} round trips ({suite_trips / secs:.0f}/s)")
    print("     " + cpu_line("generator", window.cpu["suite"], secs, suite_trips))
    print(f"   bare asyncio ({CONNECTIONS} connections): {bare_trips} round trips ({bare_trips / secs:.0f}/s)")
    print("     " + cpu_line("generator", window.cpu["bare"], secs, bare_trips))
    print("     " + cpu_line("target (daphne, both loads)", window.cpu["target"], secs, suite_trips + bare_trips))
    print(
        f"   whole-process CPU incl. start-up and imports (not used for the goal): suite {suite_lifetime:.2f} s,"
        f" bare {bare_lifetime:.2f} s"
    )
    print(
        f"   suite / bare CPU per round trip: {suite_cost * 1e6:.1f} / {bare_cost * 1e6:.1f} us = {ratio:.2f}x",
        flush=True,
    )
    return ratio


def _us(phase: Phase) -> float:
    return phase.window.cpu["generator"] / phase.round_trips * 1e6


def alone(tmp: Path) -> float:
    target_cpus, client_cpus = placement()
    where = "target on CPU 0, each client on CPU 1" if client_cpus else "unpinned (CHANLOAD_BENCH_PIN=0 or 1 CPU)"
    print(
        f"2. alone, in turn: {CONNECTIONS} connections each, {where}; {ROUNDS} rounds of suite then bare,"
        f" each phase a {ALONE_WINDOW} s window after a {WARMUP:g} s warm-up",
        flush=True,
    )
    ratios = []
    with Target(target_cpus) as target:
        for n in range(ROUNDS):
            kw = {"warmup": WARMUP, "window": ALONE_WINDOW, "tmp": tmp, "cpus": client_cpus}
            suite = suite_phase(target, CONNECTIONS, SUITE_EXTRA, **kw)
            bare = bare_phase(target, CONNECTIONS, **kw)
            ratios.append(_us(suite) / _us(bare))
            print(
                f"   round {n + 1}: suite {_us(suite):6.1f} us/rt ({suite.rate:5.0f}/s), bare {_us(bare):6.1f} us/rt"
                f" ({bare.rate:5.0f}/s), ratio {ratios[-1]:.2f}x",
                flush=True,
            )
    ratio = median(ratios)
    print(f"   median of {ROUNDS} rounds: {ratio:.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}x)")
    return ratio


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp:
        both = side_by_side(Path(tmp))
        apart = alone(Path(tmp))
    stricter = max(both, apart)
    goal(
        f"generator cost (suite CPU per round trip <= {GOAL_RATIO}x the bare asyncio client's, by both methods)",
        f"side by side {both:.2f}x, alone median {apart:.2f}x; stricter {stricter:.2f}x",
        stricter <= GOAL_RATIO,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
