"""deploy/: the Grafana dashboard asks only for what the exporter serves; Prometheus parses and answers it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import yaml

from chanload.watch.metrics import EXPORTED
from tests.locustrun import live_locust
from tests.servers import ROOT, UNIT, free_port, prometheus

DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "chanload.json"
METRIC = re.compile(r"\bchanload_[a-z_]+\b")
MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# What Grafana substitutes before it sends a query: the rate window and the dashboard's variable.
SUBSTITUTE = {"$__rate_interval": "30s", "$type": ".*"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str, str]]:
    """(panel title, PromQL, legend format) for every query in the dashboard, variables included."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    for variable in dashboard()["templating"]["list"]:
        out.append((f"${variable['name']}", variable["definition"], ""))
    return out


def grafana_to_promql(expr: str) -> str:
    """The query Grafana would send: variables filled; its label_values(metric, label) as PromQL."""
    values = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", expr)
    if values:
        return f"group by ({values.group(2)}) ({values.group(1)})"
    for name, value in SUBSTITUTE.items():
        expr = expr.replace(name, value)
    return expr


def test_every_query_names_only_exported_metrics_and_labels():
    """Each metric in the dashboard is in metrics.EXPORTED, and every label it filters, groups or shows exists."""
    assert len(queries()) >= 10
    for title, expr, legend in queries():
        metrics = set(METRIC.findall(expr))
        assert metrics, f"{title}: {expr!r} names no chanload metric"
        unknown = metrics - set(EXPORTED)
        assert not unknown, f"{title}: {sorted(unknown)} are not exported (metrics.EXPORTED)"
        labels = set().union(*(EXPORTED[m] for m in metrics))
        if "label_values(" in expr:
            labels_used = {expr.rsplit(",", 1)[1].strip(" )")}
        else:
            labels_used = set(MATCHER.findall(expr))
        grouped = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()}
        assert labels_used | grouped <= labels, f"{title}: labels {sorted((labels_used | grouped) - labels)} unknown"
        shown = set(LEGEND.findall(legend))
        assert shown <= (grouped or labels) - {"le"}, f"{title}: legend shows {sorted(shown)}, query keeps {grouped}"


def test_every_latency_metric_and_counter_is_on_the_dashboard():
    """The dashboard covers the histogram, messages, failures, connections, delivery, thresholds and resources."""
    used = {m for _, expr, _ in queries() for m in METRIC.findall(expr)}
    for name in (
        "chanload_ws_latency_seconds_bucket", "chanload_ws_messages_total", "chanload_ws_failures_total",
        "chanload_ws_open_connections", "chanload_ws_delivery_total", "chanload_ws_threshold_passing",
        "chanload_target_cpu_ratio", "chanload_target_rss_bytes", "chanload_target_fds",
        "chanload_redis_ops_per_second", "chanload_channel_layer_queued",
    ):  # fmt: skip
        assert name in used, name


def test_provisioning_files_agree_with_the_dashboard():
    """The datasource uid the panels use is the provisioned one; the provider loads the dashboards folder."""
    datasources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in datasources["datasources"]}
    used = {p["datasource"]["uid"] for p in dashboard()["panels"]}
    used |= {t["datasource"]["uid"] for p in dashboard()["panels"] for t in p["targets"]}
    assert used and used <= uids
    providers = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "chanload.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.e2e
@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian's prometheus (promtool) is not installed")
def test_prometheus_config_passes_promtool():
    """deploy/prometheus.yml is a valid Prometheus configuration (Debian's promtool check config)."""
    proc = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.e2e
@pytest.mark.prometheus
def test_dashboard_queries_answer_from_a_real_run(tmp_path, target):
    """Debian's prometheus scrapes a short run; every dashboard query parses, and the live panels have data."""
    metrics_port = free_port()
    with prometheus(metrics_port) as prom:
        args = (
            "--host", target.ws_url, "--autostart", "--autoquit", str(int(60 * UNIT)), "-u", "3", "-r", "3",
            "-t", "10s", "--ws-think", "0.01-0.03", "--ws-metrics-port", str(metrics_port),
            "--slo", "message:p99<1s", "--watch", f"daphne={target.proc.pid}",
        )  # fmt: skip
        with live_locust(tmp_path, *args):
            deadline = time.monotonic() + 30 * UNIT
            while not prom.query('chanload_ws_latency_seconds_count{type="WS message"} > 100'):
                assert time.monotonic() < deadline, "Prometheus never saw 100 round trips"
                time.sleep(0.5)
            # rate() needs two scrapes in its window; on a busy machine a scrape can come late.
            rated = 'rate(chanload_ws_latency_seconds_count{type="WS message"}[30s]) > 0'
            while not prom.query(rated):
                assert time.monotonic() < deadline, f"Prometheus never had two scrapes to rate: {prom.query('up')}"
                time.sleep(0.5)
            answers = {expr: prom.query(grafana_to_promql(expr)) for _, expr, _ in queries()}
    empty = [expr for expr, result in answers.items() if not result]
    # No failures, no broadcast and no Redis (the in-memory layer) in this run: only those panels may be empty.
    quiet = ("failures_total", "delivery_total", 'result="failed"', "chanload_redis_", "chanload_channel_layer_")
    assert all(any(q in e for q in quiet) for e in empty), empty
    cpu = answers["chanload_target_cpu_ratio"]
    assert [r["metric"]["process"] for r in cpu] == ["daphne"], cpu  # the watched target, in its own row
    latency = [r for e, r in answers.items() if e.startswith("histogram_quantile(0.5,")][0]
    assert {r["metric"]["type"] for r in latency} >= {"WS message", "WS connect"}
