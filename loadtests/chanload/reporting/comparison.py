"""The comparison of two runs, as data: each shared row's percentiles judged, the scalars, the warnings.

`compare()` builds a `Comparison` from two runs read back (`chanload.recording.archive`); the text that
`python -m chanload compare` prints (`chanload.reporting.compare`) and `compare.html`
(`chanload.reporting.compare_html`) both render it, and share the labels below.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from chanload.recording import significance, types
from chanload.recording.archive import Run
from chanload.recording.hlog import NAME as HLOG
from chanload.recording.hlog import Interval
from chanload.recording.latency import Counts, new_histogram
from chanload.reporting import fingerprint

EXIT_OK, EXIT_BAD_INPUT, EXIT_REGRESSION = 0, 2, 3
# Judged and shown, but never the gate: the generator's own lateness in sending (open model), and the corrected
# round trip, which adds that lateness to the reply's (a generator's hiccup moved it 18% in a run of the same
# code here, docs/compare.md). A slower target shows in the plain round trip; gate the corrected row on
# purpose with --baseline and 'message_corrected:p99<=1.1x'.
NOT_GATED = (types.SEND_LAG, types.CORRECTED)
TESTED = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))
DEFAULT_TOLERANCE = 0.10
DEFAULT_ALPHA = 0.05
GATE = tuple(pct for _, pct in TESTED)  # every tested percentile can fail a comparison, unless --gate says fewer


@dataclass
class RowComparison:
    """One (type, name) in both runs: the counts, and a judgement per tested percentile."""

    type: str
    name: str
    metric: str
    base: dict
    new: dict
    judgements: list[significance.Judgement]
    max_ratio: float | None
    note: str = ""
    # per-second series (second, p50, p99) of each run, for the HTML report's over-time charts
    base_series: list[tuple[int, int, int]] = field(default_factory=list)
    new_series: list[tuple[int, int, int]] = field(default_factory=list)
    # the percentile spectra: (percentile, value us) of each run's whole-run histogram
    base_spectrum: list[tuple[float, int]] = field(default_factory=list)
    new_spectrum: list[tuple[float, int]] = field(default_factory=list)
    gate: tuple[float, ...] = ()  # the percentiles that can fail the comparison

    @property
    def gated(self) -> bool:
        return self.type not in NOT_GATED

    @property
    def regressions(self) -> list[significance.Judgement]:
        return [j for j in self.judgements if j.regression and j.pct in self.gate] if self.gated else []


@dataclass
class Comparison:
    base: Run
    new: Run
    tolerance: float
    alpha: float
    tests: int  # (row, percentile) pairs tested; each at alpha / tests
    rows: list[RowComparison]
    only_base: list[tuple[str, str]]
    only_new: list[tuple[str, str]]
    scalars: list[tuple[str, str, float | None, float | None]]  # (label, kind, base, new)
    differences: list[tuple[str, object, object]]
    warnings: list[str]

    @property
    def regressions(self) -> list[tuple[RowComparison, significance.Judgement]]:
        return [(row, j) for row in self.rows for j in row.regressions]

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.regressions else EXIT_OK


def compare(
    base: Run,
    new: Run,
    tolerance: float = DEFAULT_TOLERANCE,
    alpha: float = DEFAULT_ALPHA,
    gate: Sequence[float] = GATE,
) -> Comparison:
    """Judge every row both runs have; `alpha` is split over the gated tests made (Bonferroni).

    `gate`: the percentiles that can fail the comparison (the others are judged and shown)."""
    base_rows, new_rows = base.rows(), new.rows()
    shared = [key for key in base_rows if key in new_rows]
    rows = []
    for key in shared:
        b, n = base_rows[key], new_rows[key]
        rows.append(_row(base, new, b, n, tolerance))
    for row in rows:
        row.gate = tuple(gate)
    tests = sum(1 for row in rows if row.gated for j in row.judgements if j.p_slower is not None and j.pct in gate)
    each = alpha / tests if tests else alpha
    for row in rows:
        row.judgements = [significance.decide(j, tolerance, each) for j in row.judgements]
    differences = fingerprint.differences(base.summary.get("fingerprint"), new.summary.get("fingerprint"))
    return Comparison(
        base=base,
        new=new,
        tolerance=tolerance,
        alpha=alpha,
        tests=tests,
        rows=rows,
        only_base=[key for key in base_rows if key not in new_rows],
        only_new=[key for key in new_rows if key not in base_rows],
        scalars=_scalars(base.summary, new.summary),
        differences=differences,
        warnings=_warnings(base, new, differences),
    )


def _row(base: Run, new: Run, b: dict, n: dict, tolerance: float) -> RowComparison:
    base_seconds, new_seconds = base.seconds(b), new.seconds(n)
    base_total, new_total = base.total(b), new.total(n)
    note = ""
    judgements = []
    empty = [r.label for r, row in ((base, b), (new, n)) if not row.get("count")]
    if empty:
        note = f"no successful samples in {' and '.join(empty)} (failures only): nothing to compare"
    elif base_total is None or new_total is None:
        note = "no histogram in summary.json (written before chanload kept them): percentiles compared without a test"
    elif not base_seconds or not new_seconds:
        which = " and ".join(r.label for r, s in ((base, base_seconds), (new, new_seconds)) if not s)
        missing = " and ".join(r.label for r in (base, new) if r.log is None)
        note = (
            f"no {HLOG} for {missing}: no per-second data, so no significance test"
            if missing
            else f"{HLOG} of {which} has no seconds of this row: no significance test"
        )
    for label, pct in TESTED:
        if note:
            bv, nv = b.get(label), n.get(label)
            ratio = nv / bv if bv and nv is not None else None
            judgements.append(
                significance.Judgement(pct, bv, nv, ratio, significance.UNTESTED, None, None, None, (0, 0), note)
            )
        else:
            judgements.append(significance.judge(base_seconds, new_seconds, pct, tolerance, 1.0, base_total, new_total))
    max_ratio = n["max"] / b["max"] if b.get("max") and n.get("max") is not None else None
    return RowComparison(
        type=b["type"],
        name=b["name"],
        metric=b["metric"],
        base=b,
        new=n,
        judgements=judgements,
        max_ratio=max_ratio,
        note=note,
        base_series=_series(base_seconds),
        new_series=_series(new_seconds),
        base_spectrum=_spectrum(base_total),
        new_spectrum=_spectrum(new_total),
    )


SPECTRUM = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0)


def _spectrum(total: HdrHistogram | None) -> list[tuple[float, int]]:
    if total is None or not total.get_total_count():
        return []
    counts = Counts(total)
    return [(pct, counts.percentile(pct) if pct < 100 else total.get_max_value()) for pct in SPECTRUM]


def _series(seconds: list[tuple[int, Interval]]) -> list[tuple[int, int, int]]:
    """(second, p50, p99) per second; one second decoded at a time (a late worker's report may add a second line)."""
    out = []
    ordered = sorted(seconds, key=lambda pair: pair[0])
    for second, group in itertools.groupby(ordered, key=lambda pair: pair[0]):
        merged = new_histogram()
        for _, interval in group:
            merged.add(interval.histogram)
        counts = Counts(merged)
        out.append((second, counts.percentile(50.0), counts.percentile(99.0)))
    return out


def _scalars(base: dict, new: dict) -> list[tuple[str, str, float | None, float | None]]:
    def figures(summary: dict) -> tuple[float | None, float | None, float | None]:
        counters = summary.get("counters") or {}
        trips = counters.get("ok", 0) + counters.get("failed", 0)
        delivery = ((summary.get("delivery") or {}).get("total") or {}).get("ratio")
        fail = counters.get("failed", 0) / trips if trips else None
        duration = summary.get("duration_s") or 0
        rate = trips / duration if duration > 0 and counters else None
        return delivery, fail, rate

    b, n = figures(base), figures(new)
    return [
        ("delivery ratio", "ratio", b[0], n[0]),
        ("failure ratio", "ratio", b[1], n[1]),
        ("message rate", "rate", b[2], n[2]),
    ]


def _warnings(base: Run, new: Run, differences: list[tuple[str, object, object]]) -> list[str]:
    warnings = []
    if differences:
        fields = ", ".join(path for path, _, _ in differences)
        warnings.append(f"the runs differ in {fields}: the comparison may be unfair")
    for run in (base, new):
        if fingerprint.busy(run.summary.get("fingerprint")):
            peak = run.summary["fingerprint"]["generator_peak_cpu"]
            warnings.append(
                f"{run.label}'s generator used {peak * 100:.0f}% of a core in its busiest second: its latency may"
                " be partly the generator's own"
            )
        if run.summary.get("fingerprint") is None:
            warnings.append(f"{run.label} has no fingerprint (an older summary): versions and machine unknown")
        if run.summary.get("status") not in (None, "completed"):
            warnings.append(f"{run.label}'s run ended {run.summary.get('status')!r}, not 'completed'")
    return warnings


def pct_label(pct: float) -> str:
    return "p" + f"{pct:g}"


def verdict_text(j: significance.Judgement) -> str:
    """The verdict with the p-value of the test it rests on (the one-sided test in its direction)."""
    if j.p_slower is None or j.p_faster is None:
        return j.verdict
    faster = j.verdict in (significance.FASTER, significance.FASTER_WITHIN) or (
        j.verdict == significance.SAME and (j.ratio or 1.0) < 1.0
    )
    return f"{j.verdict} (p={(j.p_faster if faster else j.p_slower):.2g})"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"
