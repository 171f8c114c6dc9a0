"""The threshold grammar, its errors, and evaluation on hand-built summaries."""

from __future__ import annotations

import pytest

from chanload.exceptions import OptionError
from chanload.run import slo


def row(metric: str, name: str, count: int = 100, failures: int = 0, **values: float | None) -> dict:
    """A summary latency row; latencies in microseconds, 1000 us everywhere unless given."""
    kind = "WS " + metric.replace("_", " ")
    latencies = {key: 1000 for key in ("min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max")}
    latencies.update(values)
    return {"type": kind, "name": name, "metric": metric, "count": count, "failures": failures, **latencies}


def summary(*rows: dict, duration_s: float = 10.0, ok: int = 1000, failed: int = 0, ratio: float | None = 1.0) -> dict:
    """A run summary as summary.build() makes it, with only what thresholds read."""
    delivery = None
    if ratio is not None:
        delivery = {"total": {"expected": 100, "delivered": 100, "missing": 0, "ratio": ratio}, "rooms": {}}
    return {
        "status": "completed",
        "duration_s": duration_s,
        "latency": list(rows),
        "counters": {"sent": ok + failed, "ok": ok, "failed": failed, "in_flight": 0},
        "delivery": delivery,
        "thresholds": [],
    }


def check(expr: str, data: dict) -> slo.Result:
    return slo.evaluate([slo.parse(expr)], data)[0]


def error(expr: str) -> str:
    with pytest.raises(OptionError) as info:
        slo.parse(expr)
    message = str(info.value)
    assert message.startswith(f"--slo {expr!r}: ")
    return message


# Parsing


@pytest.mark.parametrize("metric", slo.LATENCY_METRICS)
@pytest.mark.parametrize(
    "stat, limit, expected",
    [
        ("p50", "5ms", 5000),
        ("p90", "5ms", 5000),
        ("p95", "5ms", 5000),
        ("p99", "5ms", 5000),
        ("p99.9", "5ms", 5000),
        ("min", "5ms", 5000),
        ("max", "5ms", 5000),
        ("mean", "5ms", 5000),
        ("fail_ratio", "1%", 0.01),
        ("count", "5", 5),
        ("failures", "5", 5),
        ("rate", "5", 5),
    ],
)
def test_every_latency_metric_takes_every_stat(metric, stat, limit, expected):
    """Each latency metric accepts each statistic with a unit that fits it."""
    t = slo.parse(f"{metric}:{stat}<{limit}")
    assert (t.metric, t.name, t.stat, t.op, t.limit) == (metric, None, stat, "<", expected)


@pytest.mark.parametrize(
    "expr, metric, stat, limit",
    [
        ("fail_ratio<0.1%", "fail_ratio", "fail_ratio", 0.001),
        ("delivery_ratio>=99.99%", "delivery_ratio", "delivery_ratio", 0.9999),
        ("rps>=500", "rps", "rps", 500),
    ],
)
def test_scalar_metrics_parse(expr, metric, stat, limit):
    """fail_ratio, delivery_ratio and rps stand alone, without a statistic."""
    t = slo.parse(expr)
    assert (t.metric, t.name, t.stat, t.limit) == (metric, None, stat, limit)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_every_operator_parses(op):
    """All four comparisons are accepted."""
    assert slo.parse(f"message:p99{op}10ms").op == op


def test_name_restricts_to_one_route():
    """`@NAME` is kept verbatim, brackets and all."""
    t = slo.parse("message@room/[group]:p99<5ms")
    assert (t.metric, t.name, t.target) == ("message", "room/[group]", "message@room/[group]")


def test_whitespace_is_ignored():
    """Spaces around every part parse like the compact form."""
    spaced = slo.parse("  message @ room/[group] : p99  <  10 ms ")
    compact = slo.parse("message@room/[group]:p99<10ms")
    assert (spaced.metric, spaced.name, spaced.stat, spaced.op, spaced.limit) == (
        compact.metric,
        compact.name,
        compact.stat,
        compact.op,
        compact.limit,
    )


def test_time_units_convert_to_microseconds():
    """1 s, 1000 ms and 1e6 us are the same limit, in microseconds."""
    limits = {slo.parse(f"message:max<{text}").limit for text in ("1s", "1000ms", "1000000us", "1e6us", "0.001e3s")}
    assert limits == {1_000_000}


def test_fractional_units_convert_exactly():
    """Decimal limits do not pick up binary rounding: 1.5 ms is 1500 us, 99.99% is 0.9999."""
    assert slo.parse("message:p99<1.5ms").limit == 1500
    assert slo.parse("message:p99<0.25ms").limit == 250
    assert slo.parse("delivery_ratio>=99.99%").limit == 0.9999


def test_ratio_accepts_percent_or_fraction():
    """`0.1%` and `0.001` are the same ratio limit."""
    assert slo.parse("fail_ratio<0.1%").limit == slo.parse("fail_ratio<0.001").limit == 0.001


def test_rate_accepts_per_second_suffix():
    """`rate` and `rps` take a plain number or one followed by `/s`."""
    assert slo.parse("message:rate>=5/s").limit == 5
    assert slo.parse("rps>=500/s").limit == 500


def test_p99_9_key_spelling_is_accepted():
    """The summary key spelling `p99_9` is the same statistic as `p99.9`."""
    assert slo.parse("message:p99_9<1ms").stat == "p99.9"


def test_parse_all_keeps_order():
    """parse_all parses each expression in turn."""
    assert [t.expr for t in slo.parse_all(["rps>=1", "message:p99<1ms"])] == ["rps>=1", "message:p99<1ms"]


def test_parse_all_raises_on_first_bad():
    """One bad expression among good ones fails the lot, naming the bad one."""
    with pytest.raises(OptionError, match="'message:p99<1xs'"):
        slo.parse_all(["rps>=1", "message:p99<1xs"])


# Parse errors


@pytest.mark.parametrize("expr", ["", "   "])
def test_empty_expression_is_an_error(expr):
    """An empty threshold says so and shows the grammar."""
    assert "empty threshold" in error(expr)


def test_unknown_metric_lists_known_ones():
    """A misspelt metric is named, with the list of known metrics."""
    message = error("mesage:p99<10ms")
    assert "unknown metric 'mesage'" in message
    assert all(metric in message for metric in slo.METRICS)


def test_unknown_stat_is_named():
    """A statistic that does not exist is named, with the known ones."""
    message = error("message:p98<10ms")
    assert "unknown statistic 'p98'" in message
    assert "p99.9" in message


def test_latency_metric_without_stat_is_an_error():
    """`message<10ms` asks for a statistic."""
    assert "'message' needs a statistic" in error("message<10ms")


def test_scalar_metric_with_stat_is_an_error():
    """`rps:p99<1` says rps takes no statistic."""
    assert "takes no ':STAT'" in error("rps:p99<1")


def test_scalar_metric_with_name_is_an_error():
    """`fail_ratio@x` points at the per-metric form instead."""
    assert "takes no '@NAME'" in error("fail_ratio@room<1%")


def test_empty_name_is_an_error():
    """A bare `@` is pointed at."""
    assert "empty name after '@'" in error("message@:p99<1ms")


@pytest.mark.parametrize(
    "expr, op", [("message:p99=10ms", "="), ("message:p99==10ms", "=="), ("message:p99=<1ms", "=<")]
)
def test_bad_operator_is_named(expr, op):
    """An operator that is not <, <=, > or >= is quoted back."""
    assert f"bad operator {op!r}" in error(expr)


def test_missing_operator_is_an_error():
    """An expression with no comparison says what to use."""
    assert "no comparison" in error("message:p99 10ms")


@pytest.mark.parametrize("expr, bad", [("message:p99<abc", "abc"), ("message:p99<1.2.3ms", "1.2.3"), ("rps>=-5", "-5")])
def test_bad_number_is_named(expr, bad):
    """A limit that is not a non-negative number is quoted back."""
    assert f"bad number {bad!r}" in error(expr)


def test_missing_limit_is_an_error():
    """Nothing after the operator is pointed at."""
    assert "missing limit after '<'" in error("message:p99<")


def test_unknown_unit_is_named():
    """The brief's own example: an unknown time unit is quoted with the ones to use."""
    assert error("message:p99<10xs") == "--slo 'message:p99<10xs': unknown unit 'xs' (use us, ms, s)"


def test_latency_without_unit_asks_for_one():
    """`p99<10` is ambiguous; the message says to add a unit and shows how."""
    message = error("message:p99<10")
    assert "add a unit (us, ms, s)" in message
    assert "'message:p99<10ms'" in message


def test_time_unit_on_a_ratio_is_an_error():
    """`fail_ratio<10ms` names the unit that does not fit."""
    assert "unit 'ms' does not fit 'fail_ratio'" in error("fail_ratio<10ms")


def test_percent_on_a_latency_is_an_error():
    """`connect:p95<5%` names the unit that does not fit."""
    assert "unit '%' does not fit latency statistic 'p95'" in error("connect:p95<5%")


@pytest.mark.parametrize("expr", ["message:count>10ms", "message:failures<1%", "rps>=5ms"])
def test_unit_on_a_plain_number_is_an_error(expr):
    """count, failures, rate and rps take no unit."""
    assert "does not fit" in error(expr)


@pytest.mark.parametrize("expr, hint", [("delivery_ratio>=99.99", "99.99%"), ("fail_ratio<101%", "above 100%")])
def test_ratio_out_of_range_is_an_error(expr, hint):
    """A ratio above 1 (or 100%) is refused, suggesting the percent form."""
    assert hint in error(expr)


# Evaluation


def test_latency_threshold_passes_and_fails():
    """p99 of 812 us passes < 10 ms and fails < 500 us, with the measured value in the detail."""
    data = summary(row("message", "room/[group]", p99=812))
    ok = check("message:p99<10ms", data)
    assert (ok.passed, ok.value, ok.detail) == (True, 812, "measured 812 us, limit < 10 ms")
    bad = check("message:p99<500us", data)
    assert (bad.passed, bad.value, bad.detail) == (False, 812, "measured 812 us, limit < 500 us")


def test_boundary_respects_the_operator():
    """A value equal to the limit passes <= and >=, fails < and >."""
    data = summary(row("connect", "connect", p95=5000))
    assert [check(f"connect:p95{op}5ms", data).passed for op in ("<", "<=", ">", ">=")] == [False, True, False, True]


def test_named_threshold_reads_only_its_row():
    """`@NAME` measures that route alone."""
    data = summary(row("message", "a", p99=100), row("message", "b", p99=9000))
    assert check("message@a:p99<1ms", data).value == 100
    assert check("message@b:p99<1ms", data).value == 9000


def test_percentile_over_several_names_uses_the_worst_row():
    """Without a name, < takes the largest row value, > the smallest, and the detail says so."""
    data = summary(row("message", "a", p99=100), row("message", "b", p99=9000))
    upper = check("message:p99<10ms", data)
    assert upper.value == 9000
    assert "worst of 2 names: b" in upper.detail
    lower = check("message:p99>50us", data)
    assert lower.value == 100
    assert "worst of 2 names: a" in lower.detail


def test_single_name_needs_no_worst_row_note():
    """With one name the row's value is exact and the detail carries no note."""
    assert "worst" not in check("message:p99<10ms", summary(row("message", "a"))).detail


def test_additive_stats_are_exact_over_names():
    """count, failures, fail_ratio, rate, min, max and mean merge exactly across names."""
    data = summary(
        row("message", "a", count=300, failures=10, min=50, max=4000, mean=100),
        row("message", "b", count=100, failures=90, min=80, max=9000, mean=500),
        duration_s=4,
    )
    values = {
        stat: check(f"message:{stat}>=0{'us' if stat in ('min', 'max', 'mean') else ''}", data).value
        for stat in ("count", "failures", "fail_ratio", "rate", "min", "max", "mean")
    }
    assert values == {
        "count": 400,
        "failures": 100,
        "fail_ratio": 0.2,
        "rate": 100,
        "min": 50,
        "max": 9000,
        "mean": 200,
    }


def test_scalar_metrics_read_counters_and_delivery():
    """fail_ratio and rps come from the counters, delivery_ratio from delivery.total."""
    data = summary(ok=990, failed=10, duration_s=2, ratio=0.9995)
    assert check("fail_ratio<2%", data).value == 0.01
    assert check("rps>=500", data).value == 500
    assert check("delivery_ratio>=99.99%", data).value == 0.9995
    assert check("fail_ratio<2%", data).detail == "measured 1%, limit < 2%"
    assert not check("delivery_ratio>=99.99%", data).passed
    assert check("delivery_ratio>=99.9%", data).passed


@pytest.mark.parametrize(
    "expr, data",
    [
        ("message@room/[group]:p99<5ms", summary(row("message", "other"))),
        ("delivery:p99<5ms", summary(row("message", "a"))),
        ("message:p99<5ms", summary(row("message", "a", count=0, failures=5, p99=None))),
        ("message:fail_ratio<1%", summary(row("message", "a", count=0, failures=0))),
        ("delivery_ratio>=99%", summary(ratio=None)),
        ("fail_ratio<1%", summary(ok=0, failed=0)),
        ("rps>=1", summary(duration_s=0)),
    ],
)
def test_no_data_fails(expr, data):
    """A threshold with nothing to measure is a FAIL that says what had no data."""
    result = check(expr, data)
    assert (result.passed, result.value) == (False, None)
    assert result.detail == f"no data for {slo.parse(expr).target}"


def test_no_data_detail_names_the_route():
    """The detail names the metric and route that had no data."""
    assert check("message@room/[group]:p99<5ms", summary()).detail == "no data for message@room/[group]"


# Early abort


@pytest.mark.parametrize(
    "expr, certain",
    [
        ("message:max<1ms", True),  # max 2000 us already above: can only grow
        ("message:max<=2ms", False),  # at the limit, not above
        ("message:count<50", True),  # 100 already counted
        ("message:failures<=2", True),  # 3 failures already
        ("message:failures<5", False),
        ("message:min>1ms", True),  # min 500 us: can only shrink
        ("message:p99<1us", False),  # percentiles can come back down
        ("message:mean<1us", False),
        ("message:count>=1000", False),  # more may come
        ("message:max>1s", False),
        ("fail_ratio<0.1%", False),  # ratios can recover
        ("rps>=1000000", False),
        ("connect:max<1us", False),  # no data yet
    ],
)
def test_certain_to_fail_only_for_broken_monotonic_stats(expr, certain):
    """Only max/count/failures above a < or <= limit (or min below >) can never pass again."""
    data = summary(row("message", "a", count=100, failures=3, min=500, max=2000, p99=1500, mean=800))
    assert slo.certain_to_fail(slo.parse(expr), data) is certain


# Output


def test_as_dicts_has_the_summary_fields():
    """Each result becomes the dict summary["thresholds"] holds, limit and value normalised."""
    results = slo.evaluate(slo.parse_all(["message@a:p99<10ms", "fail_ratio<1%"]), summary(row("message", "a")))
    latency, ratio = slo.as_dicts(results)
    assert latency == {
        "expr": "message@a:p99<10ms",
        "metric": "message",
        "name": "a",
        "stat": "p99",
        "op": "<",
        "limit": 10000,
        "unit": "us",
        "relative": False,
        "value": 1000,
        "passed": True,
        "detail": "measured 1 ms, limit < 10 ms",
    }
    assert (ratio["unit"], ratio["limit"], ratio["value"], ratio["name"]) == ("fraction", 0.01, 0.0, None)


@pytest.mark.parametrize(
    "stat, value, text",
    [
        ("p99", 452, "452 us"),
        ("mean", 452.25, "452.2 us"),
        ("p99", 12_345, "12.345 ms"),
        ("p99", 10_000, "10 ms"),
        ("max", 1_234_567, "1.235 s"),
        ("fail_ratio", 0.001, "0.1%"),
        ("delivery_ratio", 0.9999, "99.99%"),
        ("count", 1234, "1234"),
        ("rate", 512.54, "512.5/s"),
        ("rps", 500, "500/s"),
        ("p99", None, "-"),
    ],
)
def test_format_value_picks_the_unit(stat, value, text):
    """Latencies in us/ms/s, ratios in %, counts bare, rates per second."""
    assert slo.format_value(stat, value) == text
