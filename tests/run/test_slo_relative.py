"""Relative thresholds ('message:p99<=1.1x' with --baseline DIR): the grammar, its errors, and the verdicts."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from chanload.exceptions import OptionError
from chanload.recording import hlog
from chanload.recording.archive import load
from chanload.run import slo
from chanload.run.settings import load_baseline, settings_from
from tests.reporting.test_compare_html import MESSAGE, write_run

OTHER = ("WS message", "chat/[group]", "message")


def test_a_factor_with_x_is_a_relative_limit():
    t = slo.parse("message:p99 <= 1.1x")
    assert (t.metric, t.stat, t.op, t.limit, t.relative, t.kind) == ("message", "p99", "<=", 1.1, True, "relative")
    assert slo.parse("message@room/[group]:p99.9<1.5X").relative
    assert not slo.parse("message:p99<10ms").relative


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("message:max<=1.1x", "takes a percentile (p50, p90, p95, p99, p99.9), not 'max'"),
        ("message:mean<1.1x", "not 'mean'"),
        ("message:p99>=1.1x", "takes '<' or '<=' (how much slower at most), not '>='"),
        ("message:p99<=x", "bad factor 'x'"),
        ("message:p99<=0x", "bad factor '0x'"),
        ("message:p99<=1.1.1x", "bad factor"),
        ("message:count<=1.1x", "takes a plain number"),
    ],
)
def test_bad_relative_limits_say_what_to_write(expr, why):
    with pytest.raises(OptionError, match=r"--slo '" + expr.replace(".", r"\.").replace("[", r"\[") + "'") as info:
        slo.parse(expr)
    assert why in str(info.value)


def options(**kw) -> SimpleNamespace:
    return SimpleNamespace(**kw)


def test_a_relative_limit_without_a_baseline_is_refused_before_load():
    with pytest.raises(OptionError, match=r"needs --baseline DIR, the report folder of the run to compare with"):
        settings_from(options(slo=["message:p99<=1.1x"]), "ws://127.0.0.1:1")


def test_an_unreadable_baseline_is_refused_before_load(tmp_path):
    settings = settings_from(options(slo=["message:p99<=1.1x"], baseline=str(tmp_path / "nope")), "ws://127.0.0.1:1")
    with pytest.raises(OptionError, match=r"--baseline '.*nope': no such file or folder; give the --report-dir"):
        load_baseline(settings)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text("[]")
    with pytest.raises(OptionError, match="not a chanload summary.json"):
        load_baseline(settings_from(options(baseline=str(tmp_path / "x")), "ws://127.0.0.1:1"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    return {
        "base": write_run(root / "base", {MESSAGE: 1.0, OTHER: 1.0}, seed=21),
        "same": write_run(root / "same", {MESSAGE: 1.0, OTHER: 1.0}, seed=22),
        "slower": write_run(root / "slower", {MESSAGE: 1.0, OTHER: 1.3}, seed=23),
    }


def evaluate(runs, now: str, *exprs: str) -> list[slo.Result]:
    current = runs[now]
    summary = json.loads((current / "summary.json").read_text())
    return slo.evaluate(
        [slo.parse(e) for e in exprs], summary, load(runs["base"], "--baseline"), lambda: hlog.read(current / hlog.NAME)
    )


def test_a_run_like_its_baseline_passes(runs):
    result = evaluate(runs, "same", "message:p50<=1.1x", "message:p99<1.1x")
    assert [r.passed for r in result] == [True, True]
    assert ": within <= 1.1x (p=" in result[0].detail and "(worst of 2 names" in result[0].detail
    assert 0.9 < result[0].value < 1.1


def test_a_slower_name_fails_and_is_named_with_its_ratio(runs):
    result = evaluate(runs, "slower", "message:p50<=1.1x", "message@room/[group]:p50<=1.1x", "message:p50<=1.5x")
    assert [r.passed for r in result] == [False, True, True]
    assert re.search(r"measured 1\.[23]\d\dx the baseline \(worst of 2 names: chat/\[group\]\)", result[0].detail)
    assert "significantly slower (p=" in result[0].detail and "past <= 1.1x" in result[0].detail
    d = slo.as_dicts(result)[0]
    assert d["relative"] and d["unit"] == "x" and d["limit"] == 1.1 and 1.2 < d["value"] < 1.4
    assert slo.format_value(d["stat"], 1.0) and slo.kind_of(d) == "relative"


def test_too_few_samples_to_judge_fails_and_says_what_is_needed(runs):
    (result,) = evaluate(runs, "same", "message:p99.9<=1.1x")
    assert not result.passed and "too few samples to judge" in result.detail
    assert "needs 5 blocks of >= 10,000 samples in each run" in result.detail


def test_no_row_in_both_or_no_baseline_fails(runs):
    (result,) = evaluate(runs, "same", "connect:p50<=1.1x")
    assert not result.passed and result.value is None and "no data for connect in both" in result.detail
    (alone,) = slo.evaluate([slo.parse("message:p50<=1.1x")], {"latency": []})
    assert not alone.passed and "relative limits need --baseline DIR" in alone.detail
    assert not slo.certain_to_fail(slo.parse("message:p50<=1.1x"), {"latency": []})


def test_during_the_run_the_ratio_so_far_is_shown_and_judged_for_significance_at_the_end(runs):
    summary = json.loads((runs["slower"] / "summary.json").read_text())
    baseline = load(runs["base"], "--baseline")
    live, named = slo.evaluate(
        [slo.parse("message:p50<=1.1x"), slo.parse("message@room/[group]:p50<=1.1x")], summary, baseline
    )
    assert not live.passed and named.passed
    assert re.fullmatch(
        r"so far 1\.\d{3}x the baseline \(worst of 2 names: chat/\[group\]\), limit <= 1\.1x; judged for significance"
        r" at the end",
        live.detail,
    )


def test_the_capacity_finder_takes_absolute_limits_only():
    with pytest.raises(OptionError, match=r"--capacity-slo 'message:p99<=1.1x': each step is judged on its own"):
        settings_from(options(capacity_slo=["message:p99<=1.1x"]), "ws://127.0.0.1:1")
