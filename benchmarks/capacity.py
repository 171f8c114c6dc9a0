"""Capacity: the knee of the sync route (room/) beside the async route (aroom/), found by the capacity finder.

    make bench-capacity        (python -m benchmarks.capacity)

For each route, a fresh Daphne on a free loopback port and one Locust process running
loadtests/capacity.py (RoomUser, then AsyncRoomUser) in the open model: every user sends RATE
messages/s, so each step of STEP users adds STEP x RATE msg/s of offered load. A step holds while its
own window's coordinated-omission-corrected p95 stays under the limit and fewer than 1% of its
messages fail; the knee is the highest step that held. Both searches run the same plan, one after
the other, on the same machine. Each watches its Daphne (`--watch daphne=PID`), so the finder also says
what saturated first at the knee (`capacity.limit`), printed on the last row.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import goal
from chanload.formatting import format_us
from scripts import launch

ROOT = Path(__file__).resolve().parent.parent
RATE = 20  # messages/s per user
STEP = 10  # users per step: +200 msg/s
LIMIT = 300  # users: 6,000 msg/s, beyond what one Daphne answers here
HOLD = 4  # seconds per step window
THRESHOLDS = ("message_corrected:p95<20ms", "fail_ratio<1%")
ROUTES = (("room/ (sync)", "RoomUser"), ("aroom/ (async)", "AsyncRoomUser"))


def search(user_class: str, work: Path) -> dict:
    """One capacity search against a fresh target; the `capacity` block of its summary.json."""
    target = launch.spawn_daphne(work, backlog=1024)
    report = work / f"report-{user_class}"
    slo = [arg for expr in THRESHOLDS for arg in ("--capacity-slo", expr)]
    argv = [sys.executable, "-m", "locust", "-f", "loadtests/capacity.py", user_class, "--headless", "--only-summary",
            "--host", f"ws://127.0.0.1:{target.port}", "--ws-rate", str(RATE), "--capacity-step", str(STEP),
            "--capacity-max", str(LIMIT), "--capacity-hold", str(HOLD), "--report-dir", str(report), *slo,
            *launch.watch_args({"daphne": target.proc.pid})]  # fmt: skip
    try:
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    finally:
        launch.stop(target.proc, 20)
    path = report / "summary.json"
    if not path.exists():
        sys.exit(f"bench-capacity: {user_class} wrote no summary:\n{(run.stdout + run.stderr)[-3000:]}")
    return json.loads(path.read_text())["capacity"]


def side_by_side(results: dict[str, dict]) -> str:
    def cell(found: dict, field: str) -> str:
        knee = found["knee"]
        if knee is None:
            return "none"
        value = knee[field]
        return format_us(value) if field.endswith("_us") else f"{value:g}"

    rows = [("knee: users", "users"), ("sockets", "sockets"), ("msg/s", "messages_per_s"),
            ("p50", "p50_us"), ("p95", "p95_us"), ("p99", "p99_us")]  # fmt: skip
    names = list(results)
    lines = [f"{'':<14}" + "".join(f"{n:>18}" for n in names)]
    lines += [f"{label:<14}" + "".join(f"{cell(results[n], field):>18}" for n in names) for label, field in rows]
    lines += [f"{'steps judged':<14}" + "".join(f"{len(results[n]['steps']):>18}" for n in names)]
    lines += [f"stopped, {n}: {results[n]['stopped_by']}" for n in names]
    lines += [f"limit, {n}: {(results[n].get('limit') or {}).get('text', 'not judged')}" for n in names]
    return "\n".join(lines)


def main() -> int:
    print(f"plan: +{STEP} users per step at {RATE} msg/s each (open model), up to {LIMIT}; thresholds: "
          f"{', '.join(THRESHOLDS)}; {HOLD} s windows", flush=True)  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory(prefix="chanload-bench-") as tmp:
        for label, user_class in ROUTES:
            results[label] = search(user_class, Path(tmp))
            print(f"{label}: {len(results[label]['steps'])} steps, stopped: {results[label]['stopped_by']}", flush=True)
    print(side_by_side(results))
    knees = {label: found["knee"] for label, found in results.items()}
    figure = ", ".join(
        f"{label} {k['users']} users ({k['messages_per_s']:g} msg/s)" if k else f"{label} none"
        for label, k in knees.items()
    )
    goal("a knee for the sync and the async route", figure, all(knees.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
