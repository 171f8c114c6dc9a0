"""Is a percentile of one run significantly above another's, by more than a tolerance?

Latencies within a run are not independent samples: one slow second (a GC pause, a noisy neighbour)
holds many slow messages, so a test over raw samples finds "significant" differences between two runs of
the same code. The unit here is a block of consecutive seconds instead:

1. Both runs' per-second histograms (latency.hlog) are cut into blocks of L consecutive seconds, L the
   same for both runs and just long enough that a block holds at least TAIL / (1 - q) samples (p50: 20,
   p90: 100, p99: 1,000, p99.9: 10,000) on the median block, so a block's q-quantile is read from at least
   TAIL samples at or above it, in both runs alike.
2. Each block gives one value: the q-quantile of its merged histogram (HDR, exact to 3 digits).
3. A one-sided Mann-Whitney U test asks whether NEW's block values are stochastically greater than BASE's
   (the mirror test: smaller). That says the change is real, not chance.
4. The tolerance says whether it matters: `slower` needs the test (p < alpha) and the whole-run ratio
   NEW/BASE above 1 + tolerance. A significant change smaller than the tolerance is no verdict.
5. Fewer than MIN_BLOCKS blocks in a run: no verdict ("too few samples"), never a gate failure.

Runs of the same code on a shared machine also differ as wholes (a few percent here: what the machine
did meanwhile), which no test within two runs can see: the tolerance is what absorbs it. `alpha` is the
false-positive rate of one test; `compare` splits its family-wise alpha over every (row, percentile) it
tests (Bonferroni). How often this flags runs of the same code, and how often it catches a known
slowdown, is measured on real runs (docs/compare.md, `make bench-compare`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from hdrh.histogram import HdrHistogram

from chanload.recording.latency import Counts, new_histogram

TAIL = 10  # samples at or above a block's quantile, at least, on the median block
MIN_BLOCKS = 5  # per run: with 5 against 5 the smallest one-sided U-test p-value is 1/252 = 0.004
SLOWER, FASTER, SAME, TOO_FEW = "slower", "faster", "no significant change", "too few samples"
UNTESTED = "not tested"
SLOWER_WITHIN, FASTER_WITHIN = "slower, within tolerance", "faster, within tolerance"  # significant, but small


@dataclass
class Judgement:
    """One percentile of one row, BASE against NEW."""

    pct: float
    base: int | None  # the whole-run percentile, us
    new: int | None
    ratio: float | None  # new / base
    verdict: str
    p_slower: float | None  # one-sided Mann-Whitney p-value for "NEW's blocks above BASE's"
    p_faster: float | None
    block_seconds: int | None
    blocks: tuple[int, int]  # (BASE's, NEW's)
    note: str = ""

    @property
    def regression(self) -> bool:
        return self.verdict == SLOWER


def samples_needed(pct: float) -> int:
    """TAIL / (1 - q): the samples a block needs for its q-quantile to have TAIL at or above it."""
    return math.ceil(round(TAIL / max(1.0 - pct / 100.0, 1e-9), 6))


def block_seconds(base_counts: Sequence[int], new_counts: Sequence[int], pct: float) -> int:
    """The shortest block (in seconds) whose median sample count reaches TAIL / (1 - q) in both runs."""
    need = samples_needed(pct)
    longest = max(len(base_counts), len(new_counts), 1)
    for length in range(1, longest + 1):
        if all(_median(_sums(counts, length)) >= need for counts in (base_counts, new_counts) if counts):
            return length
    return longest + 1


Second = tuple[int, "HdrHistogram | Held"]  # (second from the start, its histogram, or one kept encoded)


class Held(Protocol):
    """A second's histogram kept encoded (`chanload.recording.hlog.Interval`): its count, decoded on use."""

    @property
    def count(self) -> int: ...

    @property
    def histogram(self) -> HdrHistogram: ...


def _count(h: HdrHistogram | Held) -> int:
    return h.get_total_count() if isinstance(h, HdrHistogram) else h.count


def _histogram(h: HdrHistogram | Held) -> HdrHistogram:
    return h if isinstance(h, HdrHistogram) else h.histogram


def blocks(seconds: Sequence[Second], length: int) -> Iterator[HdrHistogram]:
    """Per-second histograms (second, histogram) merged into blocks of `length` consecutive seconds, one by one.

    Blocks are aligned on the run's first second; the last, shorter block is dropped unless it holds at
    least half a block's seconds. A second with no samples counts toward its block's length all the same.
    One block is held at a time (a histogram is 128 KB decoded): use each before asking for the next.
    """
    if not seconds:
        return
    first = min(s for s, _ in seconds)
    last = max(s for s, _ in seconds)
    full = (last - first + 1) // length
    if (last - first + 1) % length * 2 >= length:
        full += 1
    current, block = -1, new_histogram()
    for second, held in sorted(seconds, key=lambda pair: pair[0]):
        index = (second - first) // length
        if index >= full:
            break
        if index != current:
            if current >= 0:
                yield block
            current, block = index, new_histogram()
        block.add(_histogram(held))
    if current >= 0:
        yield block


def judge(
    base: Sequence[Second],
    new: Sequence[Second],
    pct: float,
    tolerance: float,
    alpha: float,
    base_total: HdrHistogram | None = None,
    new_total: HdrHistogram | None = None,
) -> Judgement:
    """Judge one percentile: is NEW significantly slower (or faster) than BASE by more than `tolerance`?

    `base`, `new`: (second, histogram) per second of each run; the totals default to their merge.
    """
    base_total = base_total if base_total is not None else _merge(_histogram(h) for _, h in base)
    new_total = new_total if new_total is not None else _merge(_histogram(h) for _, h in new)
    b = Counts(base_total).percentile(pct) if base_total.get_total_count() else None
    n = Counts(new_total).percentile(pct) if new_total.get_total_count() else None
    ratio = (n / b) if b and n is not None else None
    length = block_seconds(_per_second(base), _per_second(new), pct)
    base_values = [Counts(h).percentile(pct) for h in blocks(base, length) if h.get_total_count()]
    new_values = [Counts(h).percentile(pct) for h in blocks(new, length) if h.get_total_count()]
    counted = (len(base_values), len(new_values))
    if min(counted) < MIN_BLOCKS or ratio is None:
        note = (
            f"needs {MIN_BLOCKS} blocks of >= {samples_needed(pct):,} samples in each run;"
            f" has {counted[0]} and {counted[1]} (blocks of {length} s)"
        )
        return Judgement(pct, b, n, ratio, TOO_FEW, None, None, length, counted, note)
    p_slower = mann_whitney_greater(new_values, base_values)
    p_faster = mann_whitney_greater(base_values, new_values)
    return decide(Judgement(pct, b, n, ratio, SAME, p_slower, p_faster, length, counted), tolerance, alpha)


def decide(j: Judgement, tolerance: float, alpha: float) -> Judgement:
    """The verdict of a tested judgement at `alpha` (a judgement with too few samples, or untested, keeps its own).

    `slower`: NEW's blocks significantly above BASE's, and the whole-run ratio above 1 + tolerance; `slower,
    within tolerance` when the ratio is above 1 but not beyond; `faster` and `faster, within tolerance` the
    mirror; otherwise `no significant change`. Only `slower` is a regression.
    """
    if j.p_slower is None or j.p_faster is None or j.ratio is None:
        return j
    scale = 1.0 + tolerance
    if j.p_slower < alpha and j.ratio > 1.0:
        verdict = SLOWER if j.ratio > scale else SLOWER_WITHIN
    elif j.p_faster < alpha and j.ratio < 1.0:
        verdict = FASTER if j.ratio < 1.0 / scale else FASTER_WITHIN
    else:
        verdict = SAME
    return replace(j, verdict=verdict)


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided Mann-Whitney U test: the p-value for "x is stochastically greater than y".

    Exact (the U distribution by counting) when both samples have at most 30 values and no ties across
    them; otherwise the normal approximation with tie correction and continuity correction, as
    `scipy.stats.mannwhitneyu(x, y, alternative="greater")` computes it (checked against scipy in the tests).
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 1.0
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(pooled)
    ties: list[int] = []
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1.0
        ties.append(j - i + 1)
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    if max(ties) == 1 and n1 <= 30 and n2 <= 30:
        return _exact_greater(u1, n1, n2)
    n = n1 + n2
    mean = n1 * n2 / 2.0
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1))
    sd = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sd == 0:
        return 1.0
    z = (u1 - mean - 0.5) / sd
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _exact_greater(u: float, n1: int, n2: int) -> float:
    """P(U >= u) under H0, from the number of arrangements giving each U (no ties)."""
    # counts[k][i][j] would be big; the standard recurrence over (i, j) with polynomials in U.
    table: dict[tuple[int, int], list[int]] = {}

    def dist(i: int, j: int) -> list[int]:
        if i == 0 or j == 0:
            return [1]
        key = (i, j)
        found = table.get(key)
        if found is not None:
            return found
        # the largest value is from x (adds j to U) or from y (adds nothing)
        a, b = dist(i - 1, j), dist(i, j - 1)
        out = [0] * (i * j + 1)
        for k, c in enumerate(a):
            out[k + j] += c
        for k, c in enumerate(b):
            out[k] += c
        table[key] = out
        return out

    counts = dist(n1, n2)
    total = sum(counts)
    start = math.ceil(u - 1e-9)
    return sum(counts[start:]) / total


def _per_second(seconds: Sequence[Second]) -> list[int]:
    """Sample counts per second, over the run's span (seconds with none are 0)."""
    if not seconds:
        return []
    first = min(s for s, _ in seconds)
    counts = [0] * (max(s for s, _ in seconds) - first + 1)
    for second, held in seconds:
        counts[second - first] += _count(held)
    return counts


def _sums(counts: Sequence[int], length: int) -> list[int]:
    return [sum(counts[i : i + length]) for i in range(0, len(counts) - length + 1, length)] or [sum(counts)]


def _median(values: Sequence[int]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _merge(histograms) -> HdrHistogram:
    merged = new_histogram()
    for h in histograms:
        merged.add(h)
    return merged
