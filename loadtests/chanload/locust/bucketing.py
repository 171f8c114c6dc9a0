"""Finer response-time buckets for Locust's own stats, so sub-millisecond latencies stay visible.

Locust keeps response times in a dict keyed by a rounded value and rounds everything below 100 ms
to whole milliseconds (`locust.stats.bucket_response_time`), so a 0.45 ms round trip reads 0 ms.
Locust made that function replaceable in 2.43.4; we keep 3 significant digits instead (<= 0.5%
error; 1 us steps below 1 ms), and let its CSV percentiles keep those digits instead of truncating.
"""

from __future__ import annotations


def bucket_response_time(response_time: float) -> float:
    """Round to 3 significant digits and never finer than 1 us: 0.4537 -> 0.454, 12.345 -> 12.3, 4567 -> 4570.

    Called by Locust for every request, so it works in integer microseconds: `round(x, n)` on a float
    and `math.log10` made Locust's stats cost about a tenth of a round trip (benchmarks/README.md).
    Halves round up (Python's round() would round them to even): at most half a bucket either way.
    """
    if response_time <= 0:
        return 0
    us = response_time * 1000.0
    if us < 999.5:  # below 1 ms: 1 us buckets
        return int(us + 0.5) / 1000
    if us < 9_995.0:  # 1-10 ms: 10 us
        return int(us / 10 + 0.5) / 100
    if us < 99_950.0:  # 10-100 ms: 0.1 ms
        return int(us / 100 + 0.5) / 10
    step = 1_000  # 100 ms and up: 3 significant digits, in whole ms
    while us >= step * 999.5:
        step *= 10
    return float(int(us / step + 0.5) * step // 1_000)


def _percentile_fields(self, stats_entry, use_current: bool = False):
    # Same as locust.stats.StatsCSV._percentile_fields (2.47) but without int(), which floors 0.45 to 0.
    if not stats_entry.num_requests:
        return self.percentiles_na
    if use_current and stats_entry.use_response_times_cache:
        values = [stats_entry.get_current_response_time_percentile(x) or 0 for x in self.percentiles_to_report]
    else:
        values = [stats_entry.get_response_time_percentile(x) or 0 for x in self.percentiles_to_report]
    return [bucket_response_time(v) for v in values]


def install() -> None:
    import locust.stats  # importing locust monkey-patches the process; only when used

    # Replacing Locust's functions is the point (Locust made bucket_response_time replaceable in 2.43.4).
    locust.stats.bucket_response_time = bucket_response_time  # type: ignore[assignment]
    locust.stats.StatsCSV._percentile_fields = _percentile_fields  # type: ignore[method-assign]
