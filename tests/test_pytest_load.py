"""chanload_load (chanload.pytest_load): a headless load from a pytest test, in a subprocess, judged by thresholds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chanload.exceptions import OptionError
from chanload.pytest import load as pytest_load
from chanload.pytest.load import LoadResult, locust_target, loopback_host, seconds
from tests.servers import ROOT, UNIT

chanload_load = pytest_load.chanload_load  # the fixture, as the plugin registers it


@pytest.mark.parametrize(
    "host", ["ws://10.0.0.1:8000", "ws://example.com", "http://127.0.0.1:8000", "ws://127.0.0.2.example.com:80"]
)
def test_a_host_beyond_loopback_is_refused(host):
    with pytest.raises(OptionError, match="chanload_load host="):
        loopback_host(host)


@pytest.mark.parametrize("host", ["ws://127.0.0.1:8000", "ws://localhost:1/x", "ws://[::1]:9000", "wss://127.0.0.5:1"])
def test_loopback_hosts_pass(host):
    assert loopback_host(host) == host


@pytest.mark.parametrize("given,expected", [("10s", 10), ("1m30s", 90), ("1h", 3600), (7, 7), (2.5, 2.5), ("15", 15)])
def test_run_time(given, expected):
    assert seconds(given) == expected


@pytest.mark.parametrize("given", ["", "0s", "soon", -1, 0, True, "10 minutes"])
def test_a_bad_run_time_is_refused(given):
    with pytest.raises(OptionError, match="run_time"):
        seconds(given)


def test_target_by_dotted_path_writes_a_locustfile_naming_the_class(tmp_path):
    locustfile, classes = locust_target("myproject.loadtests.ChatUser", [tmp_path], tmp_path / "gen")
    assert classes == ["ChatUser"]
    assert "from myproject.loadtests import ChatUser" in locustfile.read_text()
    compile(locustfile.read_text(), str(locustfile), "exec")


def test_target_by_path_is_found_beside_the_test_or_refused(tmp_path):
    (tmp_path / "load.py").write_text("")
    assert locust_target("load.py", [tmp_path / "nowhere", tmp_path], tmp_path / "gen") == ((tmp_path / "load.py"), [])
    with pytest.raises(OptionError, match="no locustfile 'missing.py'"):
        locust_target("missing.py", [tmp_path], tmp_path / "gen")
    with pytest.raises(OptionError, match="dotted path"):
        locust_target("ChatUser", [tmp_path], tmp_path / "gen")


def _result(rows):
    return LoadResult(0, {"status": "completed", "thresholds": [], "latency": rows}, Path("."), "")


def _row(kind, name, metric):
    return {"type": kind, "name": name, "metric": metric, "count": 3, "failures": 1, "p50": 10, "p90": 20,
            "p95": 25, "p99": 30, "p99_9": 40, "max": 50}  # fmt: skip


def test_row_by_type_or_metric_and_name():
    result = _result([_row("WS connect", "room", "connect"), _row("WS message", "a", "message"),
                      _row("WS message", "b", "message")])  # fmt: skip
    assert result.row("connect").p99 == 30 and result.row("WS connect").name == "room"
    assert result.row("message", "b").name == "b" and result.row("WS message", "a").max == 50
    with pytest.raises(LookupError, match="2 latency rows .* give name="):
        result.row("message")
    with pytest.raises(LookupError, match="no latency rows for type 'delivery'"):
        result.row("delivery")


@pytest.mark.e2e
def test_a_load_with_thresholds_passes_and_an_impossible_one_fails(chanload_load, target):
    held = chanload_load("loadtests/ws.py", users=4, spawn_rate=4, run_time="3s", slo=["message:p99<2s"],
                         host=target.ws_url)  # fmt: skip
    assert held.exit_code == 0 and held.passed, held.describe()
    row = held.row("message")
    assert row.name == "room/[group]" and row.count > 0 and row.failures == 0
    assert 0 < row.p50 <= row.p99 <= row.max
    assert held.counters["ok"] == row.count and held.delivery is None
    assert (held.report_dir / "summary.json").is_file() and (held.report_dir / "report.html").is_file()

    failed = chanload_load("ws.AsyncRoomUser", users=2, spawn_rate=2, run_time=3, slo="message:p99<1us",
                           host=target.ws_url)  # fmt: skip
    assert failed.exit_code == 3 and not failed.passed
    assert [t["passed"] for t in failed.thresholds] == [False]
    assert failed.row("WS message").name == "aroom/[group]"  # the class named, and only it
    assert failed.report_dir != held.report_dir and "FAIL  message:p99<1us" in failed.describe()


@pytest.mark.e2e
def test_a_refused_host_is_an_error_before_any_process(chanload_load):
    with pytest.raises(OptionError, match="loopback only"):
        chanload_load("loadtests/ws.py", users=1, spawn_rate=1, run_time="1s", host="ws://192.0.2.1:8000")


@pytest.mark.e2e
def test_a_failing_test_shows_its_loads_verdict_and_artifacts(tmp_path, target):
    """In a pytest run of its own (the plugin module given by -p): the failing test's report has a section
    per load, with the thresholds, the exit code and where the artifacts are."""
    (tmp_path / "test_gate.py").write_text(
        textwrap.dedent(f"""
        def test_gate(chanload_load):
            result = chanload_load({str(ROOT / "loadtests" / "ws.py")!r}, users=2, spawn_rate=2, run_time="2s",
                                   slo=["message:p99<1us"], host={target.ws_url!r})
            assert result.passed
        """)
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}  # no Django project here
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "loadtests"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "chanload.pytest.load", "-p", "no:cacheprovider", "-q",
         "--basetemp", str(tmp_path / "base"), "test_gate.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "chanload load 1" in out and "chanload load: exit code 3, artifacts in" in out, out
    assert "FAIL  message:p99<1us" in out and "thresholds: 0 of 1 passed" in out, out
    reports = list((tmp_path / "base").rglob("report/summary.json"))
    assert len(reports) == 1 and str(reports[0].parent) in out


@pytest.mark.e2e
def test_a_load_that_never_started_says_why(chanload_load, target):
    """A wrong option: Locust's exit code 2, no summary.json, and the output in the description."""
    result = chanload_load("loadtests/ws.py", users=1, spawn_rate=1, run_time="2s", options="--ws-other sometimes",
                           host=target.ws_url)  # fmt: skip
    assert result.exit_code == 2 and not result.passed and result.summary == {}
    assert "--ws-other" in result.output and "no summary.json was written" in result.describe()
    with pytest.raises(LookupError, match="no latency rows"):
        result.row("message")
