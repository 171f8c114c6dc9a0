"""The significance rule: Mann-Whitney U against scipy, blocks of seconds, and verdicts on known distributions."""

from __future__ import annotations

import random

import pytest
from scipy.stats import mannwhitneyu

from chanload.recording import significance as sig
from chanload.recording.latency import new_histogram


def seconds(rng: random.Random, n: int, per_second: int, scale: float = 1.0, shift_us: float = 0.0):
    """n seconds of log-normal latencies around 400 us (times `scale`, plus `shift_us`), `per_second` samples each."""
    out = []
    for s in range(n):
        h = new_histogram()
        for _ in range(per_second):
            h.record_value(int(rng.lognormvariate(6.0, 0.3) * scale + shift_us))
        out.append((s, h))
    return out


@pytest.mark.parametrize(("n1", "n2", "ties"), [(5, 5, False), (8, 13, False), (30, 30, False), (31, 40, False),
                                                (10, 12, True), (60, 25, True)])  # fmt: skip
def test_mann_whitney_matches_scipy(n1, n2, ties):
    rng = random.Random(n1 * 100 + n2)
    for _ in range(20):
        if ties:
            x, y = [rng.randint(0, 6) for _ in range(n1)], [rng.randint(0, 5) for _ in range(n2)]
        else:
            x, y = [rng.gauss(0.4, 1) for _ in range(n1)], [rng.gauss(0, 1) for _ in range(n2)]
        method = "asymptotic" if ties or max(n1, n2) > 30 else "exact"
        expected = mannwhitneyu(x, y, alternative="greater", method=method).pvalue
        assert sig.mann_whitney_greater(x, y) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_mann_whitney_edge_cases():
    assert sig.mann_whitney_greater([], [1.0]) == 1.0
    assert sig.mann_whitney_greater([1.0, 1.0], [1.0, 1.0]) == 1.0  # all tied: no evidence
    assert sig.mann_whitney_greater([10, 11, 12, 13, 14], [1, 2, 3, 4, 5]) == pytest.approx(1 / 252)


def test_blocks_are_long_enough_for_the_tail_of_the_percentile():
    counts = [100] * 60
    assert sig.block_seconds(counts, counts, 50.0) == 1  # 20 samples a block would do
    assert sig.block_seconds(counts, counts, 99.0) == 10  # 1,000 samples
    assert sig.block_seconds(counts, [50] * 60, 99.0) == 20  # both runs need them: the slower run decides
    assert sig.block_seconds(counts, counts, 99.9) == 61  # 10,000: more than the run holds


def test_blocks_merge_consecutive_seconds_and_keep_a_last_block_at_least_half_full():
    rng = random.Random(1)
    run = seconds(rng, 10, 10)
    assert [h.get_total_count() for h in sig.blocks(run, 3)] == [30, 30, 30]  # the tenth second alone is dropped
    assert [h.get_total_count() for h in sig.blocks(run, 4)] == [40, 40, 20]  # half a block: kept
    gappy = [run[0], run[5]]  # seconds with no samples still count toward a block's length
    assert [h.get_total_count() for h in sig.blocks(gappy, 3)] == [10, 10]


def test_same_distribution_is_rarely_called_slower():
    """Many A/A pairs drawn from one distribution: the rule flags about alpha of them, never much more."""
    rng = random.Random(3)
    flagged = 0
    trials = 200
    for _ in range(trials):
        j = sig.judge(seconds(rng, 20, 50), seconds(rng, 20, 50), 50.0, tolerance=0.0, alpha=0.05)
        flagged += j.verdict == sig.SLOWER
    assert flagged <= trials * 0.05 * 2, flagged  # 10 expected; 20 would be far outside chance


def test_a_shift_beyond_the_tolerance_is_called_slower_and_one_within_is_not():
    rng = random.Random(4)
    base = seconds(rng, 20, 100)
    slower = sig.judge(base, seconds(rng, 20, 100, scale=1.3), 50.0, tolerance=0.1, alpha=0.01)
    assert slower.verdict == sig.SLOWER and slower.regression
    assert 1.25 < slower.ratio < 1.35 and slower.p_slower < 0.001 and slower.blocks == (20, 20)
    within = sig.judge(base, seconds(rng, 20, 100, scale=1.04), 50.0, tolerance=0.1, alpha=0.01)
    assert within.verdict == sig.SLOWER_WITHIN and not within.regression and within.p_slower < 0.01
    alike = sig.judge(base, seconds(rng, 20, 100), 50.0, tolerance=0.1, alpha=0.01)
    assert alike.verdict == sig.SAME and not alike.regression
    faster = sig.judge(base, seconds(rng, 20, 100, scale=0.7), 50.0, tolerance=0.1, alpha=0.01)
    assert faster.verdict == sig.FASTER and faster.p_faster < 0.001


def test_too_few_blocks_is_no_verdict_and_says_what_it_needs():
    rng = random.Random(5)
    j = sig.judge(seconds(rng, 30, 100), seconds(rng, 30, 100, scale=2.0), 99.9, tolerance=0.1, alpha=0.05)
    assert j.verdict == sig.TOO_FEW and not j.regression and j.ratio > 1.5
    assert j.note == "needs 5 blocks of >= 10,000 samples in each run; has 1 and 1 (blocks of 31 s)"


def test_decide_needs_both_the_test_and_the_whole_run_ratio():
    j = sig.Judgement(50.0, 100, 105, 1.05, sig.SAME, p_slower=0.0001, p_faster=1.0, block_seconds=1, blocks=(9, 9))
    assert sig.decide(j, tolerance=0.1, alpha=0.05).verdict == sig.SLOWER_WITHIN  # significant, within tolerance
    j.ratio, j.new = 1.2, 120
    assert sig.decide(j, tolerance=0.1, alpha=0.05).verdict == sig.SLOWER
    assert sig.decide(j, tolerance=0.1, alpha=0.00001).verdict == sig.SAME  # not significant at that alpha
    j.p_slower, j.p_faster, j.ratio = 1.0, 0.0001, 0.8
    assert sig.decide(j, tolerance=0.1, alpha=0.05).verdict == sig.FASTER
