"""Prometheus exporter: HDR histograms as cumulative buckets, the exported names, a real Prometheus scraping a run."""

from __future__ import annotations

import bisect
import re
import shlex
import socket
import subprocess
import sys
import time

import pytest

from chanload.recording.latency import Aggregate, Slice, new_histogram
from chanload.recording.resources import Resources
from chanload.run.live import View
from chanload.watch.metrics import BUCKETS_US, EXPORTED, buckets, families
from tests.locustrun import live_locust, run_locust
from tests.servers import ROOT, UNIT, free_port, prometheus, stop, wait_for_port


def histogram(*values_us: int):
    h = new_histogram()
    for v in values_us:
        h.record_value(v)
    return h


def cumulative(h) -> dict[float, int]:
    pairs, _ = buckets(h)
    return {float(le): n for le, n in pairs}


def test_buckets_tell_200us_from_400us_and_2ms_from_4ms():
    """200 us and 400 us land in different buckets, and so do 2 ms and 4 ms."""
    counts = cumulative(histogram(200, 400, 2000, 3999))
    assert counts[0.0002] == 1
    assert counts[0.0003] == 1
    assert counts[0.0004] == 2
    assert counts[0.0015] == 2
    assert counts[0.002] == 3
    assert counts[0.003] == 3
    assert counts[0.004] == 4
    assert counts[float("inf")] == 4


def test_a_sample_on_a_bound_above_2ms_counts_one_bucket_up():
    """HDR stores 4000 us as 4000-4001 us: it counts above the 4 ms bound, never faster than it was."""
    counts = cumulative(histogram(4000))
    assert counts[0.004] == 0
    assert counts[0.005] == 1
    # Below 2.048 ms HDR keeps every microsecond: a sample on a bound counts in that bucket.
    assert cumulative(histogram(2000))[0.002] == 1


def test_sum_and_count_come_from_the_histogram():
    """_count is the exact sample count; _sum is HDR's mean times the count."""
    h = histogram(*([300] * 7), 1200, 50_000)
    pairs, total = buckets(h)
    assert pairs[-1] == ("+Inf", 9)
    assert [le for le, _ in pairs[:-1]] == [repr(b / 1e6) for b in BUCKETS_US]
    assert abs(total - (7 * 300 + 1200 + 50_000) / 1e6) < 0.001 * total
    counts = [n for _, n in pairs]
    assert counts == sorted(counts)


def view_with_everything() -> tuple[View, Aggregate]:
    aggregate = Aggregate()
    aggregate.add(Slice(1, ("WS message", "room/[group]"), histogram(300, 900), failures=1))
    counters = {
        "sent": 5, "ok": 2, "failed": 1, "in_flight": 0, "connects": 3, "connect_failures": 1,
        "failure_kinds": {"reply timeout": 1, "connection refused": 1}, "drops": {"abnormal close 1006": 4},
    }  # fmt: skip
    total = {"expected": 10, "delivered": 9, "missing": 1, "duplicated": 0, "reordered": 2, "ratio": 0.9}
    summary = {"status": "running", "counters": counters, "delivery": {"total": total, "rooms": {"r1": total}}}
    thresholds = [{"expr": "message:p99<10ms", "passed": True, "detail": "measured 900 us"}]
    summary["resources"] = watched().to_dict(series=False)
    return View(summary, users=3, open_connections=2, thresholds=thresholds), aggregate


def watched() -> Resources:
    """A watched daphne, a watched process that exited, and Redis with its channel layer."""
    book = Resources()
    book.add("processes", "daphne", {"second": 10, "cpu": 0.5, "rss_bytes": 2**26, "fds": 40})
    book.add("processes", "worker", {"second": 10, "exited": True})
    layer = {"queued_total": 7, "queued_max": 5}
    book.add("redis", "redis", {"second": 10, "available": True, "ops_per_second": 1200.0, **layer})
    return book


def test_every_exported_sample_is_in_the_shared_list():
    """The exporter serves exactly the names and labels of metrics.EXPORTED (which the dashboard test reads)."""
    live, aggregate = view_with_everything()
    served: dict[str, set[str]] = {}
    for family in families(live, aggregate):
        for sample in family.samples:
            served.setdefault(sample.name, set()).update(sample.labels)
    assert {name: sorted(labels) for name, labels in served.items()} == {
        name: sorted(labels) for name, labels in EXPORTED.items()
    }


def test_in_flight_and_counters_follow_the_ledger():
    """Messages in flight are sent - ok - failed; failures by class and delivery outcomes as counted."""
    live, aggregate = view_with_everything()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families(live, aggregate) for s in f.samples}
    assert samples[("chanload_ws_messages_in_flight", ())] == 2
    assert samples[("chanload_ws_failures_total", (("kind", "reply timeout"),))] == 1
    assert samples[("chanload_ws_delivery_total", (("outcome", "missing"),))] == 1
    assert samples[("chanload_ws_drops_total", (("cause", "abnormal close 1006"),))] == 4
    assert samples[("chanload_ws_threshold_passing", (("slo", "message:p99<10ms"),))] == 1
    assert samples[("chanload_ws_open_connections", ())] == 2


def test_resources_are_the_latest_second_and_an_exited_process_has_none():
    """Watched processes by name, Redis ops/s and the layer's queued total and max; nothing for an exited one."""
    live, aggregate = view_with_everything()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families(live, aggregate) for s in f.samples}
    assert samples[("chanload_target_cpu_ratio", (("process", "daphne"),))] == 0.5
    assert samples[("chanload_target_rss_bytes", (("process", "daphne"),))] == 2**26
    assert samples[("chanload_target_fds", (("process", "daphne"),))] == 40
    assert ("chanload_target_cpu_ratio", (("process", "worker"),)) not in samples
    assert samples[("chanload_redis_ops_per_second", ())] == 1200.0
    assert samples[("chanload_channel_layer_queued", (("queue", "total"),))] == 7
    assert samples[("chanload_channel_layer_queued", (("queue", "max"),))] == 5
    # A second Redis did not answer: no ops, no queue figures (not zeros).
    book = watched()
    book.add("redis", "redis", {"second": 11, "available": False, "error": "Timeout"})
    live.summary["resources"] = book.to_dict(series=False)
    names = {s.name for f in families(live, aggregate) for s in f.samples}
    assert "chanload_redis_ops_per_second" not in names and "chanload_channel_layer_queued" not in names


@pytest.mark.e2e
def test_a_taken_metrics_port_fails_before_any_load(tmp_path):
    """--ws-metrics-port on a port in use: exit 2, the message names the option, no run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        run = run_locust(tmp_path, f"ws://127.0.0.1:{free_port()}", "--ws-metrics-port", str(port))
    assert run.code == 2, run.output[-2000:]
    assert f"--ws-metrics-port {port}" in run.output
    assert "in use" in run.output
    assert not run.report_dir.exists()


@pytest.mark.e2e
def test_a_metrics_port_out_of_range_is_an_option_error(tmp_path):
    """--ws-metrics-port 70000 is not a port: exit 2 before any load."""
    run = run_locust(tmp_path, f"ws://127.0.0.1:{free_port()}", "--ws-metrics-port", "70000")
    assert run.code == 2
    assert "--ws-metrics-port 70000" in run.output


def bucket_index(seconds: float) -> int:
    return bisect.bisect_left([b / 1e6 for b in BUCKETS_US], seconds)


@pytest.mark.e2e
@pytest.mark.prometheus
def test_prometheus_sees_the_runs_histograms(tmp_path, target):
    """Debian's prometheus scrapes a run every second: _count equals summary.json, p50 within one bucket of HDR's."""
    metrics_port = free_port()
    with prometheus(metrics_port) as prom:
        # Prometheus starts scraping a new target only after its first discovery round (up to ~5 s): wait
        # until it is trying (its `up` series exists, 0 while nothing listens), so the short run is scraped.
        deadline = time.monotonic() + 30 * UNIT
        while not _scraping(prom):
            assert time.monotonic() < deadline, "Prometheus never started scraping"
            time.sleep(0.2)
        args = (
            "--host", target.ws_url, "--autostart", "--autoquit", str(int(60 * UNIT)), "-u", "5", "-r", "5",
            "-t", f"{4 * UNIT:g}s", "--ws-think", "0.01-0.03", "--ws-metrics-port", str(metrics_port),
        )  # fmt: skip
        with live_locust(tmp_path, *args) as locust:
            # The run writes summary.json when it stops; the process stays up (--autoquit) to be scraped.
            deadline = time.monotonic() + 30 * UNIT
            while not (locust.report_dir / "summary.json").exists():
                assert time.monotonic() < deadline, locust.output()[-3000:]
                assert locust.proc.poll() is None, locust.output()[-3000:]
                time.sleep(0.2)
            summary = locust.summary()
            row = next(r for r in summary["latency"] if r["type"] == "WS message")
            series = 'chanload_ws_latency_seconds_count{type="WS message",name="room/[group]"}'
            deadline = time.monotonic() + 15 * UNIT
            while prom.value(series) != row["count"]:
                assert time.monotonic() < deadline, f"Prometheus: {prom.value(series)}, summary: {row['count']}"
                time.sleep(0.5)
            median = prom.value(
                'histogram_quantile(0.5, chanload_ws_latency_seconds_bucket{type="WS message",name="room/[group]"})'
            )
            ok = prom.value('chanload_ws_messages_total{result="ok"}')
            connects = prom.value('chanload_ws_connects_total{result="ok"}')
            users = prom.value("max_over_time(chanload_ws_users[1m])")
        assert "Traceback" not in locust.output()
    assert row["count"] > 0
    # not timing: two readings of one run, compared with each other
    assert abs(bucket_index(median) - bucket_index(row["p50"] / 1e6)) <= 1, (median, row["p50"])
    assert ok == summary["counters"]["ok"]
    assert connects == summary["counters"]["connects"]
    assert users == 5


def readme_block(containing: str) -> list[str]:
    """The lines of the README's sh code block that contains `containing`."""
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        if containing in block:
            return block.strip().splitlines()
    raise AssertionError(f"README has no sh block with {containing!r}")


@pytest.mark.e2e
def test_readme_metrics_commands_work(tmp_path, target):
    """The README's two /metrics commands, with free ports: locust serves, curl gets the exported names."""
    serve, scrape = readme_block("--ws-metrics-port")
    port = str(free_port())
    serve = serve.replace("ws://127.0.0.1:8000", target.ws_url).replace("9646", port)
    argv = [sys.executable, "-m", *shlex.split(serve), "--web-host", "127.0.0.1", "--web-port", str(free_port())]
    with open(tmp_path / "locust.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(int(port), proc, 30 * UNIT)
        out = subprocess.run(
            shlex.split(scrape.replace("9646", port)), capture_output=True, text=True, timeout=10 * UNIT
        )
    finally:
        stop(proc)
    assert out.returncode == 0, out.stderr
    assert "chanload_ws_users 0.0" in out.stdout
    assert "# TYPE chanload_ws_latency_seconds histogram" in out.stdout


def _scraping(prom) -> bool:
    """Whether Prometheus has begun scraping (its `up` series exists); False while it is still starting up."""
    try:
        return bool(prom.query("up"))
    except (ValueError, OSError, RuntimeError):  # 503 "not ready" (plain text) while it starts
        return False
