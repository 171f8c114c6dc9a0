"""The regression gate measured: how often `compare` flags runs of the same code, and how often a known slowdown.

    make bench-compare PAIRS=20        (python -m benchmarks.compare --pairs 20)

1. Two Daphne targets on free loopback ports: A as shipped, B with CHAT_REPLY_DELAY_US=D, a pause before
   each OK (a busy wait, exact to about a microsecond). D is set from a calibration run on A: SLOWDOWN
   (default 20%) of A's message p50. The injected increase is not taken on trust: the p50 ratio of each
   B run to its A run is printed, and its median.
2. PAIRS triples of runs, each `locust -f loadtests/ws.py RoomUser --headless` with the CI profile's open
   model (USERS connections at RATE messages/s each, RUN_TIME seconds; `--arrivals poisson` for Poisson
   send times, `--think LOW-HIGH` for the closed model with random think times instead): A1, A2 and B,
   in a random order per triple so that drift on the machine falls on both sides alike. Each target
   first takes a 3 s run that is not measured.
3. `chanload.reporting.compare` judges A1 -> A2 (an A/A pair: any exit code 3 is a false positive) and
   A1 -> B (power: exit code 3 is a catch), at the default tolerance (10%) and family-wise alpha (0.05).
Targets and generator are pinned to CPU 0 and CPU 1 (CHANLOAD_BENCH_PIN=0: unpinned). The runs' report
folders are kept in --keep DIR; `--reuse DIR` judges the runs of an earlier invocation again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    LOCUSTFILE,
    Generator,
    Target,
    cpu_seconds,
    goal,
    median,
    placement,
    read_json,
    suite_row,
)
from chanload.recording import hlog
from chanload.reporting import compare

MARKER = "All users spawned"


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far (/proc/stat's first line; iowait counts as idle)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run(host: str, out: Path, args: argparse.Namespace, cpus: set[int] | None, target_pid: int | None = None) -> dict:
    """One headless suite run into `out`; its summary. Beside it, `bench.json`: the CPU (in cores, averaged over
    the run) the whole machine used, the target used, the generator used, and everything else ("others")."""
    busy0, total0 = machine_busy()
    target0 = cpu_seconds(target_pid) if target_pid else 0.0
    start = time.monotonic()
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "RoomUser", "--headless", "--only-summary",
        "-u", str(args.users), "-r", str(args.users), "-t", f"{args.run_time}s", *pacing(args),
        "--host", host, "--report-dir", str(out),
    ]  # fmt: skip
    gen = Generator(argv, MARKER, "suite", cpus=cpus)
    code = gen.finish(timeout=args.run_time + 90)
    if code not in (0, 1) or not (out / "summary.json").exists():
        sys.exit(f"the suite run into {out} ended with exit code {code}; its output:\n{gen.output()}")
    wall = time.monotonic() - start
    busy1, total1 = machine_busy()
    cores = (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)
    target = (cpu_seconds(target_pid) - target0) / wall if target_pid else 0.0
    generator = gen.lifetime_cpu / wall
    figures = {"machine_cores": cores, "target_cores": target, "generator_cores": generator}
    figures["others_cores"] = max(cores - target - generator, 0.0)
    (out / "bench.json").write_text(json.dumps(figures))
    return read_json(out / "summary.json")


def pacing(args: argparse.Namespace) -> list[str]:
    """--ws-think LOW-HIGH (closed model, random gaps) when --think is given, else --ws-rate (open model, a grid)."""
    if args.think:
        return ["--ws-think", args.think]
    return ["--ws-rate", str(args.rate), "--ws-arrivals", args.arrivals]


def warm_up(host: str, keep: Path, args: argparse.Namespace, cpus: set[int] | None) -> None:
    """A short run, so that a target's first requests (Django's imports, the thread pool) fall in no measured run."""
    short = argparse.Namespace(**{**vars(args), "run_time": 3})
    run(host, keep, short, cpus)


def judge(base: Path, new: Path, gate: tuple[float, ...] = compare.GATE) -> compare.Comparison:
    return compare.compare(compare.load(base, "BASE"), compare.load(new, "NEW"), gate=gate)


def p50(folder: Path) -> int:
    return int(suite_row(read_json(folder / "summary.json"))["p50"])


def measure(args: argparse.Namespace, keep: Path) -> None:
    target_cpus, client_cpus = placement()
    with Target(target_cpus) as a:
        warm_up(a.host, keep / "warm-up-A", args, client_cpus)
        calibration = run(a.host, keep / "calibration", args, client_cpus)
        base_p50 = suite_row(calibration)["p50"]
        delay = max(int(round(args.slowdown * base_p50)), 1)
        print(
            f"calibration: A's message p50 {base_p50} us; B busy-waits {delay} us before each OK"
            f" (+{args.slowdown * 100:.0f}%)",
            flush=True,
        )
        (keep / "setup.json").write_text(
            json.dumps({"delay_us": delay, "calibration_p50": base_p50, **vars(args)}, default=str)
        )
        with Target(target_cpus, env={"CHAT_REPLY_DELAY_US": str(delay)}) as b:
            warm_up(b.host, keep / "warm-up-B", args, client_cpus)  # B's start-up fell in no run of A either
            order = random.Random(args.seed)
            for i in range(args.pairs):
                plan = [("A1", a.host), ("A2", a.host), ("B", b.host)]  # fmt: skip
                order.shuffle(plan)
                for label, host in plan:
                    run(host, keep / f"{i:02d}-{label}", args, client_cpus, (a if label != "B" else b).pid)
                print(f"triple {i + 1}/{args.pairs} done ({' '.join(label for label, _ in plan)})", flush=True)


def log_cost(folders: list[Path]) -> None:
    """latency.hlog's size per second of run, and the time to encode one of its lines (re-encoding its histograms)."""
    sizes, lines, took = [], 0, 0.0
    for folder in folders:
        summary = read_json(folder / "summary.json")
        sizes.append((folder / hlog.NAME).stat().st_size / summary["duration_s"])
        for key, intervals in hlog.read(folder / hlog.NAME).intervals.items():
            for interval in intervals:
                start = time.perf_counter()
                hlog.line(0.0, 0, key[0], key[1], interval.histogram)
                took += time.perf_counter() - start
                lines += 1
    print(
        f"latency.hlog: {median(sizes) / 1000:.1f} KB per second of run (median of {len(sizes)} runs);"
        f" {took / lines * 1e6:.0f} us to encode a line ({lines} lines), on the master or local process only"
    )


def others(folder: Path) -> str:
    """The CPU the rest of the machine used during a run (bench.json), in cores; '-' for a run without it."""
    path = folder / "bench.json"
    return f"{json.loads(path.read_text())['others_cores']:.2f}" if path.exists() else "-"


def analyse(keep: Path, pairs: int) -> None:
    setup = json.loads((keep / "setup.json").read_text())
    false_pos = caught = p50_false = p50_caught = 0
    injected = []
    print(
        f"\n{'pair':>4}  {'A/A p50':>8} {'A/A p99':>8}  {'A/A':<9}  {'B/A p50':>8} {'B/A p99':>8}  {'A/B':<9}"
        "  others' CPU in A1 A2 B (cores)"
    )
    for i in range(pairs):
        a1, a2, b = (keep / f"{i:02d}-{x}" for x in ("A1", "A2", "B"))
        aa, ab = judge(a1, a2), judge(a1, b)
        false_pos += aa.exit_code == compare.EXIT_REGRESSION
        caught += ab.exit_code == compare.EXIT_REGRESSION
        p50_false += judge(a1, a2, (50.0,)).exit_code == compare.EXIT_REGRESSION
        p50_caught += judge(a1, b, (50.0,)).exit_code == compare.EXIT_REGRESSION
        injected.append(p50(b) / p50(a1))

        def ratios(c: compare.Comparison) -> tuple[str, str]:
            row = next(r for r in c.rows if r.type == "WS message")
            return tuple(f"{j.ratio:.3f}" if j.ratio else "-" for j in (row.judgements[0], row.judgements[2]))  # type: ignore[return-value]

        def what(c: compare.Comparison) -> str:
            found = c.regressions
            return "FLAGGED" if found else "ok"

        (aa50, aa99), (ab50, ab99) = ratios(aa), ratios(ab)
        busy = " ".join(others(f) for f in (a1, a2, b))
        print(f"{i + 1:>4}  {aa50:>8} {aa99:>8}  {what(aa):<9}  {ab50:>8} {ab99:>8}  {what(ab):<9}  {busy}")
        for c, kind in ((aa, "A/A"), (ab, "A/B")):
            for row, j in c.regressions:
                print(f"      {kind}: {row.type} {row.name} p{j.pct:g} {j.ratio:.3f}x (p={j.p_slower:.2g})")
    log_cost([keep / f"{i:02d}-{x}" for i in range(pairs) for x in ("A1", "A2", "B")])
    print(
        f"\nB paused {setup['delay_us']} us per message; B/A message p50 ratio: median {median(injected):.3f},"
        f" range {min(injected):.3f}-{max(injected):.3f}"
    )
    print(f"with --gate p50 (only the median can fail a comparison): {p50_false} flagged, {p50_caught} caught")
    allowed, needed = pairs // 20, pairs - pairs // 20
    goal(
        f"A/A pairs flagged <= {allowed} of {pairs}, +{setup['slowdown'] * 100:.0f}% server pause caught >= {needed}"
        f" of {pairs}",
        f"{false_pos} flagged, {caught} caught",
        false_pos <= allowed and caught >= needed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second per connection (open model)")
    parser.add_argument("--arrivals", default="poisson", choices=("fixed", "poisson"), help="--ws-arrivals")
    parser.add_argument("--think", help="closed model instead: --ws-think LOW-HIGH seconds, e.g. 0.05-0.15")
    parser.add_argument("--run-time", type=int, default=20, help="seconds per run")
    parser.add_argument("--slowdown", type=float, default=0.20, help="B's pause as a share of A's p50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the runs' report folders here (default: a temp folder)")
    parser.add_argument("--reuse", type=Path, help="judge the runs kept in this folder again; no new runs")
    args = parser.parse_args()
    if args.reuse:
        setup = json.loads((args.reuse / "setup.json").read_text())
        analyse(args.reuse, setup["pairs"])
        return
    keep = args.keep or Path(tempfile.mkdtemp(prefix="chanload-bench-compare-"))
    keep.mkdir(parents=True, exist_ok=True)
    print(f"runs kept in {keep}", flush=True)
    measure(args, keep)
    analyse(keep, args.pairs)


if __name__ == "__main__":
    main()
