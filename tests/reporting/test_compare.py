"""`python -m chanload compare`: the text, the verdicts, the exit codes, and inputs it must refuse."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chanload.recording import hlog, significance
from chanload.recording.archive import RunError, load
from chanload.reporting import compare
from tests.reporting.test_compare_html import CONNECT, MESSAGE, write_run

SEND_LAG = ("WS send lag", "room/[group]", "send_lag")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return {
        "base": write_run(root / "base", {MESSAGE: 1.0, CONNECT: 1.0, SEND_LAG: 1.0}, seed=11),
        "again": write_run(root / "again", {MESSAGE: 1.0, CONNECT: 1.0, SEND_LAG: 1.0}, seed=12),
        "slower": write_run(root / "slower", {MESSAGE: 1.25, CONNECT: 1.0, SEND_LAG: 3.0}, seed=13),
        "lagging": write_run(root / "lagging", {MESSAGE: 1.0, CONNECT: 1.0, SEND_LAG: 3.0}, seed=14),
    }


def judged(folders, base: str, new: str, **kwargs) -> compare.Comparison:
    return compare.compare(load(folders[base], "BASE"), load(folders[new], "NEW"), **kwargs)


def test_runs_alike_exit_0_with_every_percentile_judged(folders):
    c = judged(folders, "base", "again")
    assert c.exit_code == compare.EXIT_OK and not c.regressions
    row = c.rows[0]
    assert [j.pct for j in row.judgements] == [50.0, 90.0, 99.0, 99.9]
    assert [j.verdict for j in row.judgements[:3]] == [significance.SAME] * 3
    assert row.judgements[3].verdict == significance.TOO_FEW  # 6,000 samples: no p99.9 blocks of 10,000
    assert c.tests == 2 * 3  # message and connect, p50-p99: send lag is not gated
    text = compare.render(c)
    assert "no percentile significantly slower by more than 10%: exit code 0" in text


def test_a_slower_row_is_named_with_its_percentile_and_ratio(folders):
    c = judged(folders, "base", "slower")
    assert c.exit_code == compare.EXIT_REGRESSION
    named = {(row.type, j.pct) for row, j in c.regressions}
    assert ("WS message", 50.0) in named and all(t == "WS message" for t, _ in named)
    text = compare.render(c)
    assert "REGRESSION: WS message room/[group] p50 1.2" in text and "x slower (" in text
    assert "chanload compare: exit code 3" in text
    # the tolerance: the same 25% is no regression at 30%
    assert judged(folders, "base", "slower", tolerance=0.30).exit_code == compare.EXIT_OK


def test_the_send_lag_is_judged_and_shown_but_never_the_gate(folders):
    c = judged(folders, "base", "lagging")
    lag = next(r for r in c.rows if r.type == "WS send lag")
    assert lag.judgements[0].verdict == significance.SLOWER and not lag.regressions
    assert c.exit_code == compare.EXIT_OK
    assert "not gated: it holds the generator's own lateness in sending" in compare.render(c)


def test_rows_in_one_run_only_and_fingerprint_differences_are_listed(tmp_path, folders):
    other = write_run(
        tmp_path / "other", {MESSAGE: 1.0, ("WS message", "added", "message"): 1.0}, seed=3, python="3.12.1"
    )
    c = compare.compare(load(folders["base"], "BASE"), load(other, "NEW"))
    assert c.only_base == [CONNECT[:2], SEND_LAG[:2]] and c.only_new == [("WS message", "added")]
    assert c.differences == [("versions.python", "3.11.2", "3.12.1")]
    text = compare.render(c)
    assert "only in BASE: WS connect" in text and "only in NEW: WS message added" in text
    assert "differs: versions.python: BASE '3.11.2'  NEW '3.12.1'" in text
    assert "warning: the runs differ in versions.python: the comparison may be unfair" in text


def test_a_busy_generator_and_an_interrupted_run_are_warned_of(tmp_path):
    base = write_run(tmp_path / "b", {MESSAGE: 1.0}, seed=1)
    new = write_run(tmp_path / "n", {MESSAGE: 1.0}, seed=2)
    summary = json.loads((new / "summary.json").read_text())
    summary["fingerprint"]["generator_peak_cpu"] = 0.97
    summary["status"] = "interrupted"
    (new / "summary.json").write_text(json.dumps(summary))
    warnings = compare.compare(load(base, "BASE"), load(new, "NEW")).warnings
    assert any("NEW's generator used 97% of a core" in w for w in warnings)
    assert "NEW's run ended 'interrupted', not 'completed'" in warnings


def test_without_a_log_the_percentiles_are_compared_but_not_tested(tmp_path):
    base = write_run(tmp_path / "b", {MESSAGE: 1.0}, seed=1)
    new = write_run(tmp_path / "n", {MESSAGE: 2.0}, seed=2)
    (new / hlog.NAME).unlink()
    c = compare.compare(load(base, "BASE"), load(new / "summary.json", "NEW"))
    row = c.rows[0]
    assert all(j.verdict == significance.UNTESTED for j in row.judgements) and row.judgements[0].ratio > 1.8
    assert c.exit_code == compare.EXIT_OK and c.tests == 0
    assert "no latency.hlog for NEW: no per-second data, so no significance test" in compare.render(c)


def test_inputs_that_are_not_runs_are_refused_with_what_is_wrong(tmp_path):
    with pytest.raises(RunError, match="no such file or folder"):
        load(tmp_path / "nope", "BASE")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no summary.json in it"):
        load(tmp_path / "empty", "BASE")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(RunError, match="not a readable JSON summary"):
        load(tmp_path / "x.json", "NEW")
    (tmp_path / "y.json").write_text('{"stats": []}')
    with pytest.raises(RunError, match="not a chanload summary.json"):
        load(tmp_path / "y.json", "NEW")
    broken = write_run(tmp_path / "broken", {MESSAGE: 1.0}, seed=1)
    (broken / hlog.NAME).write_text(hlog.header(1.0) + "garbage\n")
    with pytest.raises(RunError, match=r"NEW: .*latency.hlog:6: not an interval line"):
        load(broken, "NEW")


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0.05", 0.05), ("25 %", 0.25), ("0%", 0.0)])
def test_tolerances(text, value):
    assert compare.parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "ten", "-5%", ""])
def test_bad_tolerances_say_what_to_write(text):
    with pytest.raises(ValueError, match="--max-regression"):
        compare.parse_tolerance(text)


@pytest.mark.e2e
def test_the_command_exits_2_on_bad_input_before_comparing_anything(tmp_path, folders):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "chanload", "compare", *args], capture_output=True, text=True, timeout=60
        )

    missing = run(str(tmp_path / "missing"), str(folders["base"]))
    assert missing.returncode == 2 and "chanload compare: error: BASE" in missing.stderr and not missing.stdout
    bad = run(str(folders["base"]), str(folders["again"]), "--max-regression", "10")
    assert bad.returncode == 2 and "write a percentage (10%) or a fraction (0.1)" in bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "chanload", "comapre"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown command 'comapre'" in unknown.stderr


def test_a_row_with_failures_only_is_listed_not_judged(tmp_path):
    base = write_run(tmp_path / "b", {MESSAGE: 1.0}, seed=1)
    new = write_run(tmp_path / "n", {MESSAGE: 1.0}, seed=2)
    summary = json.loads((new / "summary.json").read_text())
    summary["latency"][0].update(count=0, failures=40, hdr=None, p50=None, p90=None, p99=None, p99_9=None, max=None)
    (new / "summary.json").write_text(json.dumps(summary))
    c = compare.compare(load(base, "BASE"), load(new, "NEW"))
    assert c.rows[0].note == "no successful samples in NEW (failures only): nothing to compare"
    assert all(j.verdict == significance.UNTESTED for j in c.rows[0].judgements) and c.exit_code == 0
    assert "  note: no successful samples in NEW (failures only): nothing to compare" in compare.render(c)


def test_gate_names_the_percentiles_that_can_fail_the_comparison(folders):
    c = judged(folders, "base", "slower", gate=(99.0,))
    message = next(r for r in c.rows if r.type == "WS message")
    assert message.judgements[0].verdict == significance.SLOWER  # still judged and shown
    assert all(j.pct == 99.0 for _, j in c.regressions) and c.tests == 2  # message and connect at p99
    assert "only p99 can fail it (--gate)" in compare.render(c)
    assert compare.parse_gate("p50, p99.9") == (50.0, 99.9)
    with pytest.raises(ValueError, match="--gate 'p95': a comma-separated list of p50, p90, p99, p99.9"):
        compare.parse_gate("p95")
