"""Recovery after a drill: from the per-second timeline and a drill's time, how long until the users were back.

For each drill that ran (`--drill`: summary.json's `drills`, from when its command started, seconds into the run):

- `users_back_s`: connected users per second (the timeline's `connections`) fell under their level in the
  second before the drill; the time from the drill to the end of the first second they were at that level
  again, or to the end of the last second with a `WS reconnect` sample whose outage began within 1 s of the
  drill (a reconnect faster than the once-a-second reading), whichever is later. 0 when neither shows a drop.
  None when the users never came back.
- `latency_back_s`: the per-second `WS message` p99 (the worst name's) is out of bounds in a second when it is
  over the limit, or when no round trip finished in it although there were some before the drill. The limit is
  a `message:p99<X` (or `<=`) threshold's, when one is given ("criterion": "threshold ..."), else 1.5 times
  the median of the per-second p99 over the 10 s before the drill ("criterion": "1.5x pre-drill p99"). It is
  the time from the drill to the start of the first STREAK (3) seconds in a row in bounds (fewer when the run's
  round trips end first); 0 when the drill's own second starts one. None when it never came back.
- `recovery_s`: the larger of the two (None if either is None): what `--slo 'recovery<10s'` gates, the
  slowest drill's.
- `failed_messages`: round trips that failed in the seconds from the drill until `recovery_s`; what members
  missed while away is the delivery block's `away` (whole run: marks are not kept per second).

Times are to the second of the timeline. A run without a drill that ran has no recovery.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from chanload.recording.types import MESSAGE, RECONNECT

PRE_WINDOW = 10  # seconds before a drill whose p99 is the level it is held to
FACTOR = 1.5
STREAK = 3  # seconds in a row in bounds: the latency is back


def drill_times(summary: dict) -> list[float]:
    """Seconds into the run when each drill's command started (summary.json's `drills`); none for one not run."""
    drills = [d for d in summary.get("drills") or [] if isinstance(d, dict)]
    return [float(d["started"]) for d in drills if d.get("started") is not None]


def recovery(timeline: dict, drill_epoch: float, limit_us: float | None = None, *, strict: bool = True) -> dict:
    """One drill's recovery (module docstring) from summary.json's `timeline` and the drill's wall-clock time."""
    open_by_second = {int(c["second"]): int(c["open"]) for c in timeline.get("connections") or []}
    p99: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    failures: dict[int, int] = defaultdict(int)
    came_back: list[int] = []  # seconds in which a user that dropped at the drill was ready again
    for p in timeline.get("latency") or []:
        if p["kind"] == RECONNECT and p["count"] and p["second"] >= int(drill_epoch):
            if p["second"] + 1 - p["max"] / 1e6 <= drill_epoch + 1.0:  # its outage began within 1 s of the drill
                came_back.append(int(p["second"]))
        if p["kind"] != MESSAGE:
            continue
        s = int(p["second"])
        count[s] += int(p["count"])
        failures[s] += int(p["failures"])
        if p["count"]:
            p99[s] = max(p99[s], int(p["p99"]))
    first = int(drill_epoch)
    out: dict = {"users_before": None, "users_back_s": None, "latency_back_s": None, "criterion": None}
    # Users
    before = [s for s in open_by_second if s < first]
    if before:
        level = open_by_second[max(before)]
        out["users_before"] = level
        after = sorted(s for s in open_by_second if s >= first)
        dip = next((s for s in after if open_by_second[s] < level), None)
        if dip is None:
            out["users_back_s"] = round(max(max(came_back) + 1 - drill_epoch, 0.0), 3) if came_back else 0.0
        else:
            back = next((s for s in after if s > dip and open_by_second[s] >= level), None)
            last = max([back, *came_back]) if back is not None else None
            out["users_back_s"] = None if last is None else round(max(last + 1 - drill_epoch, 0.0), 3)
            out["users_lowest"] = min(open_by_second[s] for s in after if s >= dip)
    # Latency
    pre = [p99[s] for s in range(first - PRE_WINDOW, first) if count.get(s)]
    if limit_us is not None:
        bound, out["criterion"] = limit_us, f"threshold message:p99 {'<' if strict else '<='} {limit_us:.0f}us"
    elif pre:
        bound, strict = FACTOR * statistics.median(pre), False  # within 1.5x: over it is out of bounds
        out["criterion"] = f"{FACTOR:g}x pre-drill p99 ({statistics.median(pre):.0f}us)"
    else:
        bound = None
    out["pre_drill_p99_us"] = statistics.median(pre) if pre else None
    busy = [s for s in count if s >= first and count[s]]
    if bound is not None and busy:
        end = max(busy)

        def bad(s: int) -> bool:
            if not count.get(s):
                return bool(pre)
            return p99[s] >= bound if strict else p99[s] > bound

        good = [not bad(s) for s in range(first, end + 1)]
        back_at = next((i for i in range(len(good)) if all(good[i : i + STREAK])), None)
        if back_at is not None:
            out["latency_back_s"] = round(max(first + back_at - drill_epoch, 0.0), 3)
    parts = (out["users_back_s"], out["latency_back_s"])
    out["recovery_s"] = None if None in parts else max(parts)
    until = drill_epoch + (out["recovery_s"] or 0.0)
    out["failed_messages"] = sum(n for s, n in failures.items() if first <= s <= until)
    return out


def attach(summary: dict, started: float, thresholds=()) -> None:
    """Put `recovery` in summary.json when drills ran: one entry per drill that ran, and the slowest."""
    times = drill_times(summary)
    if not times:
        return
    limit, strict = None, True
    for t in thresholds:
        if t.metric == "message" and t.stat == "p99" and t.name is None and t.op in ("<", "<=") and not t.relative:
            limit, strict = t.limit, t.op == "<"
    ran = [d for d in summary.get("drills") or [] if isinstance(d, dict) and d.get("started") is not None]
    drills = []
    for at, drill in zip(times, ran, strict=True):
        one = recovery(summary.get("timeline") or {}, started + at, limit, strict=strict)
        drills.append({"at": at, "command": drill.get("command"), **one})
    values = [d["recovery_s"] for d in drills]
    summary["recovery"] = {
        "drills": drills,
        "slowest_s": None if None in values else max(values),
        "missed_while_away": ((summary.get("delivery") or {}).get("total") or {}).get("away", 0),
    }


def recovery_us(summary: dict) -> tuple[float | None, str]:
    """`--slo recovery<...`: the slowest drill's recovery in us; None (no data: FAIL) without drills or a return."""
    block = summary.get("recovery") or {}
    slowest = block.get("slowest_s")
    if slowest is None:
        return None, ""
    n = len(block.get("drills") or [])
    return slowest * 1e6, f" (slowest of {n} drill{'s' if n != 1 else ''})"


def missed_ratio(delivery: dict) -> float | None:
    """Marks missed while away over all marks owed or missed while away (whole run); None without delivery."""
    total = delivery.get("total") or {}
    owed = total.get("expected", 0) + total.get("away", 0)
    return total.get("away", 0) / owed if owed else None
