"""compare.html: `python -m chanload compare`'s result as one self-contained page (inline CSS and SVG, no scripts).

The verdict and the regressions first, then per (type, name) row the table `compare.render` prints, the two
runs' percentile spectra overlaid and their p50 and p99 per second; then the run-wide figures, the rows only
one run has, where the fingerprints differ. Every text from the runs is escaped.
"""

from __future__ import annotations

import math
from html import escape

from chanload.formatting import format_us, format_value
from chanload.recording import significance
from chanload.recording.hlog import NAME as HLOG
from chanload.reporting import comparison, svgchart
from chanload.reporting.charts import TIME_LABEL, Chart, Line, Point
from chanload.reporting.comparison import EXIT_REGRESSION
from chanload.reporting.html import CSP, CSS

BASE_COLOR, NEW_COLOR = "#2b6cb0", "#c53030"
# Over time: BASE in cool colours and dashed, NEW in warm colours and solid.
SERIES_COLORS = {
    ("BASE", "p50"): "#2b6cb0",
    ("BASE", "p99"): "#6b46c1",
    ("NEW", "p50"): "#dd6b20",
    ("NEW", "p99"): "#c53030",
}
EXTRA_CSS = """
.banner ul{margin:4px 0 0;padding-left:20px;font-weight:400}.banner.status-ok{border-color:#2f855a}
section.row{margin-top:18px}h3{font-size:16px;margin:18px 0 4px}
tr.slower :is(th,td){background:#fed7d7;color:#742a2a;font-weight:600}tr.faster :is(th,td){background:#c6f6d5}
.why{display:block;color:#4a5568;font-size:12px;font-weight:400}
"""


def render_compare_html(result: comparison.Comparison) -> str:
    """The whole compare.html for a comparison."""
    regressions = result.regressions
    verdict = f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}" if regressions else "no regression"
    title = f"chanload compare: {verdict} ({result.base.path} -> {result.new.path})"
    body = [
        _header(result),
        _verdict(result),
        _warnings(result.warnings),
        _rows(result),
        _scalars(result.scalars),
        _only(result),
        _differences(result.differences),
        '<p class="meta">Latencies are in microseconds in summary.json and latency.hlog; shown here in us, ms or s.'
        " A verdict needs the one-sided Mann-Whitney test on blocks of seconds (chanload.recording.significance)"
        " and the whole-run ratio to agree; max is never tested.</p>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}{EXTRA_CSS}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )


def spectrum_chart(row: comparison.RowComparison, index: int) -> Chart:
    """Both runs' whole-run latency by percentile, x = log10(1 / (1 - q)); max one decade past the last finite x."""
    finite = [_nines(pct) for pct, _ in row.base_spectrum + row.new_spectrum if pct < 100.0]
    top = max(finite, default=0.0)
    lines = []
    for label, spectrum, color, dashed in (
        ("BASE", row.base_spectrum, BASE_COLOR, True),
        ("NEW", row.new_spectrum, NEW_COLOR, False),
    ):
        points: list[Point] = [(_nines(pct) if pct < 100.0 else top + 1.0, max(v, 1)) for pct, v in spectrum]
        if points:
            lines.append(Line(label, points, color, dashed=dashed, markers=True))
    ticks = [(0.0, "min"), (_nines(50.0), "p50")]
    ticks += [(float(k), _nines_label(k)) for k in range(1, math.floor(top + 1e-6) + 1)]
    ticks.append((top + 1.0, "max"))
    return Chart(
        f"spectrum-{index}",
        f"Latency by percentile: {row.type} {row.name}",
        f"Latency at each percentile of the whole run, BASE (dashed) and NEW, on a log scale; x is"
        f" log10(1 / (1 - q)), so each step to the right adds a nine; max is placed one decade past"
        f" {_nines_label(top) if top >= 1 else 'the highest percentile'}.",
        "percentile",
        "latency",
        lines,
        latency=True,
        log_y=True,
        x_ticks=ticks,
        empty_note=_missing(row, spectrum=True),
        notes=_absent(row.base_spectrum, row.new_spectrum, "whole-run histogram")
        + ["From each run's whole-run HDR histogram (3 significant digits)."],
    )


def over_time_chart(row: comparison.RowComparison, index: int) -> Chart:
    """p50 and p99 in each second of both runs, BASE dashed; x = seconds since each run's start."""
    lines = []
    for label, series, dashed in (("BASE", row.base_series, True), ("NEW", row.new_series, False)):
        for stat, column in (("p50", 1), ("p99", 2)):
            points = _gapped([(s[0], s[column]) for s in series])
            if points:
                lines.append(Line(f"{label} {stat}", points, SERIES_COLORS[(label, stat)], dashed=dashed))
    last = max((s[0] for s in row.base_series + row.new_series), default=0)
    return Chart(
        f"over-time-{index}",
        f"p50 and p99 per second: {row.type} {row.name}",
        f"p50 and p99 latency of {row.type} {row.name} in each second of BASE (dashed) and of NEW (solid), on a log"
        " scale (the same ratio is the same distance); a gap is a second without samples.",
        TIME_LABEL,
        "latency",
        lines,
        latency=True,
        log_y=True,
        x_range=(0, max(last, 1)),
        empty_note=_missing(row, spectrum=False),
        notes=_absent(row.base_series, row.new_series, f"per-second data ({HLOG})"),
    )


def _nines(pct: float) -> float:
    return math.log10(1.0 / (1.0 - pct / 100.0))


def _nines_label(k: float) -> str:
    """The tick label of x = k nines: 1 -> p90, 2 -> p99, 3 -> p99.9, 4 -> p99.99."""
    n = math.floor(k + 1e-6)
    return "p90" if n <= 1 else "p99" + ("." + "9" * (n - 2) if n > 2 else "")


def _gapped(points: list[tuple[int, int]]) -> list[Point]:
    """The points with a break wherever a second is missing; latencies at least 1 us (log scale)."""
    out: list[Point] = []
    last = None
    for second, value in points:
        if last is not None and second - last > 1:
            out.append(None)
        out.append((second, max(value, 1)))
        last = second
    return out


def _missing(row: comparison.RowComparison, *, spectrum: bool) -> str:
    """Why a chart has no data at all."""
    if spectrum:
        return f"neither run has a whole-run histogram with samples for this row (no `hdr` in summary.json, no {HLOG})."
    return f"neither run has per-second histograms for this row (no {HLOG} beside summary.json, or none for the row)."


def _absent(base: list, new: list, what: str) -> list[str]:
    """A caption naming the one run a chart lacks (both lacking: the chart's own "no data" note says so)."""
    if bool(base) == bool(new):
        return []
    return [f"{'NEW' if base else 'BASE'} has no {what} for this row: only {'BASE' if base else 'NEW'} is drawn."]


def _header(c: comparison.Comparison) -> str:
    if c.regressions:
        n = len(c.regressions)
        badge = f'<span class="badge fail">{n} regression{"s" if n != 1 else ""}</span>'
    else:
        badge = '<span class="badge pass">no regression</span>'
    return (
        f"<header><h1>chanload compare {badge}</h1>"
        f'<p class="meta">BASE <code class="base-path">{escape(str(c.base.path))}</code> → NEW'
        f' <code class="new-path">{escape(str(c.new.path))}</code></p>'
        f'<p class="meta">tolerance {c.tolerance * 100:g}% · alpha {c.alpha:g} family-wise, split over'
        f" {c.tests} percentile test{'s' if c.tests != 1 else ''} (Bonferroni) · one-sided Mann-Whitney on blocks of"
        " seconds</p></header>"
    )


def _verdict(c: comparison.Comparison) -> str:
    if not c.regressions:
        return (
            f'<div class="banner status-ok verdict">No significant regression beyond {c.tolerance * 100:g}%:'
            " no percentile of NEW is significantly slower than BASE by more than the tolerance.</div>"
        )
    index = {id(row): i for i, row in enumerate(c.rows)}
    items = []
    for row, j in c.regressions:
        items.append(
            f'<li><a href="#row-{index[id(row)]}">{escape(f"{row.type} {row.name}")}</a>'
            f" <strong>{comparison.pct_label(j.pct)}</strong>: {j.ratio:.3f}x slower"
            f" ({escape(format_us(j.base))} → {escape(format_us(j.new))}; p={j.p_slower:.2g})</li>"
        )
    return (
        '<div class="banner status-fail verdict" role="alert">NEW is significantly slower than BASE by more than'
        f' {c.tolerance * 100:g}% (exit code {EXIT_REGRESSION}):<ul class="regressions">{"".join(items)}</ul>'
        "</div>"
    )


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f'<div class="banner status-warn warnings">Warnings:<ul>{items}</ul></div>'


def _rows(c: comparison.Comparison) -> str:
    if not c.rows:
        return "<h2>Rows compared</h2><p>No (type, name) row is in both runs: nothing to compare.</p>"
    return "<h2>Rows compared</h2>" + "\n".join(_row(row, i) for i, row in enumerate(c.rows))


def _row(row: comparison.RowComparison, index: int) -> str:
    body = []
    count_ratio = row.new["count"] / row.base["count"] if row.base.get("count") else None
    body.append(_tr("count", f"{row.base['count']:,}", f"{row.new['count']:,}", count_ratio, "", ""))
    for (label, _), j in zip(comparison.TESTED, row.judgements, strict=True):
        css = "slower" if j.regression else "faster" if j.verdict == significance.FASTER else ""
        why = j.note if j.verdict == significance.TOO_FEW else ""
        shown = label.replace("_", ".")
        body.append(_tr(shown, format_us(j.base), format_us(j.new), j.ratio, comparison.verdict_text(j), why, css))
    body.append(
        _tr("max", format_us(row.base.get("max")), format_us(row.new.get("max")), row.max_ratio, "not tested", "")
    )
    figures = []
    for chart in (spectrum_chart(row, index), over_time_chart(row, index)):
        caption = " ".join(chart.notes)
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption and not chart.empty else ""
        figures.append(f"<figure>{svgchart.render(chart)}{cap}</figure>")
    note = f'<p class="note">Note: {escape(row.note)}</p>' if row.note else ""
    return (
        f'<section class="row" id="row-{index}"><h3>{escape(row.type)} <code>{escape(row.name)}</code></h3>'
        '<div class="scroll"><table class="compare"><thead><tr><th></th><th class="num">BASE</th>'
        '<th class="num">NEW</th><th class="num">NEW/BASE</th><th>verdict</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}{''.join(figures)}</section>"
    )


def _tr(label: str, base: str, new: str, ratio: float | None, verdict: str, why: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    detail = f'<span class="why">{escape(why)}</span>' if why else ""
    return (
        f'<tr{cls}><th>{escape(label)}</th><td class="num">{escape(base)}</td><td class="num">{escape(new)}</td>'
        f'<td class="num">{escape(comparison.fmt_ratio(ratio))}</td><td>{escape(verdict)}{detail}</td></tr>'
    )


def _scalars(scalars: list[tuple[str, str, float | None, float | None]]) -> str:
    rows = []
    for label, kind, b, n in scalars:
        if b is None and n is None:
            continue
        ratio = comparison.fmt_ratio(n / b) if b and n is not None else "-"
        rows.append(
            f'<tr><th>{escape(label)}</th><td class="num">{escape(format_value(kind, b))}</td>'
            f'<td class="num">{escape(format_value(kind, n))}</td><td class="num">{escape(ratio)}</td></tr>'
        )
    if not rows:
        return ""
    return (
        '<h2>Run figures</h2><table class="scalars"><thead><tr><th></th><th class="num">BASE</th>'
        f'<th class="num">NEW</th><th class="num">NEW/BASE</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _only(c: comparison.Comparison) -> str:
    parts = []
    for where, css, keys in (("Only in BASE", "only-base", c.only_base), ("Only in NEW", "only-new", c.only_new)):
        if keys:
            items = "".join(f"<li>{escape(t)} <code>{escape(n)}</code></li>" for t, n in keys)
            parts.append(f'<h3>{where}</h3><ul class="{css}">{items}</ul>')
    return "<h2>Rows in one run only</h2>" + "".join(parts) if parts else ""


def _differences(differences: list[tuple[str, object, object]]) -> str:
    if not differences:
        return ""
    rows = "".join(
        f"<tr><th><code>{escape(path)}</code></th><td>{escape(repr(b))}</td><td>{escape(repr(n))}</td></tr>"
        for path, b, n in differences
    )
    return (
        '<h2>Fingerprint differences</h2><table class="differences"><thead><tr><th>field</th><th>BASE</th>'
        f"<th>NEW</th></tr></thead><tbody>{rows}</tbody></table>"
    )
