"""Finer response-time buckets for Locust's own stats, so sub-millisecond latencies stay visible.

Locust keeps response times in a dict keyed by a rounded value and rounds everything below 100 ms
to whole milliseconds (`locust.stats.bucket_response_time`), so a 0.45 ms round trip reads 0 ms.
Locust made that function replaceable in 2.43.4; we keep 3 significant digits instead (<= 0.5%
error), and let its CSV percentiles keep those digits instead of truncating to int.
"""

from __future__ import annotations

import math


def bucket_response_time(response_time: float) -> float:
    """Round to 3 significant digits: 0.4537 -> 0.454, 12.345 -> 12.3, 4567 -> 4570."""
    if response_time <= 0:
        return 0
    return round(response_time, 2 - math.floor(math.log10(response_time)))


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
    import locust.stats  # noqa: PLC0415 - importing locust monkey-patches the process; only when used

    locust.stats.bucket_response_time = bucket_response_time
    locust.stats.StatsCSV._percentile_fields = _percentile_fields
