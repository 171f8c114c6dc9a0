"""docker-compose.yml and the Dockerfile, without a Docker engine: structure checked, commands run natively."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from scripts.launch import stop, wait_for_port
from tests.compose import Native, load, mounts
from tests.servers import ROOT, UNIT

yaml = pytest.importorskip("yaml")

SERVICES = {"redis", "target", "proxy", "master", "worker", "prometheus", "grafana"}
NOT_HEALTH_CHECKED = {"worker"}  # nothing waits for a worker; the master's web UI lists them
# Each Debian package of `make deps` (APT_PACKAGES) and the compose service that provides it in the stack.
PACKAGE_SERVICES = {
    "redis-server": "redis",
    "nginx": "proxy",
    "gettext-base": "proxy",  # envsubst, for deploy/nginx.conf
    "prometheus": "prometheus",
    "chromium": None,  # only the browser tests use it; not part of the stack
    "curl": None,  # only the test of the README's /metrics commands uses it
}


def makefile_variable(name: str) -> str:
    return re.search(rf"^{name} \?= (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).strip()


def test_the_stack_has_every_service_with_pinned_images():
    """redis, target, proxy, master, worker, prometheus, grafana; every image pinned to a version."""
    services = load()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
        if "build" in service:
            assert service["build"] == "." and image == "chanload:local", name
        else:
            assert re.search(r":v?\d+\.\d+\.\d+", image), (name, image)


def test_health_checks_and_depends_on_service_healthy_form_the_start_order():
    """Every dependency waits for service_healthy on a service that has a health check."""
    services = load()["services"]
    for name, service in services.items():
        if name not in NOT_HEALTH_CHECKED:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency], (name, dependency)
    order = {name: set(service.get("depends_on") or {}) for name, service in services.items()}
    assert order == {
        "redis": set(),
        "target": {"redis"},
        "proxy": {"target"},
        "master": {"proxy"},
        "worker": {"master"},
        "prometheus": {"master"},
        "grafana": {"prometheus"},
    }
    assert services["target"]["deploy"]["replicas"] >= 2


def test_host_ports_are_bound_to_loopback_and_mounted_files_exist():
    """Every published port is 127.0.0.1:...; every read-only mount is a file or folder in the repo."""
    for name, service in load()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
        for source, _, read_only in mounts(service):
            assert source.is_relative_to(ROOT), (name, source)
            if read_only:
                assert source.exists(), f"{name} mounts {source}, which is not in the repo"


def test_prometheus_scrapes_the_masters_metrics_port_and_grafana_reads_prometheus():
    """deploy/prometheus.yml scrapes master:<--ws-metrics-port>; Grafana's datasource is the prometheus service."""
    services = load()["services"]
    command = services["master"]["command"]
    metrics_port = command[command.index("--ws-metrics-port") + 1]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    names = ["master", *services["master"]["networks"]["default"]["aliases"]]
    assert any(f"{name}:{metrics_port}" in targets for name in names), (targets, names)
    assert command[command.index("--ws-metrics-host") + 1] == "0.0.0.0"  # reachable from the prometheus service
    assert f"127.0.0.1:{metrics_port}:{metrics_port}" in services["master"]["ports"]
    listen = next(a for a in services["prometheus"]["command"] if a.startswith("--web.listen-address="))
    prometheus_port = listen.rsplit(":", 1)[1]
    provisioned = "\n".join(p.read_text() for p in (ROOT / "deploy" / "grafana").rglob("*.y*ml"))
    assert f"http://prometheus:{prometheus_port}" in provisioned


@pytest.mark.e2e
def test_the_proxy_and_redis_images_are_the_versions_debian_runs_here():
    """nginx and redis in compose are the versions the native tests run (Debian's packages)."""
    services = load()["services"]
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    nginx_version = re.search(r"nginx/(\d+\.\d+\.\d+)", nginx).group(1)
    assert services["proxy"]["image"] == f"nginx:{nginx_version}"
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    version = re.search(r"v=(\d+\.\d+\.\d+)", redis).group(1)
    assert services["redis"]["image"].startswith(f"redis:{version}-"), (services["redis"]["image"], version)


def test_dockerfile_installs_what_make_deps_installs():
    """The image runs `make deps-python` (the pip half of `make deps`); the Debian half is compose's services."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM python:(\d+\.\d+)\.\d+-slim-bookworm$", dockerfile, re.M)
    assert base and base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"
    run = " ".join(re.findall(r"^RUN (.*(?:\\\n.*)*)", dockerfile, re.M))
    extras = re.search(r"make deps-python PIP_EXTRAS=([\w,]+)", run)
    assert extras, "the Dockerfile must install with `make deps-python`"
    assert "target" in extras.group(1).split(",")
    assert set(extras.group(1).split(",")) <= set(makefile_variable("PIP_EXTRAS").split(","))
    copied = {part.strip("./") for line in re.findall(r"^COPY (.*)$", dockerfile, re.M) for part in line.split()[:-1]}
    assert {"pyproject.toml", "Makefile", "README.md", "loadtests", "target_project"} <= copied
    services = load()["services"]
    for package in makefile_variable("APT_PACKAGES").split():
        assert package in PACKAGE_SERVICES, f"{package} is in APT_PACKAGES: say which compose service provides it"
        assert PACKAGE_SERVICES[package] is None or PACKAGE_SERVICES[package] in services, package


# --- The commands, natively ---


def http(url: str, data: dict | None = None, timeout: float = 5.0) -> bytes:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=timeout) as response:
        return response.read()


def healthy(check: list[str], cwd: Path, env: dict, timeout: float) -> None:
    """Run a service's health check until it passes, as compose does (interval 0.5 s here)."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(check, cwd=cwd, env=env, capture_output=True, timeout=10 * UNIT)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"health check {check} still fails: {result.stderr.decode()[-500:]}")
        time.sleep(0.5)


@pytest.mark.e2e
@pytest.mark.redis
def test_every_service_command_runs_natively_and_the_master_drives_two_workers(tmp_path):
    """redis, 2 targets, proxy, master (web UI) and 2 workers from their compose commands: a run through the UI;
    the master watched the stack's Redis (--watch-redis), every second of it answered."""
    services = load()["services"]
    native = Native(tmp_path, targets=2)
    logs = tmp_path / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:

        def start(name: str, replica: int = 0, port: int | None = None):
            service = services[name]
            argv = native.command(service, replica)
            out = open(logs / f"{name}-{replica}.log", "wb")
            stack.callback(out.close)
            proc = subprocess.Popen(
                argv, cwd=native.cwd(service), env=native.env(service, replica), stdout=out, stderr=subprocess.STDOUT
            )
            stack.callback(stop, proc, 10 * UNIT)
            if port is not None:
                wait_for_port(port, proc, 30 * UNIT)
            if "healthcheck" in service:
                healthy(native.healthcheck(service, replica), native.cwd(service), native.env(service), 60 * UNIT)
            return proc

        start("redis", port=native.ports["redis"])
        for replica, port in enumerate(native.target_ports):
            start("target", replica, port=port)
        start("proxy", port=native.ports["proxy"])
        master = start("master", port=native.ports["web"])
        web = f"http://127.0.0.1:{native.ports['web']}"
        start("worker", 0)
        start("worker", 1)
        deadline = time.monotonic() + 60 * UNIT
        while len(json.loads(http(f"{web}/stats/requests")).get("workers", [])) < 2:
            assert time.monotonic() < deadline, "the workers never reached the master"
            time.sleep(0.5)
        http(f"{web}/swarm", {"user_count": 4, "spawn_rate": 4})
        deadline = time.monotonic() + 60 * UNIT
        while True:
            stats = json.loads(http(f"{web}/stats/requests"))
            done = sum(s["num_requests"] for s in stats["stats"] if s["method"] == "WS message")
            if done >= 50:
                break
            assert time.monotonic() < deadline, f"the run made {done} round trips"
            time.sleep(0.5)
        assert http(f"http://127.0.0.1:{native.ports['metrics']}/metrics")  # Prometheus' target answers
        http(f"{web}/stop", {})
        time.sleep(1.0 * UNIT)
        stop(master, 30 * UNIT)
    summary = json.loads((tmp_path / "reports" / "compose" / "summary.json").read_text())
    assert summary["parameters"]["host"] == f"ws://127.0.0.1:{native.ports['proxy']}"
    counters = summary["counters"]
    assert counters["ok"] >= 50 and counters["failed"] == 0 and counters["reconciles"], counters
    redis_seen = summary["resources"]["redis"]["redis"]  # the master's --watch-redis, mapped to the native Redis
    assert redis_seen["url"] == f"redis://127.0.0.1:{native.ports['redis']}/0", redis_seen
    assert redis_seen["series"] and all(s["available"] for s in redis_seen["series"]), redis_seen["series"]
    # Commands came (each consumer's channel-layer receive; RoomUser's route joins no group); the layer was walked.
    assert redis_seen["peak"]["ops_per_second"] > 0 and "queued_total" in redis_seen["peak"], redis_seen["peak"]
    page = (tmp_path / "reports" / "compose" / "report.html").read_text()
    assert 'data-chart="resources_redis"' in page and 'data-chart="resources_queued"' in page
    output = "".join(p.read_text(errors="replace") for p in logs.iterdir())
    assert "Traceback" not in output, output[-3000:]
