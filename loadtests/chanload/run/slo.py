"""SLO thresholds: parse `--slo` expressions, evaluate them on a run summary, say PASS or FAIL.

Grammar (one threshold per `--slo`; whitespace anywhere is ignored):

    METRIC[@NAME]:STAT OP NUMBER[UNIT]     a statistic of a latency metric
    fail_ratio OP N%                       failed / (ok + failed) message round trips, whole run
    delivery_ratio OP N%                   broadcast deliveries received / expected (tail included), whole run
    rps OP N                               message round trips (ok + failed) per second of the run

- METRIC is a latency metric as the summary names it: `connect`, `message`, `message_corrected`,
  `delivery`, `login` (request type `WS message corrected` -> `message_corrected`, `HTTP login` -> `login`).
- `@NAME` keeps one route name, e.g. `message@room/[group]:p99<5ms`. Without it the threshold covers every
  name of that metric.
- STAT is one of
  - `p50 p90 p95 p99 p99.9 min max mean`: latencies; a unit is required: `us`, `ms` or `s`;
  - `fail_ratio`: failures / (successes + failures) of that metric; `N%` or a fraction (`0.001`);
  - `count`, `failures`: numbers of successes and of failures; no unit;
  - `rate`: successes per second of the run's duration; no unit (`/s` is accepted).
- OP is one of `<`, `<=`, `>`, `>=`.
- `fail_ratio` and `delivery_ratio` limits are `N%` (0-100) or a plain fraction (0-1).

Relative to a baseline run (`--baseline DIR`, a previous run's report folder): a percentile's limit may be
a factor with `x`, `message:p99<=1.1x` ("at most 10% slower than the baseline"), 1x or more, with `<` or
`<=` only. It FAILS when this run is significantly slower than the baseline at that percentile and its
ratio to the baseline's is past the factor, judged as `python -m chanload compare` judges
(`chanload.recording.significance`: blocks of seconds from both runs' latency.hlog, one-sided Mann-Whitney,
alpha 0.05 split over the names judged), and also when there are too few samples to judge (the detail says
how many are needed). The measured value is the ratio.

Examples: `connect:p95<50ms`, `message:p99 < 10 ms`, `message@room/[group]:max<=1s`,
`message:fail_ratio<0.1%`, `fail_ratio<0.001`, `delivery_ratio>=99.99%`, `rps>=500`, `delivery:count>1000`.

Evaluation. A threshold with no data to measure (no matching row, no round trips, no delivery tracking)
FAILS. Without `@NAME`, `count`, `failures`, `fail_ratio`, `rate`, `min`, `max` and `mean` are exact over
all names. Percentiles cannot be merged from per-name percentiles, so with several names the WORST name's
value is used (the largest for `<`/`<=`, the smallest for `>`/`>=`): conservative, a pass is never wrong;
the result then says "worst of N names". Add `@NAME` for an exact per-route gate.

A threshold is certain to fail, and can abort a run early, only when a statistic that moves one way is
already past its limit: `max` or `count`/`failures` with `<`/`<=`, `min` with `>`/`>=`.

Units are case-insensitive (`µs` is `us`). A NAME may contain `@` and `:` but not `<`, `>` or `=`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from chanload import formatting
from chanload.exceptions import OptionError
from chanload.recording import significance
from chanload.recording.archive import Run
from chanload.recording.hlog import Log

LATENCY_METRICS = ("connect", "message", "message_corrected", "delivery", "login")
SCALAR_METRICS = ("fail_ratio", "delivery_ratio", "rps")
METRICS = LATENCY_METRICS + SCALAR_METRICS

# Statistic as written -> the summary row key that holds it.
LATENCY_STATS = {
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p99_9",
    "min": "min",
    "max": "max",
    "mean": "mean",
}
STATS = (*LATENCY_STATS, "fail_ratio", "count", "failures", "rate")

PERCENTILE_STATS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
RELATIVE_ALPHA = 0.05

# What a statistic's value is; scalar metrics are their own statistic.
KIND = {
    **dict.fromkeys(LATENCY_STATS, "latency"),
    "fail_ratio": "ratio",
    "delivery_ratio": "ratio",
    "count": "count",
    "failures": "count",
    "rate": "rate",
    "rps": "rate",
}
# The unit of a threshold's normalised limit and measured value, as written to summary.json.
UNIT = {"latency": "us", "ratio": "fraction", "count": "count", "rate": "per_s", "relative": "x"}
TIME_UNITS = {"us": Decimal(1), "ms": Decimal(1000), "s": Decimal(1_000_000)}

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# Statistics that only ever move one way during a run, with the operators that they can only break.
_MONOTONIC = {("max", "<"), ("max", "<="), ("count", "<"), ("count", "<="), ("failures", "<"), ("failures", "<=")}
_MONOTONIC |= {("min", ">"), ("min", ">=")}

_OP_CHARS = re.compile(r"[<>=!]+")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_TOKEN = re.compile(r"[-+0-9.eE]*")
_EXAMPLE = "'message:p99<10ms'"


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold; `limit` is in us for latencies, a fraction for ratios, as written otherwise."""

    expr: str
    metric: str
    name: str | None
    stat: str
    op: str
    limit: float
    relative: bool = False  # the limit is a factor of the baseline run's value (`1.1x`)

    @property
    def kind(self) -> str:
        return "relative" if self.relative else KIND[self.stat]

    @property
    def target(self) -> str:
        """What is measured: 'message', 'message@room/[group]', 'rps'."""
        return self.metric if self.name is None else f"{self.metric}@{self.name}"


@dataclass
class Result:
    """A threshold's verdict; `value` is None when there was nothing to measure."""

    threshold: Threshold
    value: float | None
    passed: bool
    detail: str


def parse(expr: str, option: str = "--slo") -> Threshold:
    """Parse one threshold expression; raises OptionError that names the bad part."""
    text = expr.strip()

    def fail(why: str) -> OptionError:
        return OptionError(f"{option} {expr!r}: {why}")

    if not text:
        raise fail(f"empty threshold; write METRIC[@NAME]:STAT OP LIMIT, e.g. {_EXAMPLE}")
    found = _OP_CHARS.search(text)
    if found is None:
        raise fail(f"no comparison; use <, <=, > or >= as in {_EXAMPLE}")
    op = found.group()
    if op not in OPS:
        raise fail(f"bad operator {op!r} (use <, <=, >, >=)")
    lhs, rhs = text[: found.start()].strip(), text[found.end() :].strip()

    target, colon, stat_text = lhs.rpartition(":")
    if not colon:
        target, stat_text = lhs, ""
    metric_text, at, name_text = target.partition("@")
    metric = metric_text.strip().lower()
    name = name_text.strip() if at else None
    stat = stat_text.strip().lower()
    if not metric:
        raise fail(f"missing metric before {op!r}; known: {', '.join(METRICS)}")
    if metric not in METRICS:
        raise fail(f"unknown metric {metric_text.strip()!r} (known: {', '.join(METRICS)})")
    if at and not name:
        raise fail("empty name after '@'")
    if metric in SCALAR_METRICS:
        if at:
            raise fail(
                f"{metric!r} covers the whole run and takes no '@NAME';"
                f" for one route write e.g. 'message@{name}:fail_ratio<1%'"
            )
        if colon:
            raise fail(f"{metric!r} is a whole-run figure and takes no ':STAT'; write e.g. '{metric}{op}...'")
        stat = metric
    elif not colon:
        raise fail(f"{metric!r} needs a statistic, e.g. '{metric}:p99<10ms' (statistics: {', '.join(STATS)})")
    elif stat == "p99_9":
        stat = "p99.9"
    elif stat not in STATS:
        raise fail(f"unknown statistic {stat_text.strip()!r} (use {', '.join(STATS)})")

    if rhs.lower().endswith("x") and KIND.get(stat) == "latency":
        return _relative(text, metric, name, stat, op, rhs, fail)
    limit = _limit(rhs, stat, op, lhs, fail)
    return Threshold(expr=text, metric=metric, name=name, stat=stat, op=op, limit=limit)


def _relative(
    text: str, metric: str, name: str | None, stat: str, op: str, rhs: str, fail: Callable[[str], OptionError]
) -> Threshold:
    """A threshold relative to the baseline: 'message:p99<=1.1x'."""
    if stat not in PERCENTILE_STATS:
        raise fail(
            f"a limit relative to the baseline ('x') takes a percentile ({', '.join(PERCENTILE_STATS)}), not {stat!r}:"
            " a percentile is what can be judged against the baseline's own distribution"
        )
    if op not in ("<", "<="):
        raise fail(f"a limit relative to the baseline ('x') takes '<' or '<=' (how much slower at most), not {op!r}")
    token = rhs[:-1].strip()
    if not _NUMBER.fullmatch(token) or not 1 <= float(token) <= 100:
        raise fail(
            f"bad factor {rhs!r}; write how much slower than the baseline at most, 1x or more: e.g. '1.1x' (10%)"
        )
    return Threshold(expr=text, metric=metric, name=name, stat=stat, op=op, limit=float(token), relative=True)


def parse_all(exprs: Iterable[str], option: str = "--slo") -> list[Threshold]:
    """Parse every expression; the first bad one raises OptionError."""
    return [parse(expr, option) for expr in exprs]


def _limit(rhs: str, stat: str, op: str, lhs: str, fail: Callable[[str], OptionError]) -> float:
    """The limit after OP, normalised: us for latencies, a fraction for ratios."""
    if not rhs:
        raise fail(f"missing limit after {op!r}")
    token = _NUMBER_TOKEN.match(rhs).group()  # type: ignore[union-attr]  # matches the empty string at least
    if not _NUMBER.fullmatch(token):
        raise fail(f"bad number {(token or rhs)!r}; limits are non-negative numbers like 10, 0.5, 1e3")
    number = Decimal(token)
    unit = rhs[len(token) :].strip()
    unit_key = unit.lower().replace("µ", "u").replace("μ", "u")
    kind = KIND[stat]
    if kind == "latency":
        if not unit:
            raise fail(f"{stat!r} is a latency: add a unit (us, ms, s), e.g. '{lhs}{op}{token}ms'")
        if unit_key not in TIME_UNITS:
            if unit == "%":
                raise fail(f"unit '%' does not fit latency statistic {stat!r} (use us, ms, s)")
            raise fail(f"unknown unit {unit!r} (use us, ms, s)")
        return float(number * TIME_UNITS[unit_key])
    if kind == "ratio":
        if unit == "%":
            if number > 100:
                raise fail(f"ratio {token}% is above 100%")
            return float(number / 100)
        if unit:
            raise fail(f"unit {unit!r} does not fit {stat!r}; write a percentage (0.1%) or a fraction (0.001)")
        if number > 1:
            raise fail(f"ratio {token} is above 1; write a percentage ({token}%) or a fraction ({number / 100})")
        return float(number)
    if unit and not (kind == "rate" and unit_key == "/s"):
        raise fail(f"unit {unit!r} does not fit {stat!r}, which takes a plain number, e.g. '{lhs}{op}{token}'")
    return float(number)


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


def judge_relative(t: Threshold, summary: dict, baseline: Run | None, log: Log | None) -> Result:
    """A relative threshold ('message:p99<=1.1x'): this run against the baseline, with the significance rule."""
    if baseline is None:
        return Result(t, None, False, "no baseline: relative limits need --baseline DIR")
    rows = [
        r for r in summary.get("latency") or [] if r["metric"] == t.metric and (t.name is None or r["name"] == t.name)
    ]
    base_rows = baseline.rows()
    pairs = [(r, base_rows[(r["type"], r["name"])]) for r in rows if (r["type"], r["name"]) in base_rows]
    if not pairs:
        return Result(t, None, False, f"no data for {t.target} in both this run and the baseline ({baseline.path})")
    pct = PERCENTILE_STATS[t.stat]
    alpha = RELATIVE_ALPHA / len(pairs)
    judged = []
    for row, base_row in pairs:
        key = (row["metric"], row["name"])
        now = [(round(i.offset), i) for i in (log.intervals.get(key, []) if log else [])]
        total = log.total(key) if log else None
        judged.append(
            (
                row,
                significance.judge(
                    baseline.seconds(base_row), now, pct, t.limit - 1.0, alpha, baseline.total(base_row), total
                ),
            )
        )
    few = [(r, j) for r, j in judged if j.verdict == significance.TOO_FEW]
    slower = [(r, j) for r, j in judged if j.verdict == significance.SLOWER]
    worst_row, worst = max(judged, key=lambda pair: pair[1].ratio or 0.0)
    names = f" (worst of {len(judged)} names: {worst_row['name']})" if len(judged) > 1 else ""
    shown = f"{worst.ratio:.3f}x the baseline" if worst.ratio is not None else "no ratio"
    values = f"{formatting.format_us(worst.new)} vs {formatting.format_us(worst.base)}"
    if slower:
        row, j = max(slower, key=lambda pair: pair[1].ratio or 0.0)
        detail = (
            f"measured {j.ratio:.3f}x the baseline{names} ({formatting.format_us(j.new)} vs"
            f" {formatting.format_us(j.base)}): significantly slower (p={j.p_slower:.2g}) and past {t.op} {t.limit:g}x"
        )
        return Result(t, j.ratio, False, detail)
    if few:
        row, j = few[0]
        detail = f"measured {shown}{names} ({values}); too few samples to judge {row['name']}: {j.note}"
        return Result(t, worst.ratio, False, detail)
    p = worst.p_slower if worst.p_slower is not None else 1.0
    if worst.ratio is not None and worst.ratio > t.limit:
        detail = (
            f"measured {shown}{names} ({values}): past {t.op} {t.limit:g}x but not significantly slower (p={p:.2g})"
        )
    else:
        detail = f"measured {shown}{names} ({values}): within {t.op} {t.limit:g}x (p={p:.2g})"
    return Result(t, worst.ratio, True, detail)


def relative_so_far(t: Threshold, summary: dict, baseline: Run) -> Result:
    """A relative threshold during the run: the worst name's percentile ratio so far against the limit.

    Judging it with the significance rule needs the run's every second; that happens once, at the end.
    """
    base_rows = baseline.rows()
    key = LATENCY_STATS[t.stat]
    ratios = [
        (r[key] / base_rows[(r["type"], r["name"])][key], r["name"])
        for r in summary.get("latency") or []
        if r["metric"] == t.metric
        and (t.name is None or r["name"] == t.name)
        and r.get(key) is not None
        and (r["type"], r["name"]) in base_rows
        and base_rows[(r["type"], r["name"])].get(key)
    ]
    if not ratios:
        return Result(t, None, False, f"no data for {t.target} in both this run and the baseline yet")
    value, name = max(ratios)
    names = f" (worst of {len(ratios)} names: {name})" if len(ratios) > 1 else ""
    detail = f"so far {value:.3f}x the baseline{names}, limit {t.op} {t.limit:g}x; judged for significance at the end"
    return Result(t, value, OPS[t.op](value, t.limit), detail)


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


def format_value(stat: str, value: float | None) -> str:
    """A statistic's value in the unit that suits it (`chanload.formatting.format_value`): 812 us, 0.1%, 512.5/s."""
    return formatting.format_value(KIND[stat], value)


def kind_of(threshold: dict) -> str:
    """The kind of a summary.json threshold's value and limit (latency, ratio, rate, count), from its unit."""
    unit = threshold.get("unit")
    if threshold.get("relative"):
        return "relative"
    for kind, written in UNIT.items():
        if unit == written:
            return kind
    for key in (threshold.get("stat"), threshold.get("metric")):
        if key in KIND:
            return KIND[key]
    raise ValueError(f"threshold {threshold.get('expr')!r}: unit {unit!r} is none of {sorted(UNIT.values())}")


def _measure(t: Threshold, summary: dict) -> tuple[float | None, str]:
    """The measured value (None: no data) and a note for the detail line ("", or the worst-name rule)."""
    duration = summary.get("duration_s") or 0
    if t.metric in SCALAR_METRICS:
        counters = summary.get("counters") or {}
        trips = counters.get("ok", 0) + counters.get("failed", 0)
        if t.metric == "fail_ratio":
            return (counters.get("failed", 0) / trips if trips else None), ""
        if t.metric == "rps":
            return (trips / duration if duration > 0 and counters else None), ""
        delivery = summary.get("delivery") or {}
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
