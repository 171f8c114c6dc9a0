"""The capacity finder's decisions and its report: steps, stability, the knee; no Locust inside.

A stepwise ramp (as anycable/websocket-bench's): users go up by a fixed step. Each step is held
until it is stable, then judged on its own samples only, against the capacity thresholds (the
`--slo` grammar). The first step that breaks one ends the search. The knee is the highest step
that held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from chanload.formatting import format_us
from chanload.run import saturation, slo

STABLE_SPREAD = 0.10  # the two halves of a step's window differ by at most this share of msg/s
MAX_EXTENSIONS = 2  # an unstable step is held this many more windows, then judged as it is


@dataclass
class Plan:
    """How the ramp goes: users per step, where it starts and stops, how long each step is held."""

    step: int
    start: int
    limit: int
    hold: float
    settle: float = 2.0  # seconds after a step's users are all started before its window opens

    def users(self, index: int) -> int:
        return self.start + index * self.step


@dataclass
class StepResult:
    """One judged step: its load, its latency, and whether every threshold held."""

    users: int
    sockets: int
    seconds: float
    messages_per_s: float
    p50_us: int | None
    p95_us: int | None
    p99_us: int | None
    fail_ratio: float | None
    passed: bool
    stable: bool
    thresholds: list[dict] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)  # the epoch seconds [first, end) judged


def stable(first_half: int, second_half: int) -> bool:
    """Throughput in the two halves of a window agrees within STABLE_SPREAD (nothing sent: stable)."""
    top = max(first_half, second_half)
    return top == 0 or abs(first_half - second_half) / top <= STABLE_SPREAD


def judge(
    users: int,
    sockets: int,
    seconds: float,
    step_summary: dict,
    thresholds: tuple,
    is_stable: bool,
    window: tuple[int, int] = (0, 0),
) -> StepResult:
    """A step's result from the summary of its window alone (chanload.reporting.summary.build on its samples)."""
    results = slo.as_dicts(slo.evaluate(thresholds, step_summary))
    rows = [r for r in step_summary["latency"] if r["metric"] == "message"]
    counters = step_summary["counters"]
    trips = counters.get("ok", 0) + counters.get("failed", 0)
    worst = max(rows, key=lambda r: r.get("p95") or 0) if rows else {}
    return StepResult(
        users=users,
        sockets=sockets,
        seconds=round(seconds, 3),
        messages_per_s=round(sum(r["count"] for r in rows) / seconds, 1) if seconds > 0 else 0.0,
        p50_us=worst.get("p50"),
        p95_us=worst.get("p95"),
        p99_us=worst.get("p99"),
        fail_ratio=counters.get("failed", 0) / trips if trips else None,
        passed=all(t["passed"] for t in results),
        stable=is_stable,
        thresholds=results,
        window=window,
    )


def knee(steps: list[StepResult]) -> StepResult | None:
    """The highest step that held, below the first that broke."""
    best = None
    for step in steps:
        if not step.passed:
            break
        best = step
    return best


def block(
    steps: list[StepResult], thresholds: tuple, plan: Plan, stopped_by: str, resources: dict | None = None
) -> dict:
    """The `capacity` section of summary.json; `limit` is what saturated first (chanload.run.saturation), read
    from `resources` (summary.json's, with its series)."""
    found = knee(steps)
    rows = [{**vars(s), "window": list(s.window)} for s in steps]
    return {
        "thresholds": [t.expr for t in thresholds],
        "plan": {"step": plan.step, "start": plan.start, "limit": plan.limit, "hold_s": plan.hold},
        "steps": rows,
        "knee": {**vars(found), "window": list(found.window)} if found else None,
        "stopped_by": stopped_by,
        "limit": saturation.attribute(rows, resources),
    }


def _cells(step: dict) -> list[str]:
    ratio = "-" if step["fail_ratio"] is None else f"{step['fail_ratio'] * 100:.2f}%"
    return [
        str(step["users"]),
        str(step["sockets"]),
        f"{step['messages_per_s']:.1f}",
        format_us(step["p50_us"]),
        format_us(step["p95_us"]),
        format_us(step["p99_us"]),
        ratio,
        ("held" if step["passed"] else "BROKE") + ("" if step["stable"] else " (unstable)"),
    ]


HEAD = ["users", "sockets", "msg/s", "p50", "p95", "p99", "fail", "result"]


def render(capacity: dict) -> str:
    """The capacity table printed at the end of a run."""
    rows = [HEAD] + [_cells(s) for s in capacity["steps"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = [f"capacity search ({', '.join(capacity['thresholds'])}); stopped: {capacity['stopped_by']}"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    k = capacity["knee"]
    if k:
        lines.append(
            f"knee: {k['users']} users, {k['sockets']} sockets, {k['messages_per_s']:.1f} msg/s, "
            f"p50 {format_us(k['p50_us'])}, p95 {format_us(k['p95_us'])}, p99 {format_us(k['p99_us'])}"
        )
    elif capacity["steps"]:
        lines.append("knee: none (the first step already broke a threshold)")
    else:
        lines.append("knee: none (no step was judged before the run ended)")
    if capacity.get("limit"):
        lines.append(f"limit: {capacity['limit']['text']}")
    return "\n".join(lines)


def html(capacity: dict | None) -> str:
    """The capacity section of report.html ("" when the run was not a capacity search)."""
    if not capacity:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEAD)
    body = "".join(
        f'<tr class="{"pass" if s["passed"] else "fail"}-row">'
        + "".join(f"<td>{escape(c)}</td>" for c in _cells(s))
        + "</tr>"
        for s in capacity["steps"]
    )
    k = capacity["knee"]
    verdict = (
        f"Knee: <strong>{k['users']} users</strong>, {k['sockets']} sockets, {k['messages_per_s']:.1f} msg/s, "
        f"p95 {escape(format_us(k['p95_us']))}"
        if k
        else ("No step held." if capacity["steps"] else "No step was judged before the run ended.")
    )
    limit = capacity.get("limit")
    why = f'<p class="limit">What saturated first: {escape(limit["text"])}</p>' if limit else ""
    return (
        f"<h2>Capacity</h2><p>{escape(', '.join(capacity['thresholds']))}; stopped: "
        f"{escape(capacity['stopped_by'])}. {verdict}</p>{why}"
        f'<table class="capacity"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )
