"""Fidelity: the suite's round-trip percentiles beside an independent probe's, in the same seconds.

    make bench-fidelity        (python -m benchmarks.fidelity)

1. Capacity: the bare asyncio client (benchmarks/bare.py) drives one Daphne flat out for a few seconds.
2. Load: the suite (`locust -f loadtests/ws.py RoomUser --headless --ws-rate R`) runs open model at
   half that capacity: USERS connections, each sending `hello` R times a second at a random phase.
3. Probe: benchmarks/probe.py, its own process and connection, no Locust, no chanload, no websocket
   library, sends the same `hello` to the same route at a fixed modest rate and times each round trip
   with perf_counter. It starts before the suite and ends after it; only its samples in the wall-clock
   seconds that hold the suite's samples are kept, so both sides describe exactly the same seconds.
The suite's p50/p99 are its summary.json "WS message" row (HDR histogram of every round trip, timed
from the actual send to the reply's kernel receive stamp); the probe's are nearest-rank percentiles
of its kept samples, timed the same way by its own code.
Smooth sends: the suite runs with CHANLOAD_SEND_STAMPS (chanload.wire.stamps), so it writes every scheduled
message's intended and actual send time; the share of gaps under 50 us between consecutive actual
sends (the whole process) is compared with the same share in the intended times: what the schedule
itself implies. `--runs N` (make bench-fidelity RUNS=N) repeats the whole measurement N times, each
with its own target, and prints the distribution.
With CHANLOAD_BENCH_WIRE=1 (tcpdump installed, root) a third witness joins: the suite's own messages
on the loopback wire, request packet to reply packet (benchmarks/wire.py). It is off by default
because the capture costs CPU on the machine being measured.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    MESSAGE,
    ROUTE,
    Generator,
    Target,
    bare_phase,
    cpu_line,
    finish_suite,
    goal,
    measure,
    median,
    percentile,
    read_json,
    start_suite,
    suite_row,
)
from benchmarks.wire import Capture
from chanload.recording import types
from chanload.wire.stamps import short_gaps

USERS = 50
LOAD_FRACTION = 0.5  # of the measured capacity
RUN_TIME = 45  # seconds of suite load
PROBE_RATE = 50.0  # probe messages/s: about 4% of the load, and ~2,000 samples for its p99
IDLE_BASELINE = 3  # seconds of probe alone before the suite starts
P50_TOLERANCE, P99_TOLERANCE = 0.10, 0.25
WIRE_REQUEST, WIRE_REPLY = b"\x81\x85" + bytes(4) + b"hello", b"\x81\x02OK"  # frame sizes on the wire
PROBE_NICE = -10  # the probe is woken ahead of the suite on their shared CPU: the reference observer
SHORT_GAP = (
    50e-6  # s: requests closer than this to the previous one queue at the target (benchmarks/README.md, "fidelity")
)
GAP_TOLERANCE = 1.25  # actual short-gap share over the schedule's


def _us(value: float) -> str:
    return f"{value:.0f} us" if value < 1000 else f"{value / 1000:.2f} ms"


def run(arrivals: str = "poisson") -> tuple[float, float, float]:
    """One whole measurement (the suite's sends `arrivals`: --ws-arrivals); prints its figures; returns (p50 ratio,
    p99 ratio, short-gap ratio)."""
    pin = os.environ.get("CHANLOAD_BENCH_PIN", "1") == "1" and len(os.sched_getaffinity(0)) >= 2
    target_cpus, client_cpus = ({0}, {1}) if pin else (None, None)
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp, Target(target_cpus) as target:
        capacity = bare_phase(target, USERS, warmup=1.0, window=4, tmp=Path(tmp), cpus=client_cpus)
        rate = round(capacity.rate * LOAD_FRACTION / USERS, 2)
        print(
            f"capacity: {capacity.rate:.0f} msg/s (bare asyncio client, {USERS} connections flat out, 4 s);"
            f" load: {USERS} suite users x {rate:g} msg/s = {USERS * rate:.0f} msg/s for {RUN_TIME} s",
            flush=True,
        )
        probe_out, report = Path(tmp) / "probe.json", Path(tmp) / "suite"
        probe_argv = [sys.executable, "-m", "benchmarks.probe", target.host, "--rate", f"{PROBE_RATE:g}"]
        probe_argv += ["--seconds", str(IDLE_BASELINE + RUN_TIME + 12), "--out", str(probe_out)]
        probe = Generator(probe_argv, "READY", "probe", client_cpus, priority=PROBE_NICE if pin else 0)
        probe.wait_ready()
        probe_port = int(next(line for line in probe.lines if "READY" in line).split()[-1])
        capture, no_capture = Capture(target.port, Path(tmp) / "wire.pcap"), Capture.unavailable()
        if os.environ.get("CHANLOAD_BENCH_WIRE") != "1":
            no_capture = "off; CHANLOAD_BENCH_WIRE=1 captures the suite's packets with tcpdump (root)"
        if no_capture is None and not capture.start():
            no_capture = f"tcpdump could not capture: {capture.report}"
        try:
            time.sleep(IDLE_BASELINE)  # the probe alone first: its idle round trip, for reference
            stamps = Path(tmp) / "stamps.json"
            suite = start_suite(
                target.host,
                report,
                users=USERS,
                run_time=RUN_TIME,
                extra=["--ws-rate", f"{rate:g}", "--ws-arrivals", arrivals],
                cpus=client_cpus,
                env={"CHANLOAD_SEND_STAMPS": str(stamps)},
            )
            suite.wait_ready()
            pids = {"target": target.pid, "suite": suite.proc.pid, "probe": probe.proc.pid}
            window = measure(pids, RUN_TIME - 6, warmup=2.0)
            phase = finish_suite(suite, window, report)
        finally:
            if no_capture is None:
                capture.stop()
        wire: list[float] = []
        if no_capture is None:
            wire = sorted(capture.round_trips(len(WIRE_REQUEST), len(WIRE_REPLY), exclude={probe_port}))
        if probe.finish() != 0:
            sys.exit(f"the probe failed:\n{probe.output()}")
        samples = read_json(probe_out)["samples"]
        sends = read_json(stamps)

    summary = phase.summary
    assert summary is not None
    row = suite_row(summary)
    seconds = [p["second"] for p in summary["timeline"]["latency"] if p["kind"] == MESSAGE and p["name"] == ROUTE]
    first, last = min(seconds), max(seconds)
    kept = sorted(us for second, us, _ in samples if first <= second <= last)
    kept_returned = sorted(us for second, _, us in samples if first <= second <= last)
    before = sorted(us for second, us, _ in samples if second < first)
    if len(kept) < 100:
        sys.exit(f"the probe has only {len(kept)} samples in the suite's seconds")
    probe_p50, probe_p99 = percentile(kept, 50), percentile(kept, 99)
    r50, r99 = row["p50"] / probe_p50, row["p99"] / probe_p99
    secs = window.seconds
    if pin:
        print(
            "placement: target pinned to CPU 0; suite, probe and capacity client to CPU 1, probe at nice"
            f" {probe.priority} (CHANLOAD_BENCH_PIN=0: no pinning)"
        )
    print(
        f"suite achieved {phase.rate:.0f} msg/s over a {secs} s window"
        f" ({phase.rate / capacity.rate * 100:.0f}% of capacity); CPU over that window (user+sys, /proc):"
    )
    print("  " + cpu_line("target (daphne)", window.cpu["target"], secs, phase.round_trips))
    print("  " + cpu_line("suite (locust)", window.cpu["suite"], secs, phase.round_trips))
    print("  " + cpu_line("probe", window.cpu["probe"], secs, 0))
    idle = f"; probe alone before the load: p50 {_us(percentile(before, 50))}" if before else ""
    print(f"same seconds: {first}..{last} ({last - first + 1} s, the suite's first to last sample){idle}")
    print(f"  {'':6} {'p50':>9} {'p99':>9} {'samples':>8}")
    print(f"  {'suite':6} {_us(row['p50']):>9} {_us(row['p99']):>9} {row['count']:>8}   summary.json 'WS message'")
    print(f"  {'probe':6} {_us(probe_p50):>9} {_us(probe_p99):>9} {len(kept):>8}   raw socket, own process")
    print(
        f"  {'':6} {_us(percentile(kept_returned, 50)):>9} {_us(percentile(kept_returned, 99)):>9} {'':>8}"
        "   the probe timed to its recv() returning instead (its own wake-up included), for reference"
    )
    print(f"  {'ratio':6} {r50:>8.2f}x {r99:>8.2f}x")
    if wire:
        w50, w99 = percentile(wire, 50), percentile(wire, 99)
        print(
            f"  {'wire':6} {_us(w50):>9} {_us(w99):>9} {len(wire):>8}   tcpdump on lo: the suite's own messages,"
            f" request to reply ({capture.report}); suite/wire {row['p50'] / w50:.2f}x, {row['p99'] / w99:.2f}x"
        )
    else:
        print(f"  wire: no capture ({no_capture})")
    d50, d99 = row["p50"] - probe_p50, row["p99"] - probe_p99
    print(f"  {'diff':6} {d50:>+6.0f} us {d99:>+6.0f} us   suite minus probe")
    lag, corrected = suite_row(summary, types.SEND_LAG), suite_row(summary, types.CORRECTED)
    print(
        f"suite's own scheduling: send lag (actual minus intended send) p50 {_us(lag['p50'])}, p99 {_us(lag['p99'])};"
        f" 'WS message corrected' (from the intended send) p50 {_us(corrected['p50'])}, p99 {_us(corrected['p99'])}"
    )
    actual_short, gaps = short_gaps(sends["actual"], SHORT_GAP)
    intended_short, _ = short_gaps(sends["intended"], SHORT_GAP)
    gap_ratio = short_gap_ratio(actual_short, intended_short)
    floor = 0.5 / USERS
    floored = f" (floored at {floor:.0%}: half the schedule's step of 1/{USERS})" if intended_short < floor else ""
    print(
        f"send gaps (the suite's own stamps, {gaps} gaps between consecutive sends of the process): under"
        f" {SHORT_GAP * 1e6:.0f} us {actual_short:.2%} of the actual sends, {intended_short:.2%} of the intended"
        f" (the schedule's); ratio {gap_ratio:.2f}x{floored}",
        flush=True,
    )
    return r50, r99, gap_ratio


def short_gap_ratio(actual: float, intended: float, users: int = USERS) -> float:
    """The actual sends' share of short gaps over the schedule's.

    The schedule's share moves in steps of 1/users (the same phase gaps every period), so a schedule
    with none is read as under half a step: 0 over 0 is no failure, and 0.04% over 0% is not
    infinitely worse than the schedule.
    """
    return actual / max(intended, 0.5 / users)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="whole measurements in a row (the distribution)")
    parser.add_argument(
        "--arrivals",
        choices=("fixed", "poisson", "both"),
        default="poisson",
        help="the suite's send schedule (--ws-arrivals); both: each run measures fixed, then poisson",
    )
    args = parser.parse_args()
    runs = args.runs
    models = ("fixed", "poisson") if args.arrivals == "both" else (args.arrivals,)
    by_model: dict[str, list[tuple[float, float, float]]] = {m: [] for m in models}
    for n in range(runs):
        for model in models:
            if runs > 1 or len(models) > 1:
                print(f"--- run {n + 1} of {runs}, --ws-arrivals {model}", flush=True)
            by_model[model].append(run(model))
    for model in models[1:]:  # the first model's line is the goal line, last
        report(by_model[model], f"--ws-arrivals {model}", last=False)
    return report(by_model[models[0]], f"--ws-arrivals {models[0]}", last=True)


def report(results: list[tuple[float, float, float]], label: str, last: bool) -> int:
    """The distribution of one arrival model's runs; the GOAL line when `last`, else a line like it."""
    runs = len(results)
    show = goal if last else (lambda what, figure, passed: print(f"{what}: {figure} -> {'PASS' if passed else 'FAIL'}"))
    p50_ok = sum(1 for r50, _, _ in results if abs(r50 - 1) <= P50_TOLERANCE)
    p99_ok = sum(1 for _, r99, _ in results if abs(r99 - 1) <= P99_TOLERANCE)
    gaps_ok = sum(1 for _, _, g in results if g <= GAP_TOLERANCE)
    what = (
        f"fidelity, {label} (suite vs independent probe, same seconds: p50 within {P50_TOLERANCE:.0%}, p99 within"
        f" {P99_TOLERANCE:.0%}) and smooth sends (share of send gaps < {SHORT_GAP * 1e6:.0f} us at most"
        f" {GAP_TOLERANCE:g}x the schedule's)"
    )
    if runs == 1:
        r50, r99, g = results[0]
        show(what, f"p50 {r50:.2f}x, p99 {r99:.2f}x, short gaps {g:.2f}x", p50_ok + p99_ok + gaps_ok == 3)
        return 0
    need = math.ceil(0.9 * runs)
    for name, values in (("p50 ratio", [r[0] for r in results]), ("p99 ratio", [r[1] for r in results])):
        print(f"{label}: {name} over {runs} runs: {' '.join(f'{v:.2f}' for v in values)} (median {median(values):.2f})")
    gap_values = [r[2] for r in results]
    print(f"{label}: short-gap ratio over {runs} runs: {' '.join(f'{v:.2f}' for v in gap_values)}")
    show(
        f"{what}, in at least {need} of {runs} runs",
        f"p50 in {p50_ok}, p99 in {p99_ok}, short gaps in {gaps_ok} of {runs}",
        min(p50_ok, p99_ok, gaps_ok) >= need,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
