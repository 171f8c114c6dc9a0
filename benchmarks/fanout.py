"""Fan-out: one Locust worker holds a room of 1,000 members and accounts every delivery, beside an independent receiver.

    make bench-fanout        (python -m benchmarks.fanout [--server channels|picows|both] [--rates 5,10,20])

The room: MEMBERS websockets from ONE Locust worker process (and its master), all in one room
(benchmarks/fanlocust.py): SENDERS of them send marked messages (the suite's `BroadcastUser`, `{mark}` =
sender, number, send time) at a stated TOTAL rate, the rest only listen; every member reads each frame
as it arrives and records other members' marks as deliveries (`WS delivery`, latency from the mark's
send time to the kernel's arrival stamp). Each message is owed to MEMBERS - 1 suite members.

Two broadcasters, in turn (`--server both`, the default):
- `channels`: the ASYNC broadcast route `achat/<group>` (AsyncBroadcastConsumer) on 2 Daphne processes
  sharing a Redis channel layer behind nginx (scripts/launch.py's scaled layout, deploy/nginx.conf);
  the master watches every Daphne, nginx and Redis (`--watch`, `--watch-redis`).
- `picows`: benchmarks/fanout_server.py, one picows/uvloop process that fans out itself: what the
  generator reaches when the broadcaster is not what gives out.

Beside the suite, an independent receiver in the same room (benchmarks/fanprobe.py: raw sockets in a
process of its own, no suite code) holds PROBE_SOCKETS members. The benchmark opens each one as the
suite's member count passes the middle of another slice of the room, so they sit at evenly spread places
in the broadcaster's fan-out order (joining order: a member's delivery latency depends on its place, so a
probe member that joined last would see the slowest of each fan-out). It stamps each frame with the
kernel's receive time (SO_TIMESTAMPNS, as the suite does) and with its own time.time_ns() on reading;
both CLOCK_REALTIME, the clock of the marks' send times.

Once every member is connected, the benchmark writes the senders' plan: at each total rate, STEP seconds
of sending, then GAP seconds of quiet, so that a step's deliveries still in flight land in its own window.
A step's window is those STEP + GAP whole wall-clock seconds. Over it:
- deliveries: the suite's `WS delivery` count per second (summary.json's timeline), summed; deliveries/s
  = that over the STEP sending seconds. Sent: the senders' answered `WS message` count. The suite
  accounted every delivery when it counted exactly sent x (MEMBERS - 1) and the probe got exactly sent x
  its members (the broadcaster dropped none; when it drops, the probe cannot tell which members lost what);
- latency p50/p99: the suite's, from latency.hlog's per-second histograms merged over the window, beside
  the probe's over the same seconds;
- CPU (user + system, psutil at the edges): the worker's per delivery over the window, and its % of one
  core over the sending seconds; each target process's (Daphne, nginx, Redis, or the picows server), the
  master's, the probe's, and the whole machine's busy share (anything else running counts there).

A step holds fidelity when every delivery is accounted (above), the suite's delivery p50 is within 10% of
the probe's, and the worker used under 95% of a core. The highest such step is reported per broadcaster.
Goal (issue 21): GOAL_RATE deliveries/s accounted by the one worker within one core with fidelity held,
at some step against either broadcaster; where the Channels target gives out first, the picows figure is
the generator's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.common import cpu_seconds, goal, percentile, read_json
from chanload.recording import hlog, types
from chanload.recording.latency import metric_name
from scripts import launch

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 1000
SENDERS = 10
# Total messages/s per step, x (MEMBERS - 1) deliveries/s. Channels gave out here from 5-10 msg/s: its steps
# start lower; the picows broadcaster's go on to twice the goal, with 21 msg/s the first over it (20,979/s).
RATES = {"channels": (2, 5, 10, 20), "picows": (5, 10, 21, 30, 40)}
STEP = 10  # seconds of sending per rate: each sender's share x STEP is a whole number of messages
GAP = 3  # seconds of quiet after each step: its deliveries still in flight land in its window, not the next's
SPAWN_RATE = 100  # sockets/s (nginx -> Daphne's listen queue of 50; benchmarks/connections.py)
PROBE_SOCKETS = 25
ROUTE = "achat/{group}"
NAME = "achat/[group]"  # the suite's row name for the route
GOAL_RATE = 20_000
FIDELITY = 0.10  # suite p50 within 10% of the probe's
SATURATED = 0.95  # of one core
CONNECT_WAIT = 90  # seconds beyond the ramp for every member to be connected


@dataclass
class Step:
    rate: float
    first: int
    send_end: int  # the senders send in [first, send_end); the window is [first, end), the gap included
    end: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds over the whole window
    cpu_send: dict[str, float] = field(default_factory=dict)  # over the sending seconds
    machine: float = 0.0  # busy CPU seconds of the whole machine (all cores) over the sending seconds
    sent: int = 0
    deliveries: int = 0
    probe_frames: int = 0
    suite_p50: float = 0.0
    suite_p99: float = 0.0
    probe_p50: float = 0.0  # to the kernel's receive stamp, as the suite's
    probe_p99: float = 0.0
    probe_user_p50: float = 0.0  # to the probe's own time.time_ns() on reading
    expected: float = 0.0  # from the probe

    @property
    def seconds(self) -> int:
        """The sending seconds: rates and loads are per them."""
        return self.send_end - self.first

    @property
    def per_second(self) -> float:
        return self.deliveries / self.seconds

    def ratio(self, members: int) -> float:
        offered = self.sent * (members - 1)
        return self.deliveries / offered if offered else 0.0

    @property
    def accounted(self) -> float:
        return self.deliveries / self.expected if self.expected else 0.0

    @property
    def worker_load(self) -> float:
        return self.cpu_send.get("worker", 0.0) / self.seconds

    @property
    def p50_error(self) -> float:
        return (self.suite_p50 - self.probe_p50) / self.probe_p50 if self.probe_p50 else math.inf

    def probe_ratio(self, sockets: int) -> float:
        """What the probe's members got of what was sent in the window: below 1, the broadcaster dropped some."""
        return self.probe_frames / (self.sent * sockets) if self.sent and sockets else 0.0

    def held(self, sockets: int, members: int) -> bool:
        """Fidelity held: the probe got every message sent, and the suite counted every one at each of its other
        members, exactly (a broadcaster that dropped some cannot be checked so: the probe's few members cannot say
        which members a drop hit); p50 within 10% of the probe's; the worker not saturated."""
        return (
            self.sent > 0
            and self.probe_frames == self.sent * sockets
            and self.deliveries == self.sent * (members - 1)
            and abs(self.p50_error) <= FIDELITY
            and self.worker_load < SATURATED
        )


def locust(argv: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "benchmarks/fanlocust.py", "Sender", "Member", *argv],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def established(pid: int, port: int) -> int:
    """TCP connections of process `pid` to 127.0.0.1:`port` that are established."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return 0
    return sum(1 for c in conns if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores: not idle, not waiting for I/O)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def cpu_all(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = cpu_seconds(pid)
        except psutil.Error:
            out[name] = 0.0
    return out


def run_server(server: str, args, work: Path) -> tuple[list[Step], dict, dict]:
    """One broadcaster: start it, the room, the probe; the steps; (steps, summary, probe data)."""
    work.mkdir(parents=True, exist_ok=True)
    ramp = args.members / args.spawn_rate
    rates = args.rates or RATES[server]
    with ExitStack() as stack:
        pids: dict[str, int] = {}
        watch: list[str] = []
        if server == "channels":
            layout = stack.enter_context(launch.scaled(args.targets, workdir=work))
            host, port = layout.host, layout.proxy.port
            named = {f"daphne-{i + 1}": d.proc.pid for i, d in enumerate(layout.daphnes)}
            watch = launch.watch_args({**named, "nginx": layout.proxy.proc.pid}, layout.redis_url)
            pids.update(named)
            pids.update({f"nginx-{i}": c.pid for i, c in enumerate(psutil.Process(layout.proxy.proc.pid).children())})
            for child in psutil.Process().children():  # redis-server is started by this process
                if "redis" in child.name():
                    pids["redis"] = child.pid
        else:
            port = launch.free_port()
            fan = subprocess.Popen([sys.executable, "-m", "benchmarks.fanout_server", str(port)], cwd=ROOT,
                                   stdout=subprocess.PIPE)  # fmt: skip
            stack.callback(launch.stop, fan, 10)
            launch.wait_for_port(port, fan, 20)
            host = f"ws://127.0.0.1:{port}"
            pids["picows-server"] = fan.pid
        plan = work / "plan.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FANOUT_PLAN": str(plan), "FANOUT_SENDERS": str(args.senders),
               "FANOUT_ROUTE": ROUTE}  # fmt: skip
        total = len(rates) * (args.step + args.gap)
        run_time = math.ceil(ramp + CONNECT_WAIT + total + 30)  # an upper bound: it is stopped after the steps
        master_port = launch.free_port()
        report = work / "report"
        master = locust(
            ["--master", "--headless", "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", str(master_port), "--host", host, "-u", str(args.members), "-r",
             str(args.spawn_rate), "-t", f"{run_time}s", "--stop-timeout", "0", "--only-summary",
             "--report-dir", str(report), "--ws-png-charts", "off", *watch],
            work / "master.log", env,
        )  # fmt: skip
        stack.callback(launch.stop, master, 60)
        worker = locust(["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)],
                        work / "worker.log", env)  # fmt: skip
        stack.callback(launch.stop, worker, 60)
        pids["worker"] = worker.pid
        probe_out = work / "probe.json"
        url = f"{host}/{ROUTE.replace('{group}', 'fan')}"
        probe_seconds = ramp + CONNECT_WAIT + total + 10
        probe = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fanprobe", url, "--seconds", f"{probe_seconds:.0f}", "--out",
             str(probe_out)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        stack.callback(launch.stop, probe, 10)
        pids["master"], pids["probe"] = master.pid, probe.pid
        print(f"{server}: {host}/{ROUTE}: {args.members} suite members ({args.senders} senders) at "
              f"{args.spawn_rate}/s, {args.probe_sockets} probe members", flush=True)  # fmt: skip
        deadline = time.monotonic() + ramp + CONNECT_WAIT
        held = asked = 0
        assert probe.stdin is not None
        while time.monotonic() < deadline:
            held = established(worker.pid, port)
            # The probe's k-th member joins once the suite's count passes the middle of the k-th slice of the room.
            while asked < args.probe_sockets and held >= (asked + 0.5) * args.members / args.probe_sockets:
                probe.stdin.write("open\n")
                probe.stdin.flush()
                asked += 1
            if held >= args.members and asked >= args.probe_sockets:
                break
            if master.poll() is not None or worker.poll() is not None:
                break
            time.sleep(0.05)
        while time.monotonic() < deadline and established(probe.pid, port) < args.probe_sockets:
            time.sleep(0.2)
        if held < args.members:
            print((work / "master.log").read_text()[-3000:], (work / "worker.log").read_text()[-3000:])
            sys.exit(f"bench-fanout: only {held} of {args.members} members connected to {server}")
        start = int(time.time()) + 2
        plan.write_text(json.dumps({"start": start, "step": args.step, "gap": args.gap, "rates": list(rates)}))
        steps = []
        for i, rate in enumerate(rates):
            first = start + i * (args.step + args.gap)
            send_end, end = first + args.step, first + args.step + args.gap
            sleep_until(first)
            before, busy = cpu_all(pids), machine_busy()
            sleep_until(send_end)
            sent, busy = cpu_all(pids), machine_busy() - busy
            sleep_until(end)
            after = cpu_all(pids)
            cpu = {n: after[n] - before[n] for n in pids}
            steps.append(Step(rate, first, send_end, end, cpu, {n: sent[n] - before[n] for n in pids}, busy))
        time.sleep(5)  # the worker reports every 3 s: the last window's counts reach the master
        probe.terminate()  # it writes its frames and exits
        master.terminate()  # the end of the run: the summary and latency.hlog are written
        try:
            master.wait(120)
            worker.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            probe.wait(probe_seconds + 30)
        except subprocess.TimeoutExpired:
            pass
    path = report / "summary.json"
    if not path.exists():
        print((work / "master.log").read_text()[-3000:], (work / "worker.log").read_text()[-3000:])
        sys.exit(f"bench-fanout: the suite wrote no summary ({server})")
    summary = read_json(path)
    data = read_json(probe_out) if probe_out.exists() else {"sockets": 0, "errors": ["no output"], "frames": []}
    fill(steps, summary, hlog.read(report / hlog.NAME), data, args.members)
    return steps, summary, data


def fill(steps: list[Step], summary: dict, log: hlog.Log, probe: dict, members: int) -> None:
    """Each step's counts and percentiles, suite and probe, over its window."""
    per_second: dict[tuple[str, int], int] = {}
    for point in summary["timeline"]["latency"]:
        if point["name"] == NAME:
            key = (point["kind"], point["second"])
            per_second[key] = per_second.get(key, 0) + point["count"]
    intervals = log.intervals.get((metric_name(types.DELIVERY), NAME), [])
    sockets = max(1, probe["sockets"])
    for step in steps:
        seconds = range(step.first, step.end)
        step.sent = sum(per_second.get((types.MESSAGE, s), 0) for s in seconds)
        step.deliveries = sum(per_second.get((types.DELIVERY, s), 0) for s in seconds)
        merged = None
        for interval in intervals:
            second = round((log.start or 0) + interval.offset)
            if step.first <= second < step.end:
                h = interval.histogram
                if merged is None:
                    merged = h
                else:
                    merged.add(h)
        if merged is not None and merged.get_total_count():
            step.suite_p50 = merged.get_value_at_percentile(50)
            step.suite_p99 = merged.get_value_at_percentile(99)
        window = [(kernel, user, sent) for _, kernel, user, _, _, sent in probe["frames"]
                  if step.first * 10**9 <= kernel < step.end * 10**9]  # fmt: skip
        step.probe_frames = len(window)
        step.expected = len(window) / sockets * (members - 1)
        if window:
            lat = sorted((kernel - sent) / 1000 for kernel, _, sent in window)
            step.probe_p50, step.probe_p99 = percentile(lat, 50), percentile(lat, 99)
            step.probe_user_p50 = percentile(sorted((user - sent) / 1000 for _, user, sent in window), 50)


def ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


TARGET_PREFIXES = ("daphne", "nginx", "redis", "picows")
# A broadcaster whose delivery p50 grows past this many times the first step's is queueing messages: the first
# step's p50 is the time one fan-out takes (for Channels here, ~0.25 ms per member of a Daphne process, in turn).
QUEUEING = 2.0


def gave_out(step: Step, first: Step, sockets: int) -> str:
    """Where the broadcaster gave out at this step (what the figures show), or '' if it kept up."""
    dropped = step.probe_frames < step.sent * sockets
    slow = step is not first and step.probe_p50 > QUEUEING * first.probe_p50
    if not dropped and not slow:
        return ""
    what = []
    if dropped:
        what.append(f"the probe's members got {step.probe_ratio(sockets) * 100:.1f}% of what was sent")
    if slow:
        what.append(
            f"delivery p50 {ms(step.probe_p50)}, {step.probe_p50 / first.probe_p50:.1f}x the first step's: "
            "messages queue"
        )
    cores = os.cpu_count() or 1
    busy = step.machine / step.seconds / cores
    loads = {n: v / step.seconds for n, v in step.cpu_send.items() if n.startswith(TARGET_PREFIXES)}
    top = max(loads, key=loads.__getitem__) if loads else ""
    if busy >= 0.9:
        where = f"the machine's CPU: all {cores} cores {busy * 100:.0f}% busy (target, generator and probe share them)"
    elif top and loads[top] >= 0.9:
        where = f"{top}'s CPU ({loads[top] * 100:.0f}% of a core)"
    else:
        where = f"no process at a full core (busiest {top} {loads.get(top, 0) * 100:.0f}%, machine {busy * 100:.0f}%)"
    if dropped and any(n.startswith("daphne") for n in loads):
        where += (
            "; the drops are the Redis layer's capacity: channels_redis queues a group message once per Daphne "
            "process, and drops it for that whole process when its queue holds CHANNEL_CAPACITY (100) already"
        )
    return f"{'; '.join(what)}: {where}"


def report(server: str, steps: list[Step], summary: dict, probe: dict, members: int) -> Step | None:
    counters = summary["counters"]
    delivery = (summary.get("delivery") or {}).get("total") or {}
    sockets = probe["sockets"]
    cores = os.cpu_count() or 1
    print(f"\n{server}: probe {sockets} members, errors: {'; '.join(probe['errors']) or 'none'}")
    print(f"  suite counters: messages sent {counters['sent']}, ok {counters['ok']}, failed {counters['failed']}, "
          f"connects {counters['connects']}, connect failures {counters['connect_failures']}, other frames "
          f"{counters.get('other_frames', 0)}")  # fmt: skip
    print(f"  suite delivery (whole run, its own books): delivered {delivery.get('delivered')} of expected "
          f"{delivery.get('expected')}, missing {delivery.get('missing')} (of which tail {delivery.get('tail')}), "
          f"duplicated {delivery.get('duplicated')}, reordered {delivery.get('reordered')}")  # fmt: skip
    best = None
    for step in steps:
        targets = ", ".join(
            f"{n} {v / step.seconds * 100:.0f}%"
            for n, v in sorted(step.cpu_send.items())
            if n.startswith(TARGET_PREFIXES)
        )
        worker_us = step.cpu.get("worker", 0.0) / step.deliveries * 1e6 if step.deliveries else 0.0
        held = step.held(sockets, members)
        print(
            f"  {step.rate:g} msg/s x {members - 1} members ({step.seconds} s + {step.end - step.send_end} s quiet): "
            f"{step.per_second:,.0f} deliveries/s; suite counted {step.deliveries} of sent {step.sent} x {members - 1}"
            f" = {step.sent * (members - 1)} (ratio {step.ratio(members):.4f}); probe got {step.probe_frames} of "
            f"{step.sent * sockets}; suite per member / probe's per member: {step.accounted:.4f}\n"
            f"      delivery p50 suite {ms(step.suite_p50)}, probe {ms(step.probe_p50)} ({step.p50_error * 100:+.1f}%);"
            f" p99 suite {ms(step.suite_p99)}, probe {ms(step.probe_p99)} (probe p50 to its own read: "
            f"{ms(step.probe_user_p50)})\n"
            f"      worker CPU {step.worker_load * 100:.0f}% of a core, {worker_us:.1f} us per delivery; target CPU: "
            f"{targets}; master {step.cpu_send.get('master', 0) / step.seconds * 100:.0f}%, probe "
            f"{step.cpu_send.get('probe', 0) / step.seconds * 100:.0f}%; machine "
            f"{step.machine / step.seconds / cores * 100:.0f}% of {cores} cores; "
            f"fidelity {'held' if held else 'NOT held'}"
        )
        where = gave_out(step, steps[0], sockets)
        if where:
            print(f"      the broadcaster gave out: {where}")
        if held and (best is None or step.per_second > best.per_second):
            best = step
    if best is not None:
        print(f"  {server}: highest total rate with every delivery accounted and fidelity held: {best.rate:g} msg/s "
              f"({best.per_second:,.0f} deliveries/s, worker {best.worker_load * 100:.0f}% of a core)")  # fmt: skip
    else:
        print(f"  {server}: fidelity held at no step")
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("channels", "picows", "both"), default="both")
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--senders", type=int, default=SENDERS)
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=None,
        help="total messages/s per step, comma-separated (default: channels "
        f"{','.join(map(str, RATES['channels']))}, picows {','.join(map(str, RATES['picows']))})",
    )
    parser.add_argument("--step", type=int, default=STEP)
    parser.add_argument("--gap", type=int, default=GAP, help="seconds of quiet after each step")
    parser.add_argument("--spawn-rate", type=int, default=SPAWN_RATE)
    parser.add_argument("--targets", type=int, default=2, help="Daphne processes behind nginx (channels)")
    parser.add_argument("--probe-sockets", type=int, default=PROBE_SOCKETS)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs", flush=True)
    servers = ["channels", "picows"] if args.server == "both" else [args.server]
    best: dict[str, Step | None] = {}
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp:
        for server in servers:
            steps, summary, probe = run_server(server, args, Path(tmp) / server)
            best[server] = report(server, steps, summary, probe, args.members)
    top = max((s.per_second for s in best.values() if s is not None), default=0.0)
    figure = "; ".join(
        f"{server} {s.per_second:,.0f}/s at {s.rate:g} msg/s ({s.worker_load * 100:.0f}% of a core)"
        if s is not None
        else f"{server}: none held"
        for server, s in best.items()
    )
    goal(f"{GOAL_RATE:,} deliveries/s accounted by one worker within one core, fidelity held", figure, top >= GOAL_RATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
