"""SLO thresholds: evaluate parsed `--slo` expressions on a run summary, say PASS or FAIL.

The grammar, and parsing it into `Threshold`s, is in `chanload.run.threshold`; relative limits (`1.1x`
with `--baseline DIR`) are judged by `chanload.run.relative`. The names of both stay importable from here.

Evaluation. A threshold with no data to measure (no matching row, no round trips, no delivery tracking)
FAILS. Without `@NAME`, `count`, `failures`, `fail_ratio`, `rate`, `min`, `max` and `mean` are exact over
all names. Percentiles cannot be merged from per-name percentiles, so with several names the WORST name's
value is used (the largest for `<`/`<=`, the smallest for `>`/`>=`): conservative, a pass is never wrong;
the result then says "worst of N names". Add `@NAME` for an exact per-route gate.

A threshold is certain to fail, and can abort a run early, only when a statistic that moves one way is
already past its limit: `max` or `count`/`failures` with `<`/`<=`, `min` with `>`/`>=`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chanload.recording.archive import Run
from chanload.recording.hlog import Log
from chanload.run import leaks
from chanload.run.recovery import missed_ratio, recovery_us
from chanload.run.relative import judge_relative, relative_so_far
from chanload.run.threshold import (
    KIND,
    LATENCY_METRICS,
    LATENCY_STATS,
    METRICS,
    OPS,
    PERCENTILE_STATS,
    RELATIVE_ALPHA,
    SCALAR_METRICS,
    STATS,
    TIME_UNITS,
    UNIT,
    Result,
    Threshold,
    format_value,
    kind_of,
    parse,
    parse_all,
)

# Statistics that only ever move one way during a run, with the operators that they can only break.
_MONOTONIC = {("max", "<"), ("max", "<="), ("count", "<"), ("count", "<="), ("failures", "<"), ("failures", "<=")}
_MONOTONIC |= {("min", ">"), ("min", ">=")}


def evaluate(
    thresholds: Iterable[Threshold],
    summary: dict,
    baseline: Run | None = None,
    current: Callable[[], Log] | None = None,
) -> list[Result]:
    """Each threshold's verdict on a run summary; a threshold with nothing to measure fails.

    `baseline` and `current` (this run's interval log, read when first needed) judge the relative ones; without
    `current` (a live view during the run) they compare the whole-run percentiles so far, with no test.
    """
    results = []
    log: list[Log] = []
    for t in thresholds:
        if t.relative and current is None and baseline is not None:
            results.append(relative_so_far(t, summary, baseline))
            continue
        if t.relative:
            if not log and current is not None:
                log.append(current())
            results.append(judge_relative(t, summary, baseline, log[0] if log else None))
            continue
        value, note = _measure(t, summary)
        if value is None:
            results.append(Result(t, None, False, f"no data for {t.target}"))
            continue
        passed = OPS[t.op](value, t.limit)
        detail = f"measured {format_value(t.stat, value)}{note}, limit {t.op} {format_value(t.stat, t.limit)}"
        results.append(Result(t, value, passed, detail))
    return results


def certain_to_fail(threshold: Threshold, summary: dict) -> bool:
    """True only when no later data can make the threshold pass (max, min, count, failures broken)."""
    if threshold.relative or threshold.metric in SCALAR_METRICS or (threshold.stat, threshold.op) not in _MONOTONIC:
        return False
    value, _ = _measure(threshold, summary)
    return value is not None and not OPS[threshold.op](value, threshold.limit)


def as_dicts(results: Iterable[Result]) -> list[dict]:
    """Results as plain dicts for summary["thresholds"]."""
    return [
        {
            "expr": r.threshold.expr,
            "metric": r.threshold.metric,
            "name": r.threshold.name,
            "stat": r.threshold.stat,
            "op": r.threshold.op,
            "limit": r.threshold.limit,
            "unit": UNIT[r.threshold.kind],
            "relative": r.threshold.relative,
            "value": r.value,
            "passed": r.passed,
            "detail": r.detail,
        }
        for r in results
    ]


def _measure(t: Threshold, summary: dict) -> tuple[float | None, str]:
    """The measured value (None: no data) and a note for the detail line ("", or the worst-name rule)."""
    duration = summary.get("duration_s") or 0
    if t.metric == "watch":  # watch:NAME:rss_growth
        return leaks.growth(summary, str(t.name)), ""
    if t.metric in SCALAR_METRICS:
        counters = summary.get("counters") or {}
        trips = counters.get("ok", 0) + counters.get("failed", 0)
        if t.metric == "fail_ratio":
            return (counters.get("failed", 0) / trips if trips else None), ""
        if t.metric == "rps":
            return (trips / duration if duration > 0 and counters else None), ""
        if t.metric == "recovery":
            return recovery_us(summary)
        delivery = summary.get("delivery") or {}
        if t.metric == "missed_ratio":
            return missed_ratio(delivery), ""
        return (delivery.get("total") or {}).get("ratio"), ""

    rows = [
        r for r in summary.get("latency") or [] if r["metric"] == t.metric and (t.name is None or r["name"] == t.name)
    ]
    if not rows:
        return None, ""
    count = sum(r["count"] for r in rows)
    failures = sum(r["failures"] for r in rows)
    if t.stat == "count":
        return count, ""
    if t.stat == "failures":
        return failures, ""
    if t.stat == "fail_ratio":
        return (failures / (count + failures) if count + failures else None), ""
    if t.stat == "rate":
        return (count / duration if duration > 0 else None), ""
    key = LATENCY_STATS[t.stat]
    measured = [(r[key], r["name"]) for r in rows if r.get(key) is not None]
    if not measured:
        return None, ""
    if t.stat == "max":
        return max(v for v, _ in measured), ""
    if t.stat == "min":
        return min(v for v, _ in measured), ""
    if t.stat == "mean":
        weighted = [(r["mean"], r["count"]) for r in rows if r.get("mean") is not None and r["count"]]
        total = sum(n for _, n in weighted)
        return (sum(m * n for m, n in weighted) / total if total else None), ""
    if len(measured) == 1:
        return measured[0][0], ""
    # Percentiles of several histograms cannot be merged from their percentiles alone: the worst name's
    # value bounds the merged one on the failing side, so a PASS is never wrong.
    pick = max if t.op in ("<", "<=") else min
    value, name = pick(measured, key=lambda pair: pair[0])
    return value, f" (worst of {len(measured)} names: {name})"


__all__ = [
    "KIND",
    "LATENCY_METRICS",
    "LATENCY_STATS",
    "METRICS",
    "OPS",
    "PERCENTILE_STATS",
    "RELATIVE_ALPHA",
    "SCALAR_METRICS",
    "STATS",
    "TIME_UNITS",
    "UNIT",
    "Result",
    "Threshold",
    "as_dicts",
    "certain_to_fail",
    "evaluate",
    "format_value",
    "judge_relative",
    "kind_of",
    "parse",
    "parse_all",
    "relative_so_far",
]
