"""scripts/with_target.py: the target's output is kept only on failure; `make demo-scaled` runs shortened."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import launch, with_target
from tests import servers
from tests.servers import ROOT, UNIT

pytestmark = pytest.mark.e2e


def leftovers(tmp: Path) -> set[Path]:
    return set(tmp.glob("chanload-target-*"))


def with_target_run(*args: str, tmp: Path | None = None) -> subprocess.CompletedProcess:
    """scripts/with_target.py ARGS; with `tmp`, its temp folder (TMPDIR), which no other test writes in."""
    env = {**os.environ, "TMPDIR": str(tmp)} if tmp else None
    return subprocess.run(
        [sys.executable, "scripts/with_target.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * UNIT,
    )  # fmt: skip


def test_scripts_and_tests_share_one_free_port_helper():
    """One free_port: scripts/launch.py's, used by with_target.py and tests/servers.py."""
    assert servers.free_port is launch.free_port is with_target.free_port


def test_target_output_is_removed_when_the_command_succeeds(tmp_path):
    """A successful command leaves no chanload-target-* behind in the temp folder."""
    proc = with_target_run("--", sys.executable, "-c", "import os; print(os.environ['TARGET_HOST'])", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"ws://127\.0\.0\.1:\d+", proc.stdout)
    assert leftovers(tmp_path) == set()


def test_target_output_is_kept_and_named_when_the_command_fails(tmp_path):
    """A failing command keeps the target's output and prints where it is; the exit code passes through."""
    proc = with_target_run("--", sys.executable, "-c", "raise SystemExit(7)", tmp=tmp_path)
    assert proc.returncode == 7
    kept = leftovers(tmp_path)
    assert len(kept) == 1, kept
    folder = kept.pop()
    assert f"the target's output is in {folder}" in proc.stderr
    assert list(folder.glob("daphne-*.log"))


def test_scaled_needs_free_ports():
    """--scaled with --port is refused before anything starts (exit 2, names the options)."""
    proc = with_target_run("--scaled", "2", "--port", "8000", "--", "true")
    assert proc.returncode == 2 and "--scaled" in proc.stderr


@pytest.mark.redis
def test_make_demo_scaled_runs_against_two_processes_behind_nginx(tmp_path):
    """The `demo-scaled` recipe, shortened to 3 s and 6 users: echo and broadcast both pass through nginx."""
    rule = re.search(r"^demo-scaled:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert rule, "no demo-scaled rule"
    recipe = rule.group(1).replace("\\\n", " ").replace("$(PYTHON)", sys.executable).replace("$(SCALED)", "2")
    argv = recipe.split()
    report = tmp_path / "report"
    argv[argv.index("--report-dir") + 1] = str(report)
    argv += ["-t", "3s", "-u", "6", "-r", "6", "--ws-groups", "1", "--ws-png-charts", "off"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in out, out[-3000:]
    assert re.search(r"nginx on ws://127\.0\.0\.1:\d+ -> 2 Daphne processes", out)
    summary = json.loads((report / "summary.json").read_text())
    names = {(r["type"], r["name"]) for r in summary["latency"]}
    assert {("WS message", "room/[group]"), ("WS message", "chat/[group]"), ("WS delivery", "chat/[group]")} <= names
    assert summary["counters"]["failed"] == 0 and summary["delivery"]["total"]["missing"] == 0
    # Watched with no option given: both Daphne processes, nginx and the Redis they share, in step.
    watched = summary["resources"]
    assert set(watched["processes"]) == {"daphne-1", "daphne-2", "nginx"} and list(watched["redis"]) == ["redis"]
    assert all(w["series"] and w["exited"] is None for w in watched["processes"].values())
    assert watched["redis"]["redis"]["peak"]["groups"] >= 1
    page = (report / "report.html").read_text()
    assert all(f'data-chart="resources_{name}"' in page for name in ("cpu", "rss", "fds", "redis", "queued"))


def test_a_locust_command_watches_what_was_started_and_others_run_as_given():
    """--watch for each process started (--watch-redis for its Redis): for locust, if it watches nothing itself."""
    cmd = ["locust", "-f", "loadtests/ws.py", "--host", "{host}"]
    assert with_target.watched(cmd, {"daphne": 41}, None) == [*cmd, "--watch", "daphne=41"]
    scaled = with_target.watched([sys.executable, "-m", "locust"], {"daphne-1": 7, "nginx": 9}, "redis://127.0.0.1:1/0")
    assert scaled[3:] == ["--watch", "daphne-1=7", "--watch", "nginx=9", "--watch-redis", "redis://127.0.0.1:1/0"]
    assert with_target.watched(["true"], {"daphne": 41}, None) == ["true"]
    own = [*cmd, "--watch", "mine=1"]
    assert with_target.watched(own, {"daphne": 41}, None) == own
    cooling = [*cmd, "--watch-cooldown", "10"]  # says how long to watch, watches nothing itself
    assert with_target.watched(cooling, {"daphne": 41}, None) == [*cooling, "--watch", "daphne=41"]
    assert (
        with_target.watched([*cmd, "--watch-redis=redis://h:1/0"], {"daphne": 41}, None)[-1]
        == "--watch-redis=redis://h:1/0"
    )
