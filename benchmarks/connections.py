"""Connection capacity: one Locust worker process holds 20,000 idle websockets to the async route.

    make bench-connections COUNT=20000 TARGETS=4   (python -m benchmarks.connections [--sockets N] [--targets N])

The target is Daphne (`aroom/`, an AsyncWebsocketConsumer) on a Redis channel layer (Debian's
redis-server), as Channels is deployed; `--in-memory` uses the in-memory layer instead, which here
made one Daphne's handshakes slow down from about 2,000 sockets and fail past 4,000 (its receive
walks every channel). With `--targets N` it is N Daphne processes on Redis behind nginx. The load
is `IdleUser` (loadtests/ws.py, one message every 20-40 s per socket) from a Locust master and ONE
worker process, spawned at SPAWN_RATE per second, then held for HOLD seconds at full count. nginx runs
one worker process per 8,000 sockets (at least 2), each with its own listening socket (`reuseport`): a
worker holds two descriptors a websocket under its open-files limit.

A process holds at most its hard open-files limit (RLIMIT_NOFILE) of descriptors, sockets and its own
(OWN_FDS) together. Where that limit is below the sockets asked for, the worker is given as many as the
limit allows, and the goal line says so and fails. All connections come from 127.0.0.1: one source
address has 28,232 ephemeral ports (net.ipv4.ip_local_port_range 32768-60999) to each destination.

Measured, once a second, from /proc (psutil): the resident memory (RSS) and open descriptors of
the worker and of every target process. The master also watches what this started (`--watch` each
Daphne and nginx, `--watch-redis`): their peaks are printed, and their series are in its summary.json.
Per socket = (RSS at full count - RSS before the first socket) / sockets held; sockets held is the
suite's own open-connection count, checked against the worker's descriptors. Connect latency per
thousand and the messages at full count come from every `WS connect` and `WS message` sample the
worker fired (benchmarks/connlocust.py).
Goal: SOCKETS held, at most GOAL_BYTES generator RSS per socket.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from benchmarks.common import goal, percentile
from chanload.recording import types
from scripts import launch

ROOT = Path(__file__).resolve().parent.parent
SOCKETS = 20_000
SPAWN_RATE = 100  # sockets/s: one Daphne answers these handshakes in ~6 ms (p50); at 250/s its listen queue overflowed
HOLD = 40  # seconds at full count: every socket sends at least once (IdleUser: every 20-40 s)
GOAL_BYTES = 20_000  # generator RSS per socket (20 KB, 1 KB = 1000 bytes)
SPARE_FDS = 1_000  # descriptors a process is given besides its sockets, where the hard limit allows
OWN_FDS = 100  # descriptors a Locust worker needs besides its sockets (it uses about 30), at the least
PROXY_SOCKETS = 8_000  # websockets an nginx worker process is given (two descriptors each)
# Daphne listens with Twisted's default queue of 50 half-open connections; a scheduling hiccup of half
# a second at 100 handshakes/s overflows it and the kernel drops SYNs (1 s, 3 s retries). The
# benchmark's target is started with a queue of 1024 (Daphne's --endpoint; net.core.somaxconn caps it).
BACKLOG = 1024


def raise_open_files(need: int) -> str:
    """Raise RLIMIT_NOFILE (inherited by the processes started here) to `need`; say what was done."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return f"open-files limit {soft} (need {need})"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, min(hard, need)), max(hard, need)))
    except (ValueError, OSError):
        if hard < need:
            sys.exit(
                f"bench-connections: needs {need} open files per process, the hard limit is {hard}: "
                f"raise it (ulimit -Hn {need} as root, or LimitNOFILE= / --ulimit nofile={need}) or pass --sockets"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return f"open-files limit raised from {soft} to {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} (need {need})"


class Sampler(threading.Thread):
    """Once a second: RSS and open descriptors of named processes."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pids: dict[str, int] = {}
        self.rows: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            row: dict = {"t": time.time()}
            for name, pid in list(self.pids.items()):
                try:
                    proc = psutil.Process(pid)
                    cpu = proc.cpu_times()
                    row[name] = (proc.memory_info().rss, proc.num_fds(), cpu.user + cpu.system)
                except psutil.Error:
                    pass
            self.rows.append(row)


def locust(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "benchmarks/connlocust.py", "IdleUser", *argv],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def per_socket(
    rows: list[dict], name: str, first_at: float, held_from: float, held_until: float, held: int
) -> tuple[float, int, int]:
    """(bytes per socket, RSS just before the first socket opened, RSS at full count) of process `name`.

    RSS at full count is the highest sample while every socket was held, [held_from, held_until): not
    after, when thousands of users stopping at once (their exceptions, their close frames) briefly cost
    more than holding them did (a third more, here, at 10,000).
    """
    samples = [(r["t"], r[name][0]) for r in rows if name in r]
    earlier = [rss for t, rss in samples if t < first_at]
    # No sample before the first socket (a loaded machine started the sampler late): the earliest one.
    before = earlier[-1] if earlier else min(samples)[1]
    at_full = [rss for t, rss in samples if held_from <= t < held_until]
    full = max(at_full) if at_full else max(rss for _, rss in samples)
    return (full - before) / held, before, full


def thousands(connects: list, step: int = 1000) -> list[str]:
    lines = []
    for start in range(0, len(connects), step):
        chunk = connects[start : start + step]
        ok = sorted(s for _, s, good in chunk if good)
        if not ok:
            continue
        failed = len(chunk) - len(ok)
        lines.append(
            f"  sockets {start + 1:>6}-{start + len(chunk):<6} connect p50 {percentile(ok, 50) * 1e3:7.2f} ms"
            f"  p99 {percentile(ok, 99) * 1e3:7.2f} ms  max {ok[-1] * 1e3:7.2f} ms  failed {failed}"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    parser.add_argument("--targets", type=int, default=1, help="Daphne processes (more than 1: on Redis behind nginx)")
    parser.add_argument("--spawn-rate", type=int, default=SPAWN_RATE)
    parser.add_argument("--hold", type=int, default=HOLD)
    parser.add_argument("--in-memory", action="store_true", help="one Daphne on the in-memory layer, not Redis")
    args = parser.parse_args()
    # The worker holds every socket; nginx (--targets > 1) sets its own limit (deploy/nginx.conf).
    wanted = args.sockets
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and args.sockets + OWN_FDS > hard:
        args.sockets = hard - OWN_FDS
        print(
            f"note: the hard open-files limit is {hard} a process: one worker can hold {args.sockets} sockets "
            f"beside its own descriptors, not {wanted}; running {args.sockets} (raise ulimit -Hn for more)"
        )
    need = args.sockets + SPARE_FDS
    print(raise_open_files(need if hard == resource.RLIM_INFINITY else min(need, hard)))
    run_time = math.ceil(args.sockets / args.spawn_rate) + args.hold + 3
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        sampler = Sampler()
        if args.targets == 1:
            env = {}
            if not args.in_memory:
                env["REDIS_URL"] = stack.enter_context(launch.redis_server())
            target = launch.spawn_daphne(work, env, backlog=BACKLOG)
            stack.callback(launch.stop, target.proc, 20)
            host, targets, redis_url = f"ws://127.0.0.1:{target.port}", [target], env.get("REDIS_URL")
            watch = launch.watch_args({"daphne": target.proc.pid}, redis_url)
        else:
            workers = max(2, math.ceil(args.sockets / PROXY_SOCKETS))
            layout = stack.enter_context(
                launch.scaled(args.targets, workdir=work, proxy_workers=workers, backlog=BACKLOG)
            )
            host, targets = layout.host, layout.daphnes
            sampler.pids["nginx"] = layout.proxy.proc.pid
            named = {f"daphne-{i + 1}": t.proc.pid for i, t in enumerate(targets)}
            watch = launch.watch_args({**named, "nginx": layout.proxy.proc.pid}, layout.redis_url)
        for i, t in enumerate(targets):
            sampler.pids[f"target{i}"] = t.proc.pid
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHANLOAD_BENCH_OUT": str(work)}
        port = launch.free_port()
        master = locust(
            ["--master", "--headless", "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", str(port), "--host", host, "-u", str(args.sockets), "-r", str(args.spawn_rate),
             "-t", f"{run_time}s", "--stop-timeout", "0", "--only-summary", "--report-dir", str(work / "report"),
             *watch],
            work / "master.log", env,
        )  # fmt: skip
        stack.callback(launch.stop, master, 30)
        worker_argv = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        worker = locust(worker_argv, work / "worker.log", env)
        stack.callback(launch.stop, worker, 30)
        sampler.pids["worker"] = worker.pid
        sampler.start()
        layer = "in-memory layer" if args.in_memory and args.targets == 1 else "Redis layer"
        print(f"target: {host} ({args.targets} Daphne process{'es' if args.targets > 1 else ''}, {layer}); "
              f"{args.sockets} IdleUsers at {args.spawn_rate}/s, held {args.hold} s", flush=True)  # fmt: skip
        try:
            master.wait(run_time + 120)
            worker.wait(60)
        except subprocess.TimeoutExpired:
            print((work / "master.log").read_text()[-3000:])
            sys.exit("bench-connections: the run did not end in time")
        sampler.done.set()
        sampler.join()
        summary_path = work / "report" / "summary.json"
        if not summary_path.exists():
            print((work / "master.log").read_text()[-3000:], (work / "worker.log").read_text()[-3000:])
            sys.exit("bench-connections: the suite wrote no summary")
        summary = json.loads(summary_path.read_text())
        samples = json.loads(next(work.glob(f"{worker.pid}.json")).read_text())
        return report(summary, samples, sampler.rows, args, [f"target{i}" for i in range(len(targets))], wanted)


def watched_peaks(summary: dict) -> list[str]:
    """The peaks of what the master watched (--watch, --watch-redis), from summary.json's `resources`."""
    found = summary.get("resources") or {}
    lines = []
    for name, source in sorted((found.get("processes") or {}).items()):
        peak = source.get("peak") or {}
        lines.append(
            f"watched {name}: peak CPU {peak.get('cpu', 0) * 100:.0f}% of one core, "
            f"{peak.get('fds', 0):.0f} descriptors ({peak.get('fd_ratio', 0) * 100:.1f}% of its limit), "
            f"{peak.get('tcp_established', 0):.0f} established"
        )
    for name, source in sorted((found.get("redis") or {}).items()):
        peak = source.get("peak") or {}
        lines.append(
            f"watched {name}: peak {peak.get('ops_per_second', 0):.0f} ops/s, CPU "
            f"{peak.get('cpu', 0) * 100:.0f}% of one core, {peak.get('queued_total', 0):.0f} queued"
        )
    return lines


def report(summary: dict, samples: dict, rows: list[dict], args, target_names: list[str], wanted: int) -> int:
    gauges = summary["timeline"]["connections"]
    held = max((g["open"] for g in gauges), default=0)
    full_at = min((g["second"] for g in gauges if g["open"] >= held), default=0)
    held_until = max((g["second"] for g in gauges if g["open"] >= held), default=0) + 1  # the stop begins
    first_at = min((g["second"] for g in gauges if g["open"] > 0), default=0)
    worker_fds = [(r["t"], r["worker"][1]) for r in rows if "worker" in r]
    fds = [n for t, n in worker_fds if t < first_at]
    if not fds:  # no sample before the first socket opened (a loaded machine started the sampler late)
        print("note: no descriptor sample before the first socket: growth counted from the first sample")
        fds = [min(worker_fds)[1]] if worker_fds else [0]
    fd_held = max((n for _, n in worker_fds), default=fds[-1]) - fds[-1]
    connects = samples[types.CONNECT]
    print(f"sockets held: {held} (suite's open-connection count); worker descriptors grew by {fd_held}")
    print(f"connects: {sum(ok for *_, ok in connects)} ok, {sum(not ok for *_, ok in connects)} failed")
    print("connect latency per thousand sockets (in the order they opened):")
    print("\n".join(thousands(connects)))
    gen_per, gen_before, gen_full = per_socket(rows, "worker", first_at, full_at, held_until, max(held, 1))
    print(f"generator (the worker process) RSS: {gen_before / 1e6:.1f} MB before, {gen_full / 1e6:.1f} MB at "
          f"{held} sockets: {gen_per / 1e3:.1f} KB per socket")  # fmt: skip
    stopping = [r["worker"][0] for r in rows if "worker" in r and r["t"] >= held_until]
    if stopping:
        print(f"generator RSS while the users stopped (not counted): up to {max(stopping) / 1e6:.1f} MB")
    target_total = 0.0
    for name in target_names:
        per, before, full = per_socket(rows, name, first_at, full_at, held_until, max(held, 1))
        target_total += full - before
        print(f"target {name} RSS: {before / 1e6:.1f} MB before, {full / 1e6:.1f} MB at full count")
    print(f"target RSS per socket (all target processes): {target_total / max(held, 1) / 1e3:.1f} KB")
    if any("nginx" in r for r in rows):
        per, before, full = per_socket(rows, "nginx", first_at, full_at, held_until, max(held, 1))
        print(f"nginx master process RSS: {before / 1e6:.1f} -> {full / 1e6:.1f} MB (its workers are not counted)")
    ramp = [r for r in rows if first_at - 1 <= r["t"] <= full_at + 1]
    if len(ramp) >= 2:
        span = ramp[-1]["t"] - ramp[0]["t"]
        busy = {
            name: (ramp[-1][name][2] - ramp[0][name][2]) / span * 100
            for name in ramp[-1]
            if name != "t" and name in ramp[0]
        }
        print("CPU during the ramp (% of one core): " + ", ".join(f"{n} {v:.0f}%" for n, v in sorted(busy.items())))
    print("\n".join(watched_peaks(summary)))
    at_full = sorted(s for t, s, ok in samples[types.MESSAGE] if ok and full_at <= t < held_until)
    failed = sum(1 for t, _, ok in samples[types.MESSAGE] if not ok and full_at <= t < held_until)
    if at_full:
        timeout = summary["parameters"]["reply_timeout"]
        print(f"messages at full count ({held} sockets): {len(at_full)} answered OK, {failed} failed "
              f"(reply timeout {timeout:g} s); p50 {percentile(at_full, 50) * 1e3:.2f} ms, "
              f"p99 {percentile(at_full, 99) * 1e3:.2f} ms, max {at_full[-1] * 1e3:.2f} ms")  # fmt: skip
    else:
        print("messages at full count: none were sent")
    # The goal is the sockets and the generator's memory; the messages are reported beside it.
    passed = held >= wanted and gen_per <= GOAL_BYTES
    capped = f"; {args.sockets} asked of the worker, as its open-files limit allows" if args.sockets < wanted else ""
    goal(
        f"{wanted} sockets held at <= {GOAL_BYTES / 1e3:.0f} KB generator RSS per socket",
        f"{held} held, {gen_per / 1e3:.1f} KB per socket "
        f"({len(at_full)} messages answered, {failed} failed at full count{capped})",
        passed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
