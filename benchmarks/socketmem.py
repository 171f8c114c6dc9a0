"""Where each KB of a held socket goes: one Locust process's RSS per idle socket, and its parts.

    python -m benchmarks.socketmem [--sockets N]        (make bench-connections runs it first)

The users are loadtests/ws.py's `IdleUser` (one message every 20-40 s), run in this process by a Locust
Environment with a local runner, against the picows echo server (benchmarks/echo.py), which holds a
socket for a fraction of Daphne's memory and CPU, so the figure is the generator's alone.

Two phases, each a fresh process (`--phase rss|parts`), each warmed with 10 users before its baseline:
1. RSS: read from /proc (psutil) before the N sockets and once all are open and idle (after a garbage
   collection); per socket = the difference / N. No tracing runs, so nothing is added to what is read.
2. Parts: the same run under tracemalloc (25 frames a trace). The growth of every traced allocation
   between the two moments is put in one part by the innermost frame that names a known owner:
   the greenlet's saved stack (a gevent switch copies the part of the C stack the greenlet used),
   Locust's user and greenlet, chanload's session and user, the websocket client and socket objects,
   and the rest. RSS not traced (the C allocator's own overhead and fragmentation, libev) is what
   phase 1's RSS leaves over phase 2's traced total.
Goal: at most GOAL_BYTES RSS per socket in phase 1.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after the monkey patch, as locust does
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "loadtests"))

SOCKETS = 3_000
WARM = 10  # users opened before the baseline: the first connections' imports and caches are not per socket
GOAL_BYTES = 20_000
# (part, substrings of the innermost frame's file that put an allocation in it), first match wins.
PARTS = (
    ("greenlet stack saved at a switch", ("gevent/hub.py",)),
    ("Locust user and its greenlet", ("/locust/", "gevent/pool.py", "gevent/greenlet")),
    ("chanload session and user", ("chanload/conversation/", "chanload/locust/", "loadtests/ws.py")),
    ("websocket client and socket", ("chanload/wire/", "/websocket/", "gevent/_socket", "/socket.py", "/ssl.py")),
)
OTHER = "other (the run's per-second statistics, caches)"


def part_of(filename: str) -> str:
    for part, marks in PARTS:
        if any(mark in filename for mark in marks):
            return part
    return OTHER


def phase(sockets: int, traced: bool) -> dict:
    """Open WARM + `sockets` idle users here against a picows echo server; what they cost."""
    from locust.env import Environment

    import gevent
    import psutil
    from ws import IdleUser

    from chanload.locust import plugin
    from chanload.locust.options import add_arguments
    from chanload.run.settings import settings_from
    from scripts.launch import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.echo", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "READY"
        host = f"ws://127.0.0.1:{port}"
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        env = Environment(user_classes=[IdleUser], host=host)
        env.create_local_runner()
        plugin.attach(env, settings_from(parser.parse_args([]), host))
        me = psutil.Process()
        fds = me.num_fds()  # each socket adds one: the open sockets are the descriptors over these
        env.runner.start(WARM, spawn_rate=WARM)
        _until_open(env, lambda: me.num_fds() - fds, WARM)
        gc.collect()
        before = me.memory_info().rss
        if traced:
            tracemalloc.start(25)
            start = tracemalloc.take_snapshot()
        env.runner.start(WARM + sockets, spawn_rate=200)
        held = _until_open(env, lambda: me.num_fds() - fds, WARM + sockets) - WARM
        gevent.sleep(2)  # every user past its connect, asleep until its first message
        gc.collect()
        rss = me.memory_info().rss - before
        found: dict = {"sockets": held, "rss": rss}
        if traced:
            parts = dict.fromkeys([p for p, _ in PARTS] + [OTHER], 0)
            for stat in tracemalloc.take_snapshot().compare_to(start, "traceback"):
                parts[part_of(stat.traceback[-1].filename)] += stat.size_diff
            tracemalloc.stop()
            found["parts"] = parts
        env.runner.quit()
        return found
    finally:
        server.kill()
        server.wait()


def _until_open(env, sockets, count: int, limit: float = 120.0) -> int:
    """Wait until `count` users run and `sockets()` reaches `count` (or `limit` s); the sockets open."""
    import gevent

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not (env.runner.user_count >= count and sockets() >= count):
        gevent.sleep(0.5)
    return min(sockets(), env.runner.user_count)


def run_phase(name: str, sockets: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.socketmem", "--phase", name, "--sockets", str(sockets)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"socketmem: the {name} phase failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    from benchmarks.common import goal

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    parser.add_argument("--phase", choices=("rss", "parts"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.sockets, traced=args.phase == "parts")), flush=True)
        return 0
    plain = run_phase("rss", args.sockets)
    traced = run_phase("parts", args.sockets)
    per = plain["rss"] / max(plain["sockets"], 1)
    print(f"{plain['sockets']} idle sockets held in one Locust process (IdleUser, against a picows echo server)")
    print(f"RSS per socket: {per / 1e3:.2f} KB ({plain['rss'] / 1e6:.1f} MB in all, no tracing)")
    print("where it goes (tracemalloc growth in a second, traced run, by the innermost frame's owner):")
    held = max(traced["sockets"], 1)
    for part, size in sorted(traced["parts"].items(), key=lambda item: -item[1]):
        print(f"  {size / held / 1e3:6.2f} KB  {part}")
    untraced = per - sum(traced["parts"].values()) / held
    print(f"  {untraced / 1e3:6.2f} KB  not traced by Python (the C allocator's overhead and fragmentation, libev)")
    goal(
        f"in-process RSS per idle socket <= {GOAL_BYTES / 1e3:.0f} KB",
        f"{per / 1e3:.2f} KB at {plain['sockets']} sockets",
        plain["sockets"] >= args.sockets and per <= GOAL_BYTES,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
