"""Prometheus `/metrics` (`--ws-metrics-port`): latency as true histograms, counters, gauges, thresholds.

Nothing is observed per message. At each scrape a custom collector reads the live view
(`chanload.run.live`) and the run's merged HDR histograms (on a master, merged from every worker's
slices), and turns each histogram into cumulative bucket counts. The hot path pays nothing, and
Prometheus sees exactly the samples the end-of-run table counts.

Bucketing: a sample counts in the first bucket whose upper bound is at least the top of its HDR
bucket, the value HDR's percentiles report. Below 2.048 ms HDR keeps every microsecond, so a bound
there splits samples exactly; above it HDR's buckets are 0.1% wide or less, and a sample within that
much below a bound (4000 us is stored as 4000-4001 us) counts in the next bucket up: never faster
than it was.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator

from gevent import pywsgi
from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from chanload.exceptions import OptionError
from chanload.recording.latency import Aggregate, Counts
from chanload.run.live import View, in_flight

log = logging.getLogger("chanload")

# Bucket upper bounds in microseconds: fine enough to tell 200 us from 400 us and 2 ms from 4 ms.
BUCKETS_US = (
    *(50, 100, 150, 200, 250, 300, 400, 500, 600, 800),
    *(1_000, 1_250, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000, 8_000),
    *(10_000, 15_000, 20_000, 30_000, 50_000, 75_000, 100_000, 150_000, 250_000, 500_000),
    *(1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000),
)

# Every metric the exporter serves (the names Prometheus shows, suffixes included) and its labels.
# The Grafana dashboard is checked against this list (tests/watch/test_grafana.py).
EXPORTED: dict[str, tuple[str, ...]] = {
    "chanload_ws_latency_seconds_bucket": ("type", "name", "le"),
    "chanload_ws_latency_seconds_count": ("type", "name"),
    "chanload_ws_latency_seconds_sum": ("type", "name"),
    "chanload_ws_latency_failures_total": ("type", "name"),
    "chanload_ws_messages_total": ("result",),
    "chanload_ws_messages_in_flight": (),
    "chanload_ws_failures_total": ("kind",),
    "chanload_ws_connects_total": ("result",),
    "chanload_ws_drops_total": ("cause",),
    "chanload_ws_delivery_total": ("outcome",),
    "chanload_ws_users": (),
    "chanload_ws_open_connections": (),
    "chanload_ws_threshold_passing": ("slo",),
    "chanload_target_cpu_ratio": ("process",),
    "chanload_target_rss_bytes": ("process",),
    "chanload_target_fds": ("process",),
    "chanload_redis_ops_per_second": (),
    "chanload_channel_layer_queued": ("queue",),
}

Read = Callable[[], tuple[View, Aggregate]]


def buckets(h: HdrHistogram) -> tuple[list[tuple[str, int]], float]:
    """Cumulative (le, count) pairs in seconds, +Inf last, and the sum in seconds (HDR mean x count)."""
    counts = Counts(h)
    pairs = [(_le(bound), n) for bound, n in zip(BUCKETS_US, counts.at_most(BUCKETS_US), strict=True)]
    pairs.append(("+Inf", counts.total))
    return pairs, counts.mean() * counts.total / 1e6


def _le(us: int) -> str:
    return repr(us / 1e6)


class Collector:
    """A prometheus_client collector that builds every family from the live view at scrape time."""

    def __init__(self, read: Read) -> None:
        self._read = read

    def describe(self) -> list:
        return []  # unchecked collector: families are built at collect time

    def collect(self) -> Iterator:
        live, aggregate = self._read()
        yield from families(live, aggregate)


def families(live: View, aggregate: Aggregate) -> Iterator:
    """Every exported family for one view of the run."""
    latency = HistogramMetricFamily(
        "chanload_ws_latency_seconds",
        "Websocket latency per request type and route name, from the run's merged HDR histograms.",
        labels=["type", "name"],
    )
    failed = CounterMetricFamily(
        "chanload_ws_latency_failures", "Failed requests per type and name (no latency).", labels=["type", "name"]
    )
    for key in aggregate.keys():
        pairs, total = buckets(aggregate.histogram(key))
        latency.add_metric(list(key), pairs, total)
        failed.add_metric(list(key), aggregate.failures.get(key, 0))
    yield latency
    yield failed

    counters = live.summary["counters"]
    messages = CounterMetricFamily(
        "chanload_ws_messages", "Message round trips by result (sent = ok + failed + in flight).", labels=["result"]
    )
    messages.add_metric(["ok"], counters.get("ok", 0))
    messages.add_metric(["failed"], counters.get("failed", 0))
    yield messages
    yield GaugeMetricFamily(
        "chanload_ws_messages_in_flight", "Messages sent and not yet answered.", value=in_flight(counters)
    )
    kinds = CounterMetricFamily("chanload_ws_failures", "Failures by class.", labels=["kind"])
    for kind, n in sorted((counters.get("failure_kinds") or {}).items()):
        kinds.add_metric([kind], n)
    yield kinds
    connects = CounterMetricFamily("chanload_ws_connects", "Websocket handshakes by result.", labels=["result"])
    connects.add_metric(["ok"], counters.get("connects", 0))
    connects.add_metric(["failed"], counters.get("connect_failures", 0))
    yield connects
    drops = CounterMetricFamily(
        "chanload_ws_drops", "Connections that dropped, by cause (docs/restarts.md).", labels=["cause"]
    )
    for cause, n in sorted((counters.get("drops") or {}).items()):
        drops.add_metric([cause], n)
    yield drops

    delivery = CounterMetricFamily(
        "chanload_ws_delivery",
        "Broadcast deliveries: delivered + missing = expected; duplicated and reordered are counted apart.",
        labels=["outcome"],
    )
    delivered = (live.summary.get("delivery") or {}).get("total") or {}
    for outcome in ("delivered", "missing", "duplicated", "reordered", "away"):
        delivery.add_metric([outcome], delivered.get(outcome, 0))
    yield delivery

    yield GaugeMetricFamily("chanload_ws_users", "Locust users running.", value=live.users)
    yield GaugeMetricFamily("chanload_ws_open_connections", "Open websockets.", value=live.open_connections)
    passing = GaugeMetricFamily(
        "chanload_ws_threshold_passing", "1 if the --slo threshold passes on the data so far, else 0.", labels=["slo"]
    )
    for t in live.thresholds:
        passing.add_metric([t["expr"]], 1 if t["passed"] else 0)
    yield passing
    yield from resource_families(live.summary.get("resources") or {})


def resource_families(resources: dict) -> Iterator:
    """The watched resources' latest second (--watch, --watch-redis); a process that exited, or a Redis that did
    not answer that second, has no sample."""
    cpu = GaugeMetricFamily(
        "chanload_target_cpu_ratio",
        "A watched process and its children: CPU seconds per second (1 = one core busy), last second.",
        labels=["process"],
    )
    rss = GaugeMetricFamily("chanload_target_rss_bytes", "A watched process tree's RSS.", labels=["process"])
    fds = GaugeMetricFamily("chanload_target_fds", "A watched process tree's open descriptors.", labels=["process"])
    for name, process in (resources.get("processes") or {}).items():
        now = process.get("latest") or {}
        if "cpu" in now:
            cpu.add_metric([name], now["cpu"])
            rss.add_metric([name], now["rss_bytes"])
            fds.add_metric([name], now["fds"])
    ops = GaugeMetricFamily("chanload_redis_ops_per_second", "Commands Redis processed per second (--watch-redis).")
    queued = GaugeMetricFamily(
        "chanload_channel_layer_queued",
        "Messages waiting in the channel layer's queues: in all of them (total), in the fullest one (max).",
        labels=["queue"],
    )
    for r in (resources.get("redis") or {}).values():
        now = r.get("latest") or {}
        if now.get("available"):
            ops.add_metric([], now["ops_per_second"])
            if "queued_total" in now:
                queued.add_metric(["total"], now["queued_total"])
                queued.add_metric(["max"], now["queued_max"])
    yield from (cpu, rss, fds, ops, queued)


def serve(read: Read, host: str, port: int) -> pywsgi.WSGIServer:
    """Serve /metrics on host:port in this (gevent) process; raise OptionError if the port is taken."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(read))
    server = pywsgi.WSGIServer((host, port), make_wsgi_app(registry), log=None)
    try:
        server.start()
    except OSError as exc:
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        raise OptionError(
            f"--ws-metrics-port {port}: {host}:{port} {why}; pick another port (or pass 0 to turn metrics off)"
        ) from None
    log.info("chanload: Prometheus metrics on http://%s:%d/metrics", host, server.server_port)
    return server
