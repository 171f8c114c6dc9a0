"""Leaks: the Theil-Sen fit, each watched process's RSS growth and return, and `watch:NAME:rss_growth` thresholds."""

from __future__ import annotations

import random

import pytest
from scipy.stats import theilslopes

from chanload.exceptions import OptionError
from chanload.run import leaks, slo
from chanload.run.threshold import parse

T0 = 1_800_000_000
MB = 1_000_000


@pytest.mark.parametrize("seed", range(5))
def test_theil_sen_is_scipys_slope(seed):
    rng = random.Random(seed)
    xs = [float(i) for i in range(120)]
    ys = [100 * MB + 40_000 * x + rng.gauss(0, 200_000) for x in xs]
    for i in rng.sample(range(120), 6):  # spikes a least-squares fit would follow
        ys[i] += 50 * MB
    assert leaks.theil_sen(xs, ys) == pytest.approx(theilslopes(ys, xs).slope, rel=1e-9)
    assert leaks.theil_sen(xs, ys) == pytest.approx(40_000, rel=0.05)


def test_theil_sen_subsamples_a_long_series_to_bound_the_pairs():
    """Over max_points points, max_points evenly spaced ones are fitted: the same slope on a line, few pairs."""
    xs = [float(i) for i in range(5000)]
    ys = [3.0 * x + 7 + (1e6 if i % 997 == 0 else 0) for i, x in enumerate(xs)]
    assert leaks.theil_sen(xs, ys) == pytest.approx(3.0)
    small = leaks.theil_sen(xs, ys, max_points=50)
    keep = [round(i * 4999 / 49) for i in range(50)]
    assert small == pytest.approx(theilslopes([ys[i] for i in keep], [xs[i] for i in keep]).slope)
    with pytest.raises(ValueError):
        leaks.theil_sen([1.0, 1.0], [2.0, 3.0])


def series(rss, start: int = T0) -> list[dict]:
    return [{"second": start + i, "rss_bytes": int(r), "cpu": 0.1} for i, r in enumerate(rss)]


def test_a_steady_leak_is_its_slope_after_the_warm_up_and_not_back_after_the_load():
    """30 s of load: a 20 MB jump in the warm-up is left out; 1 MB/s after it is 60 MB/min; after the stop it stays."""
    rss = [50 * MB + (20 * MB if i >= 2 else 0) + (i * MB if i >= 6 else 0) for i in range(30)] + [97 * MB] * 5
    leak = leaks.process_leak(series(rss), T0, T0 + 30)
    assert leak["rss_growth_mb_per_min"] == pytest.approx(60.0)
    assert leak["steady_from_s"] == 6.0 and leak["steady_points"] == 24
    assert leak["returned"] is False and leak["peak_mb"] == 99.0 and leak["after_stop_mb"] == 97.0


def test_a_flat_process_with_spikes_does_not_grow_and_came_back():
    rng = random.Random(1)
    rss = [60 * MB + rng.randint(-100_000, 100_000) + (30 * MB if i in (12, 20) else 0) for i in range(30)]
    leak = leaks.process_leak(series(rss + [60 * MB] * 3), T0, T0 + 30)
    assert abs(leak["rss_growth_mb_per_min"]) < 0.5 and leak["returned"] is True


def test_growth_given_back_after_the_load_came_back():
    rss = [50 * MB + i * MB for i in range(30)] + [55 * MB, 52 * MB]
    assert leaks.process_leak(series(rss), T0, T0 + 30)["returned"] is True


def test_no_figure_without_a_steady_state_and_no_return_without_samples_after_the_stop():
    short = leaks.process_leak(series([MB] * 8), T0, T0 + 8)
    assert short["rss_growth_mb_per_min"] is None and "fewer than 5" in short["why"]
    assert leaks.process_leak([], T0, None)["why"] == "no RSS sample under load"
    open_ended = leaks.process_leak(series([MB * (1 + i) for i in range(30)]), T0, T0 + 30)
    assert open_ended["returned"] is None and "--watch-cooldown" in open_ended["why"]
    exited = series([MB] * 10) + [{"second": T0 + 10, "exited": True}]
    assert leaks.process_leak(exited, T0, T0 + 20)["steady_points"] == 5


def test_the_block_the_lines_and_the_threshold():
    summary = {"resources": {"processes": {"daphne": {"series": series([50 * MB + i * MB for i in range(30)])}}}}
    summary["leaks"] = leaks.block(summary["resources"], T0, T0 + 30)
    assert summary["leaks"]["daphne"]["rss_growth_mb_per_min"] == pytest.approx(60.0)
    assert leaks.block({"processes": {}}, T0, None) is None
    (line,) = leaks.lines(summary["leaks"])
    assert line.startswith("leak daphne: RSS +60.00 MB/min over the steady state (Theil-Sen, 24 s from 6 s;")
    assert line.endswith("RSS not measured")
    results = slo.evaluate(
        [parse("watch:daphne:rss_growth<5MB/min"), parse("watch:daphne:rss_growth < 100 MB/min"),
         parse("watch:redis:rss_growth<5MB/min")],
        summary,
    )  # fmt: skip
    assert [r.passed for r in results] == [False, True, False]
    assert results[0].detail == "measured 60 MB/min, limit < 5 MB/min"
    assert results[2].detail == "no data for watch:redis"
    assert slo.as_dicts(results)[0]["unit"] == "MB/min"


@pytest.mark.parametrize(
    ("expr", "limit"),
    [("watch:daphne:rss_growth<5MB/min", 5.0), ("watch:daphne:rss_growth<=500 KB/min", 0.5),
     ("watch:web-1:rss_growth<1GiB/min", 1073.741824), ("WATCH:daphne:RSS_GROWTH<2mib/m", 2.097152)],
)  # fmt: skip
def test_rss_growth_thresholds_parse_to_mb_per_minute(expr, limit):
    t = parse(expr)
    assert (t.metric, t.stat, t.limit) == ("watch", "rss_growth", pytest.approx(limit))
    assert t.name in ("daphne", "web-1") and t.target == f"watch:{t.name}"


@pytest.mark.parametrize(
    ("expr", "why"),
    [("watch::rss_growth<5MB/min", "write watch:NAME:rss_growth"),
     ("watch:daphne<5MB/min", "write watch:NAME:rss_growth"),
     ("watch:daphne:cpu<5MB/min", "unknown statistic 'cpu' of a watched process"),
     ("watch:daphne:rss_growth<5MB", "a size per minute"),
     ("watch:daphne:rss_growth<5", "a size per minute"),
     ("watch:daphne:rss_growth<fast", "bad number")],
)  # fmt: skip
def test_a_wrong_rss_growth_threshold_is_refused(expr, why):
    with pytest.raises(OptionError, match=why):
        parse(expr)


def test_a_threshold_on_a_process_not_watched_is_refused():
    with pytest.raises(
        OptionError, match=r"no watched process 'redis' \(--watch gives daphne\); add --watch redis=PID"
    ):
        leaks.check([parse("watch:redis:rss_growth<5MB/min")], (("daphne", 12),))
    with pytest.raises(OptionError, match="no --watch NAME=PID is given"):
        leaks.check([parse("watch:daphne:rss_growth<5MB/min")], ())
    leaks.check([parse("watch:daphne:rss_growth<5MB/min"), parse("rps>1")], (("daphne", 12),))
