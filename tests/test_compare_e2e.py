"""Comparing real runs of the target: A/A passes, a server made slower is caught, `--baseline` gates a run.

Two Daphne targets: A as shipped, B pausing CHAT_REPLY_DELAY_US before each OK (a busy wait). B's pause is
several times A's median round trip, so the slowdown is unmistakable on a loaded machine; how often the
rule flags runs of the same code at the default tolerance, and how often it catches a 20% slowdown, is
measured by `make bench-compare` (docs/compare.md), not asserted here: a test needs a margin.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT, daphne

pytestmark = [pytest.mark.e2e, pytest.mark.timing]  # alone after the parallel run: A/A must not see others' load

PAUSE_US = 2000
LOAD = ("RoomUser", "--ws-think", "0.02-0.04")  # 10 users: about 300 round trips a second, random gaps
AA_TOLERANCE = "30%"  # two runs of the same code on a shared machine: p50s seen 1-35% apart (docs/compare.md)


RELATIVE = "message:p50<=1.3x"  # the --baseline threshold B and A2 are judged by, against A1


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Report folders: A1 and A2 on A, B on the slower B; 8 s each, 10 users. B and A2 run with `--baseline A1`
    and a relative threshold, so the same three runs show `compare` and `--baseline` (exit codes: their tests)."""
    root = tmp_path_factory.mktemp("compare-runs")
    folders: dict[str, Path] = {}
    with daphne() as a, daphne(env={"CHAT_REPLY_DELAY_US": str(PAUSE_US)}) as b:
        for label, server in (("A1", a), ("B", b), ("A2", a)):
            judged = () if label == "A1" else ("--baseline", str(folders["A1"]), "--slo", RELATIVE)
            run = run_locust(root / label, server.ws_url, *LOAD, *judged, run_time="8s", users=10, timeout=90)
            assert run.code in (0, 3) and "Traceback" not in run.output, run.output[-3000:]
            assert run.summary["exit_code"] == run.code, run.output[-3000:]  # so the tests may read it there
            (root / label / "output.txt").write_text(run.output)
            folders[label] = run.report_dir
    return folders


def compare(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chanload", "compare", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120 * UNIT,
    )


def test_two_runs_of_the_same_code_exit_0(runs, tmp_path):
    proc = compare(runs["A1"], runs["A2"], "--max-regression", AA_TOLERANCE, "--report-dir", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WS message  room/[group]" in proc.stdout and "REGRESSION" not in proc.stdout
    assert (tmp_path / "compare.html").exists()


def test_a_slower_server_exits_3_naming_the_row_and_percentile(runs):
    proc = compare(runs["A1"], runs["B"])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "REGRESSION: WS message room/[group] p50 " in proc.stdout
    b = json.loads((runs["B"] / "summary.json").read_text())
    a = json.loads((runs["A1"] / "summary.json").read_text())
    ratio = _row(b)["p50"] / _row(a)["p50"]
    assert ratio > 2, ratio  # the pause shows in the numbers compare judged, not only in its verdict
    # The other way round it is faster, and no regression.
    back = compare(runs["B"], runs["A1"])
    assert back.returncode == 0 and "faster (p=" in back.stdout, back.stdout


def _row(summary: dict) -> dict:
    return next(r for r in summary["latency"] if r["type"] == "WS message")


def test_baseline_with_a_relative_threshold_passes_and_fails_as_it_should(runs):
    """A2 (the same code as A1) passes `message:p50<=1.3x` against A1; B, made slower, fails it with exit 3."""
    same, slower = (json.loads((runs[label] / "summary.json").read_text()) for label in ("A2", "B"))
    output = (runs["B"].parent / "output.txt").read_text()
    assert same["exit_code"] == 0, (runs["A2"].parent / "output.txt").read_text()[-3000:]
    (passed,) = same["thresholds"]
    assert passed["passed"] and passed["unit"] == "x" and passed["relative"]
    assert same["baseline"] == str(runs["A1"])
    assert slower["exit_code"] == 3, output[-3000:]
    (failed,) = slower["thresholds"]
    assert not failed["passed"] and failed["value"] > 2
    assert "significantly slower (p=" in failed["detail"] and "past <= 1.3x" in failed["detail"]
    # Shown like every threshold: the console, JUnit and the report.
    assert f"FAIL  {RELATIVE}" in output
    junit = (runs["B"] / "junit.xml").read_text()
    assert "message:p50&lt;=1.3x" in junit and "significantly slower" in junit
    assert "message:p50&lt;=1.3x" in (runs["B"] / "report.html").read_text()


def test_a_missing_baseline_stops_the_run_before_any_load(tmp_path, target):
    run = run_locust(tmp_path, target.ws_url, "--baseline", str(tmp_path / "nope"), "--slo", "message:p99<=1.1x")
    assert run.code == 2, run.output[-3000:]
    assert "--baseline" in run.output and "no such file or folder" in run.output
    assert not (tmp_path / "report" / "summary.json").exists()  # no load, no run to report
    unreadable = tmp_path / "bad"
    unreadable.mkdir()
    (unreadable / "summary.json").write_text("{")
    run = run_locust(tmp_path / "b", target.ws_url, "--baseline", str(unreadable), "--slo", "message:p99<=1.1x")
    assert run.code == 2 and "not a readable JSON summary" in run.output, run.output[-3000:]
    # A relative limit with no baseline at all is a wrong option too.
    run = run_locust(tmp_path / "c", target.ws_url, "--slo", "message:p99<=1.1x")
    assert run.code == 2 and "needs --baseline DIR" in run.output, run.output[-3000:]


def docs_block(marker: str) -> list[str]:
    """The words of the docs' one command holding `marker` (docs/compare.md)."""
    text = (ROOT / "docs" / "compare.md").read_text()
    blocks = [b for b in text.split("```sh\n")[1:] if marker in b.split("```")[0]]
    assert len(blocks) == 1, f"docs/compare.md should show one command with {marker!r}"
    return shlex.split(blocks[0].split("```")[0].replace("\\\n", " "), comments=True)


def test_the_docs_compare_commands_run(runs, tmp_path, target):
    """docs/compare.md's `compare` and `--baseline` commands, with this test's folders and target."""
    words = docs_block("chanload compare")
    assert words[:4] == ["python", "-m", "chanload", "compare"]
    swap = {"reports/main": str(runs["A1"]), "reports/pr": str(runs["B"]), "reports/compare": str(tmp_path / "c")}
    proc = compare(*[swap.get(w, w) for w in words[4:]])
    assert proc.returncode == 3 and (tmp_path / "c" / "compare.html").exists(), proc.stdout + proc.stderr
    words = docs_block("--baseline")
    assert words[0] == "locust"
    swap = {"reports/main": str(runs["A1"]), "ws://127.0.0.1:8000": target.ws_url, "reports/pr": str(tmp_path / "r")}
    cmd = [sys.executable, "-m", "locust", *[swap.get(w, w) for w in words[1:]], "-t", "6s"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    relative = [t for t in summary["thresholds"] if t.get("relative")]
    assert relative and summary["baseline"] == str(runs["A1"]), proc.stdout[-3000:]
    assert proc.returncode in (0, 3), proc.stdout[-3000:]  # the CI profile's load against an 8 s think-time base


def test_make_ci_gate_judges_the_ci_profile_against_a_baseline_and_writes_compare_html(runs, tmp_path):
    """What the CI recipe runs on a pull request (.github/workflows/load-gate.yml), deps-python skipped (-o), for 8 s
    of its 30 (CI_ARGS: the verdict, not the load, is the subject here)."""
    report = tmp_path / "pr"
    proc = subprocess.run(
        ["make", "-o", "deps-python", "ci-gate", f"BASELINE={runs['A1']}", f"REPORT_DIR={report}",
         f"PYTHON={sys.executable}", "CI_ARGS=-t 8s"],
        cwd=ROOT, capture_output=True, text=True, timeout=240 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    summary = json.loads((report / "summary.json").read_text())
    # The gate's exit code is locust's (0, or 3: a threshold failed, the relative one included); make says
    # "Error 3" and exits 2 for a recipe that failed.
    code = summary["exit_code"]
    assert code in (0, 3), out[-3000:]
    assert proc.returncode == (0 if code == 0 else 2) and (code == 0 or "ci-gate] Error 3" in out), out[-3000:]
    relative = {t["expr"]: t for t in summary["thresholds"] if t["relative"]}
    assert set(relative) == {"message:p50<=1.1x"}, out[-3000:]
    assert all("the baseline" in t["detail"] for t in relative.values())
    assert (report / "compare.html").exists() and (report / "latency.hlog").exists()
    assert 8 <= summary["duration_s"] < 30, summary["duration_s"]  # CI_ARGS reached locust
