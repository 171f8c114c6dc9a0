"""SLO thresholds as written: the `--slo` grammar, parsed into `Threshold`s (evaluated by `chanload.run.slo`).

Grammar (one threshold per `--slo`; whitespace anywhere is ignored):

    METRIC[@NAME]:STAT OP NUMBER[UNIT]     a statistic of a latency metric
    fail_ratio OP N%                       failed / (ok + failed) message round trips, whole run
    delivery_ratio OP N%                   broadcast deliveries received / expected (tail included), whole run
    rps OP N                               message round trips (ok + failed) per second of the run
    recovery OP TIME                       the slowest drill's recovery (chanload.run.recovery), e.g. recovery<10s
    missed_ratio OP N%                     marks missed while away / (expected + missed while away), whole run
    watch:NAME:rss_growth OP N MB/min      a --watch NAME=PID process's RSS growth under steady load
                                           (chanload.run.leaks), e.g. watch:daphne:rss_growth<5MB/min

- METRIC is a latency metric as the summary names it: `connect`, `message`, `message_corrected`,
  `delivery`, `login`, `reconnect`
  (request type `WS message corrected` -> `message_corrected`, `HTTP login` -> `login`).
- `@NAME` keeps one route name, e.g. `message@room/[group]:p99<5ms`. Without it the threshold covers every
  name of that metric.
- STAT is one of
  - `p50 p90 p95 p99 p99.9 min max mean`: latencies; a unit is required: `us`, `ms` or `s`;
  - `fail_ratio`: failures / (successes + failures) of that metric; `N%` or a fraction (`0.001`);
  - `count`, `failures`: numbers of successes and of failures; no unit;
  - `rate`: successes per second of the run's duration; no unit (`/s` is accepted).
- `rss_growth` limits take a unit per minute: `KB/min`, `MB/min`, `GB/min` (10^3, 10^6, 10^9 bytes) or `KiB/min`,
  `MiB/min`, `GiB/min`; normalised to MB/min.
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

How they are evaluated (no data FAILS; several names: the worst one's percentile) is in `chanload.run.slo`.

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

LATENCY_METRICS = ("connect", "message", "message_corrected", "delivery", "login", "reconnect")
SCALAR_METRICS = ("fail_ratio", "delivery_ratio", "rps", "recovery", "missed_ratio")
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
    "missed_ratio": "ratio",
    "recovery": "latency",  # the slowest drill's recovery (chanload.run.recovery), a time
    "count": "count",
    "failures": "count",
    "rate": "rate",
    "rps": "rate",
    "rss_growth": "growth",  # MB per minute (chanload.run.leaks)
}
# The unit of a threshold's normalised limit and measured value, as written to summary.json.
UNIT = {"latency": "us", "ratio": "fraction", "count": "count", "rate": "per_s", "relative": "x", "growth": "MB/min"}
# An rss_growth limit's unit -> MB (10^6 bytes).
GROWTH_UNITS = {"kb": Decimal("0.001"), "mb": Decimal(1), "gb": Decimal(1000), "kib": Decimal("0.001024"),
                "mib": Decimal("1.048576"), "gib": Decimal("1073.741824")}  # fmt: skip
TIME_UNITS = {"us": Decimal(1), "ms": Decimal(1000), "s": Decimal(1_000_000)}

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

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
        """What is measured: 'message', 'message@room/[group]', 'rps', 'watch:daphne'."""
        if self.metric == "watch":
            return f"watch:{self.name}"
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
    if lhs.lower().startswith("watch:"):
        return _watch(text, lhs, op, rhs, fail)

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


def _watch(text: str, lhs: str, op: str, rhs: str, fail: Callable[[str], OptionError]) -> Threshold:
    """A watched process's figure: 'watch:daphne:rss_growth<5MB/min' (MB/min)."""
    name, colon, stat = lhs[len("watch:") :].rpartition(":")
    example = f"'watch:{name.strip() or 'daphne'}:rss_growth<5MB/min'"
    if not colon or not name.strip():
        raise fail(f"write watch:NAME:rss_growth OP LIMIT, NAME as in --watch NAME=PID, e.g. {example}")
    if stat.strip().lower() != "rss_growth":
        raise fail(f"unknown statistic {stat.strip()!r} of a watched process (use rss_growth, e.g. {example})")
    token = _NUMBER_TOKEN.match(rhs).group()  # type: ignore[union-attr]  # matches the empty string at least
    if not _NUMBER.fullmatch(token):
        raise fail(f"bad number {(token or rhs)!r}; limits are non-negative numbers, e.g. {example}")
    unit = rhs[len(token) :].strip().lower().replace(" ", "")
    per, slash, minute = unit.partition("/")
    if not slash or minute not in ("min", "m") or per not in GROWTH_UNITS:
        raise fail(f"rss_growth takes a size per minute: KB/min, MB/min, GB/min (or KiB, MiB, GiB), e.g. {example}")
    limit = float(Decimal(token) * GROWTH_UNITS[per])
    return Threshold(expr=text, metric="watch", name=name.strip(), stat="rss_growth", op=op, limit=limit)


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
