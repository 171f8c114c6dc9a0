"""`python -m chanload compare BASE NEW`: did NEW get slower than BASE, significantly and beyond a tolerance?

BASE and NEW are report folders (summary.json, and latency.hlog beside it) or summary.json files. For each
(type, name) row in both runs it shows count, p50, p90, p99, p99.9 and max, each with NEW/BASE and a
verdict (`chanload.recording.significance`), then the delivery ratio, failure ratio and message rate side
by side, the rows only one run has, and where the runs' fingerprints differ.

Exit code: 3 when some percentile is significantly slower by more than --max-regression (default 10%),
2 when BASE or NEW cannot be read or an option is wrong, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from chanload.formatting import format_us, format_value
from chanload.recording.archive import RunError, load
from chanload.reporting.artifacts import write_atomic
from chanload.reporting.compare_html import render_compare_html
from chanload.reporting.comparison import (
    DEFAULT_ALPHA,
    DEFAULT_TOLERANCE,
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_REGRESSION,
    GATE,
    NOT_GATED,
    TESTED,
    Comparison,
    RowComparison,
    compare,
    fmt_ratio,
    pct_label,
    verdict_text,
)


def render(c: Comparison) -> str:
    """The comparison as the text `compare` prints."""
    lines = [
        f"chanload compare: BASE {c.base.path} -> NEW {c.new.path}",
        f"tolerance {c.tolerance * 100:g}%; {c.tests} percentile tests at a family-wise alpha of {c.alpha:g}"
        " (one-sided Mann-Whitney on blocks of seconds, Bonferroni)" + _gate_note(c),
    ]
    for row in c.rows:
        lines.append("")
        lines.append(f"{row.type}  {row.name}")
        table = [["", "BASE", "NEW", "NEW/BASE", "verdict"]]
        table.append(["count", str(row.base["count"]), str(row.new["count"]), fmt_ratio(_div(row.new, row.base)), ""])
        for (label, _), j in zip(TESTED, row.judgements, strict=True):
            table.append(
                [label.replace("_", "."), format_us(j.base), format_us(j.new), fmt_ratio(j.ratio), verdict_text(j)]
            )
        table.append(
            [
                "max",
                format_us(row.base.get("max")),
                format_us(row.new.get("max")),
                fmt_ratio(row.max_ratio),
                "not tested",
            ]
        )
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        for cells in table:
            head = [cells[0].ljust(widths[0])] + [cells[i].rjust(widths[i]) for i in (1, 2, 3)]
            lines.append("  " + "  ".join(head + [cells[4]]).rstrip())
        if row.note:
            lines.append(f"  note: {row.note}")
        if not row.gated:
            lines.append(
                "  not gated: it holds the generator's own lateness in sending; a slower target shows in WS message"
            )
    lines.append("")
    for label, kind, b, n in c.scalars:
        if b is None and n is None:
            continue
        ratio = fmt_ratio(n / b) if b and n is not None else "-"
        lines.append(f"{label}: BASE {format_value(kind, b)}  NEW {format_value(kind, n)}  ({ratio})")
    for where, keys in (("only in BASE", c.only_base), ("only in NEW", c.only_new)):
        if keys:
            lines.append(f"{where}: " + "; ".join(f"{t} {n}" for t, n in keys))
    for path, was, now in c.differences:
        lines.append(f"differs: {path}: BASE {was!r}  NEW {now!r}")
    lines += [f"warning: {w}" for w in c.warnings]
    if c.regressions:
        for row, j in c.regressions:
            lines.append(
                f"REGRESSION: {row.type} {row.name} {pct_label(j.pct)} {j.ratio:.3f}x slower"
                f" ({format_us(j.base)} -> {format_us(j.new)}; p={j.p_slower:.2g}, tolerance {c.tolerance * 100:g}%)"
            )
        lines.append(f"chanload compare: exit code {EXIT_REGRESSION} (significantly slower beyond the tolerance)")
    else:
        lines.append(
            f"chanload compare: no percentile significantly slower by more than {c.tolerance * 100:g}%: exit code 0"
        )
    return "\n".join(lines)


def _gate_note(c: Comparison) -> str:
    gate = c.rows[0].gate if c.rows else GATE
    if tuple(gate) == GATE:
        return ""
    return "; only " + ", ".join(pct_label(p) for p in gate) + " can fail it (--gate)"


def _div(new: dict, base: dict) -> float | None:
    return new["count"] / base["count"] if base.get("count") else None


def parse_gate(text: str) -> tuple[float, ...]:
    """'p50,p99' -> (50.0, 99.0); an unknown name raises ValueError listing the ones there are."""
    names = {label.replace("_", "."): pct for label, pct in TESTED}
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in names]
    if unknown or not chosen:
        raise ValueError(f"--gate {text!r}: a comma-separated list of {', '.join(names)}")
    return tuple(names[part] for part in chosen)


def parse_tolerance(text: str) -> float:
    """'10%' or a fraction '0.1' -> 0.1; anything else raises ValueError saying what to write."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100
        else:
            value = float(raw)
            if value > 1:
                raise ValueError
    except ValueError:
        raise ValueError(f"--max-regression {text!r}: write a percentage (10%) or a fraction (0.1)") from None
    if not 0 <= value < 10:
        raise ValueError(f"--max-regression {text!r}: between 0% and 1000%")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chanload compare",
        description="Compare two runs: each percentile's ratio and whether NEW is significantly slower than BASE.",
    )
    parser.add_argument("base", metavar="BASE", help="the reference run: a --report-dir folder or its summary.json")
    parser.add_argument("new", metavar="NEW", help="the run to judge: a --report-dir folder or its summary.json")
    parser.add_argument(
        "--max-regression",
        default="10%",
        metavar="PCT",
        help="tolerance: exit 3 only when a percentile is significantly slower by more than this (default 10%%)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help="family-wise false-positive rate, split over the percentiles tested (default 0.05)",
    )
    parser.add_argument(
        "--gate",
        default="p50,p90,p99,p99.9",
        metavar="LIST",
        help="the percentiles that can fail the comparison, comma-separated (default all: p50,p90,p99,p99.9); the"
        " others are judged and shown. Tail percentiles differ more between runs of the same code (docs/compare.md)",
    )
    parser.add_argument("--report-dir", metavar="DIR", help="also write DIR/compare.html")
    args = parser.parse_args(argv)
    try:
        gate = parse_gate(args.gate)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        tolerance = parse_tolerance(args.max_regression)
    except ValueError as exc:
        parser.error(str(exc))
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha {args.alpha}: between 0 and 1, e.g. 0.05")
    try:
        result = compare(load(args.base, "BASE"), load(args.new, "NEW"), tolerance, args.alpha, gate)
    except RunError as exc:
        sys.stderr.write(f"chanload compare: error: {exc}\n")
        return EXIT_BAD_INPUT
    print(render(result), flush=True)
    if args.report_dir:
        out = Path(args.report_dir) / "compare.html"
        try:
            write_atomic(out, render_compare_html(result))
        except OSError as exc:
            sys.stderr.write(f"chanload compare: error: cannot write {out}: {exc.strerror or exc}\n")
            return EXIT_BAD_INPUT
        print(f"chanload compare: {out}")
    return result.exit_code


__all__ = [  # the model lives in chanload.reporting.comparison; these names stay importable from here
    "DEFAULT_ALPHA",
    "DEFAULT_TOLERANCE",
    "EXIT_BAD_INPUT",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "GATE",
    "NOT_GATED",
    "TESTED",
    "Comparison",
    "RowComparison",
    "compare",
    "fmt_ratio",
    "load",
    "main",
    "parse_gate",
    "parse_tolerance",
    "pct_label",
    "render",
    "verdict_text",
]
