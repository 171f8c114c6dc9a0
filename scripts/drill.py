"""A restart drill on the scaled stack: 2 Daphne on Redis behind nginx, ChatUsers in 10 rooms, one Daphne stopped
with SIGTERM and started again on its port by chanload's own `--drill`s, then the recovery printed (docs/restarts.md).

    python scripts/drill.py [--reconnect backoff:0.5-30] [--users 50] [--time 30] [--stop-at 10] [--start-at 15|none]
                            [--watch] [--report-dir reports/drill] [-- LOCUST ARGS...]

The times are seconds into the run. The run is given two drills, `--drill 'STOP_ATs kill -TERM PID'` and, unless
`--start-at none` (the herd: the other Daphne takes every member), `--drill 'START_ATs <start daphne-1 again>'`
(scripts/launch.py's restart_command: it returns once the new Daphne listens). `--watch` watches both Daphne
processes (`--watch daphne-1=PID --watch daphne-2=PID`): their CPU each second, printed beside the handshakes
around the stop. The Daphne a drill started is stopped when the run ends, as is the rest of the stack. Exit code:
locust's.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Run as a file: the repo root, for scripts.*, and loadtests/, for this checkout's chanload.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chanload.recording import hlog
from chanload.recording.latency import new_histogram
from chanload.reporting.summary import started_epoch
from scripts import launch

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 10  # seconds from the stop's own second: "after the stop"
BEFORE = 5  # seconds before the stop's second: "before the stop" (short: the users' own first connects stay out)
EXCERPT = (-2, 8)  # the per-second excerpt, in seconds from the stop's second


def report(summary: dict) -> list[str]:
    """The drill's figures, as printed."""
    c = summary["counters"]
    lines = [f"drops: {c.get('drops') or 'none'}; attempts failed: {c.get('attempts_failed') or 'none'}"]
    if c.get("stayed_down"):
        lines.append(f"stayed down: {c['stayed_down']}")
    rows = [r for r in summary["latency"] if r["type"] == "WS reconnect"]
    for r in rows:
        lines.append(
            f"WS reconnect: {r['count']} in {c.get('reconnect_attempts', 0)} attempts, p50 {r['p50'] / 1e3:.0f} ms,"
            f" p99 {r['p99'] / 1e3:.0f} ms, max {r['max'] / 1e3:.0f} ms"
        )
    for d in (summary.get("recovery") or {}).get("drills", []):
        lines.append(
            f"recovery: {d['recovery_s']} s (users back {d['users_back_s']} s, latency back "
            f"{d['latency_back_s']} s by {d['criterion']}), {d['failed_messages']} messages failed"
            f" [the drill at {d['at']:g} s: {d.get('command')}]"
        )
    total = (summary.get("delivery") or {}).get("total") or {}
    lines.append(f"delivery: missing while connected {total.get('missing')}, missed while away {total.get('away')}")
    return lines


def drill_lines(summary: dict, pid: int, port: int) -> list[str]:
    """What each drill did, from summary.json's `drills`."""
    lines = []
    for d in summary.get("drills") or []:
        what = (
            f"SIGTERM to daphne-1 (pid {pid})"
            if d["command"].startswith("kill -TERM")
            else (f"daphne-1 started again on port {port}")
        )
        if d.get("started") is None:
            lines.append(f"drill: {what}: not run (the run ended first)")
        else:
            lines.append(
                f"drill: {what}: ran at {d['started']:.1f} s for {d['seconds']:.2f} s, {d['outcome']}"
                f" (exit code {d['exit_code']})"
            )
    return lines


def herd(summary: dict, log: hlog.Log | None) -> dict | None:
    """The handshakes around the stop (the first drill): in the WINDOW s from its second, and in the BEFORE s before.

    Per window, from the run's latency.hlog (every `WS connect` name merged, exact percentiles): the handshakes and
    their p99; from the per-second timeline: the peak handshakes in a second, and each watched process's peak CPU
    (share of one core). `seconds`: the excerpt, one row a second. None without a drill that ran.
    """
    started = started_epoch(summary)
    ran = [d for d in summary.get("drills") or [] if d.get("started") is not None]
    if started is None or not ran:
        return None
    stop = int(started + ran[0]["started"])  # the stop's wall-clock second
    timeline = summary.get("timeline") or {}
    per: dict[int, dict] = {}
    for p in timeline.get("latency") or []:
        row = per.setdefault(int(p["second"]), {"handshakes": 0, "p99_ms": 0.0, "reconnects": 0})
        if p["kind"] == "WS connect":
            row["handshakes"] += p["count"]
            row["p99_ms"] = max(row["p99_ms"], p["p99"] / 1e3 if p["count"] else 0.0)
        elif p["kind"] == "WS reconnect":
            row["reconnects"] += p["count"]
    for c in timeline.get("connections") or []:
        per.setdefault(int(c["second"]), {"handshakes": 0, "p99_ms": 0.0, "reconnects": 0})["open"] = c["open"]
    cpu: dict[str, dict[int, float]] = {}
    resources = summary.get("resources") or {}
    for group in ("processes", "generator"):
        for name, source in (resources.get(group) or {}).items():
            cpu[name] = {int(s["second"]): s["cpu"] for s in source.get("series") or [] if "cpu" in s}
    out: dict = {"stop_second": stop}
    for label, seconds in (("before", range(stop - BEFORE, stop)), ("after", range(stop, stop + WINDOW))):
        merged = count = None
        if log is not None and log.start is not None:
            merged = new_histogram()
            for (metric, _name), intervals in log.intervals.items():
                for i in intervals:
                    if metric == "connect" and int(log.start + i.offset) in seconds:
                        merged.add(i.histogram)
            count = merged.get_total_count()
        out[label] = {
            "seconds": len(seconds),
            "handshakes": count,
            "handshake_p99_ms": merged.get_value_at_percentile(99) / 1e3 if count else None,
            "peak_handshakes_per_s": max((per.get(s, {}).get("handshakes", 0) for s in seconds), default=0),
            "peak_cpu": {name: max((v for s, v in series.items() if s in seconds), default=None)
                         for name, series in cpu.items()},
        }  # fmt: skip
    out["seconds"] = [
        {"t": s - stop, **per.get(s, {}), **{f"cpu {name}": series.get(s) for name, series in cpu.items()}}
        for s in range(stop + EXCERPT[0], stop + EXCERPT[1] + 1)
    ]
    return out


def herd_lines(figures: dict | None) -> list[str]:
    """The herd's figures, as printed: the two windows, then one line a second (t = seconds from the stop's)."""
    if figures is None:
        return []
    lines = []
    for label in ("before", "after"):
        w = figures[label]
        p99 = "-" if w["handshake_p99_ms"] is None else f"{w['handshake_p99_ms']:.0f} ms"
        cpu = ", ".join(f"{name} {v * 100:.0f}%" for name, v in w["peak_cpu"].items() if v is not None) or "-"
        lines.append(
            f"handshakes {label} the stop ({w['seconds']} s): {w['handshakes']}, p99 {p99}, peak"
            f" {w['peak_handshakes_per_s']}/s; peak CPU (of a core): {cpu}"
        )
    names = [k for k in figures["seconds"][0] if k.startswith("cpu ")]
    lines.append("t  open  handshakes/s  handshake p99  reconnects  " + "  ".join(names))
    for row in figures["seconds"]:
        cells = [f"{row['t']:+d}", str(row.get("open", "-")), str(row.get("handshakes", 0)),
                 f"{row.get('p99_ms', 0.0):.0f} ms", str(row.get("reconnects", 0))]  # fmt: skip
        cells += ["-" if row[k] is None else f"{row[k] * 100:.0f}%" for k in names]
        lines.append("  ".join(cells))
    return lines


def main(argv: list[str]) -> int:
    own, _, extra = _split(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reconnect", default="backoff:0.5-30")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--time", type=float, default=30.0)
    parser.add_argument("--stop-at", type=float, default=10.0)
    parser.add_argument("--start-at", type=_start_at, default=15.0, help="seconds, or none: not started again")
    parser.add_argument("--watch", action="store_true", help="watch both Daphne processes (their CPU each second)")
    parser.add_argument("--report-dir", default="reports/drill")
    args = parser.parse_args(own)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the stack and a restarted Daphne are stopped
    with launch.scaled(2) as stack, tempfile.TemporaryDirectory() as tmp:
        pidfile = Path(tmp) / "restarted"
        old = stack.daphnes[0]
        drills = ["--drill", f"{args.stop_at:g}s kill -TERM {old.proc.pid}"]
        if args.start_at is not None:
            drills += ["--drill", f"{args.start_at:g}s {launch.restart_command(stack, 0, pidfile)}"]
        watch = launch.watch_args({"daphne-1": old.proc.pid, "daphne-2": stack.daphnes[1].proc.pid})
        cmd = [
            sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--headless", "ChatUser", "--ws-groups", "10",
            "--host", stack.host, "-u", str(args.users), "-r", str(args.users), "-t", f"{args.time:g}s",
            "--ws-reconnect", args.reconnect, "--report-dir", args.report_dir, *drills, *(watch if args.watch else []),
            "--exit-code-on-error", "0",  # the drill fails messages on purpose; a --slo given still exits 3
            *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=ROOT)
        try:
            code = proc.wait()
        finally:
            if proc.poll() is None:
                launch.stop(proc, 30.0)  # SIGTERM: it writes its artifacts
            launch.stop_pidfile(pidfile)
    report_dir = ROOT / args.report_dir
    summary = json.loads((report_dir / "summary.json").read_text())
    log = hlog.read(report_dir / hlog.NAME) if (report_dir / hlog.NAME).exists() else None
    print("\n".join([*drill_lines(summary, old.proc.pid, old.port), *report(summary), *herd_lines(herd(summary, log))]))
    return code


def _start_at(text: str) -> float | None:
    return None if text.strip().lower() == "none" else float(text)


def _split(argv: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], "--", argv[i + 1 :]
    return argv, "", []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
