"""A restart drill on the scaled stack: 2 Daphne on Redis behind nginx, ChatUsers in 10 rooms, one Daphne stopped
with SIGTERM and started again on its port, then the recovery printed (docs/restarts.md).

    python scripts/drill.py [--reconnect backoff:0.5-30] [--users 50] [--time 30] [--stop-at 10] [--start-at 15]
                            [--report-dir reports/drill] [-- LOCUST ARGS...]

The times are seconds after locust starts. Until chanload's `--drill` exists, the time of the SIGTERM reaches the
run through chanload.run.recovery's hook (CHANLOAD_DRILL_AT=@FILE). Exit code: locust's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: the repo root, for scripts.*

from scripts import launch

ROOT = Path(__file__).resolve().parent.parent


def restart(stack: launch.Scaled, began: float, stop_at: float, start_at: float, drills: Path) -> None:
    """SIGTERM Daphne 0 at `stop_at` s after `began`, start it again on its port at `start_at` s."""
    old = stack.daphnes[0]
    time.sleep(max(began + stop_at - time.time(), 0.0))
    at = time.time()
    old.proc.send_signal(signal.SIGTERM)
    drills.write_text(f"{at}\n")
    print(f"drill: SIGTERM to daphne-1 (pid {old.proc.pid}) at {at - began:.1f} s", flush=True)
    time.sleep(max(began + start_at - time.time(), 0.0))
    if old.proc.poll() is None:  # Daphne may linger after SIGTERM with its sockets gone (docs/restarts.md)
        old.proc.kill()
        old.proc.wait(10)
    stack.daphnes[0] = launch.spawn_daphne(stack.workdir, {"REDIS_URL": stack.redis_url}, port=old.port)
    print(f"drill: daphne-1 started again on port {old.port} at {time.time() - began:.1f} s", flush=True)


def report(summary: dict) -> list[str]:
    """The drill's figures, as printed."""
    c = summary["counters"]
    lines = [f"drops: {c.get('drops') or 'none'}; attempts failed: {c.get('attempts_failed') or 'none'}"]
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
        )
    total = (summary.get("delivery") or {}).get("total") or {}
    lines.append(f"delivery: missing while connected {total.get('missing')}, missed while away {total.get('away')}")
    return lines


def main(argv: list[str]) -> int:
    own, _, extra = _split(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reconnect", default="backoff:0.5-30")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--time", type=float, default=30.0)
    parser.add_argument("--stop-at", type=float, default=10.0)
    parser.add_argument("--start-at", type=float, default=15.0)
    parser.add_argument("--report-dir", default="reports/drill")
    args = parser.parse_args(own)
    with launch.scaled(2) as stack, tempfile.TemporaryDirectory() as tmp:
        drills = Path(tmp) / "drills"
        cmd = [
            sys.executable, "-m", "locust", "-f", "loadtests/ws.py", "--headless", "ChatUser", "--ws-groups", "10",
            "--host", stack.host, "-u", str(args.users), "-r", str(args.users), "-t", f"{args.time:g}s",
            "--ws-reconnect", args.reconnect, "--report-dir", args.report_dir,
            "--exit-code-on-error", "0",  # the drill fails messages on purpose; a --slo given still exits 3
            *extra,
        ]  # fmt: skip
        began = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "CHANLOAD_DRILL_AT": f"@{drills}"})
        thread = threading.Thread(target=restart, args=(stack, began, args.stop_at, args.start_at, drills))
        thread.start()
        code = proc.wait()
        thread.join()
    summary = json.loads((ROOT / args.report_dir / "summary.json").read_text())
    print("\n".join(report(summary)))
    return code


def _split(argv: list[str]) -> tuple[list[str], str, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], "--", argv[i + 1 :]
    return argv, "", []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
