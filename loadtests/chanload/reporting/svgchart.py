"""A `charts.Chart` as inline SVG: axes with ticks and units, a title, a legend and a <desc>; no JavaScript."""

from __future__ import annotations

import math
from html import escape

from chanload.formatting import short_us
from chanload.reporting.charts import EVENT_COLOR, Chart, latency_scale, segments

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, BOTTOM = 72, 20, 46  # plot margins: room for tick labels and axis titles
INSET = 8  # keeps points at the ends of the x range off the y axis
CHAR_W = 6.6  # average width of a 12px sans-serif character, for laying out the legend


def render(chart: Chart, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart as an <svg data-chart=...> element, or a visible "no data" note when it has no points."""
    if chart.empty:
        return (
            f'<div class="chart no-data" data-chart-empty="{escape(chart.name)}" role="note">'
            f"<strong>{escape(chart.title)}</strong><p>No data: {escape(chart.empty_note)}</p></div>"
        )
    legend, legend_h = _legend(chart, width)
    top = 34 + legend_h + 10
    box = (LEFT, top, width - RIGHT, height - BOTTOM)
    ys = [p[1] for line in chart.lines for p in line.points if p is not None]
    xs = [p[0] for line in chart.lines for p in line.points if p is not None]
    div, unit = latency_scale(max(ys)) if chart.latency and not chart.log_y else (1.0, "")
    if chart.x_ticks:
        x_ticks = chart.x_ticks
    else:
        lo, hi = chart.x_range or (min(xs), max(xs))
        x_ticks = [(t, _num(t, step)) for t, step in _linear(lo, hi if hi > lo else lo + 1)]
    if chart.log_y:
        fmt = short_us if chart.latency else _g
        y_ticks = [(t, fmt(t)) for t in _log(max(min(ys), 1), max(ys))]
    else:
        y_ticks = [(t, _num(t, step)) for t, step in _linear(0, max(ys) / div or 1)]
    x_map = _scale(x_ticks[0][0], x_ticks[-1][0], box[0] + INSET, box[2] - INSET, log=False)
    y_map = _scale(y_ticks[0][0], y_ticks[-1][0], box[3], box[1], log=chart.log_y)
    y_label = f"{chart.y_label} ({unit})" if unit else chart.y_label
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(chart.name)}"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' font-family="sans-serif" font-size="12">',
        f"<title>{escape(chart.title)}</title><desc>{escape(chart.desc)}</desc>",
        f'<rect class="bg" width="{width}" height="{height}" fill="#fff"/>',
        f'<text class="title" x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(chart.title)}</text>',
        _axes(box, x_ticks, y_ticks, x_map, y_map),
        f'<text class="axis-label" x="{(box[0] + box[2]) / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{escape(chart.x_label)}</text>",
        f'<text class="axis-label" transform="translate(16,{(box[1] + box[3]) / 2:.1f}) rotate(-90)"'
        f' text-anchor="middle">{escape(y_label)}</text>',
        legend,
    ]
    for x, label in chart.events:  # the drills, where they ran
        if x_ticks[0][0] <= x <= x_ticks[-1][0]:
            px = x_map(x)
            out.append(
                f'<g class="event" data-event="{escape(label)}" stroke="{EVENT_COLOR}" fill="{EVENT_COLOR}">'
                f'<line x1="{px:.1f}" y1="{box[1]}" x2="{px:.1f}" y2="{box[3]}" stroke-dasharray="3 3"/>'
                f'<text x="{px + 3:.1f}" y="{box[1] + 11}" font-size="11" stroke="none">{escape(label)}</text></g>'
            )
    for line in chart.lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        marks = [f'<g class="series" data-label="{escape(line.label)}" stroke="{line.color}" fill="{line.color}">']
        for run in segments(line.points):
            pts = [(x_map(x), y_map(y / div)) for x, y in run]
            if len(pts) > 1:
                d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in pts)
                marks.append(f'<path d="{d}" fill="none" stroke-width="2"{dash}/>')
            if len(pts) == 1 or line.markers:
                marks.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in pts)
        out.append("".join(marks) + "</g>")
    out.append("</svg>")
    return "\n".join(out)


def _legend(chart: Chart, width: int) -> tuple[str, int]:
    """The legend as one or more rows under the title; returns (svg, height)."""
    items, x, y = [], float(LEFT), 38
    for line in chart.lines:
        w = 30 + CHAR_W * len(line.label) + 18
        if x + w > width - RIGHT and x > LEFT:
            x, y = float(LEFT), y + 18
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        items.append(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 24:.1f}" y2="{y - 4}" stroke="{line.color}"'
            f' stroke-width="2"{dash}/><text x="{x + 30:.1f}" y="{y}">{escape(line.label)}</text>'
        )
        x += w
    return f'<g class="legend">{"".join(items)}</g>', y - 38 + 14


def _axes(box: tuple[float, float, float, float], x_ticks: list, y_ticks: list, x_map, y_map) -> str:
    """Grid lines, tick labels and the two axis lines."""
    x0, y0, x1, y1 = box
    parts = ['<g class="axes" stroke="#ccc">']
    for t, label in y_ticks:
        y = y_map(t)
        parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" stroke="none">{escape(label)}</text>')
    for t, label in x_ticks:
        x = x_map(t)
        parts.append(f'<line x1="{x:.1f}" y1="{y1}" x2="{x:.1f}" y2="{y1 + 5}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{y1 + 18}" text-anchor="middle" stroke="none">{escape(label)}</text>')
    parts.append(f'<path d="M{x0} {y0} V{y1} H{x1}" fill="none" stroke="#333"/></g>')
    return "".join(parts)


def _scale(lo: float, hi: float, a: float, b: float, *, log: bool):
    """Map [lo, hi] in data units onto [a, b] in pixels."""
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or 1.0
    if log:
        return lambda v: a + (math.log10(max(v, 1e-9)) - lo) / span * (b - a)
    return lambda v: a + (v - lo) / span * (b - a)


def _linear(lo: float, hi: float, n: int = 6) -> list[tuple[float, float]]:
    """About `n` round ticks covering [lo, hi], each with the step (for its decimals)."""
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [(i * step, step) for i in range(first, last + 1)]


def _log(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks per decade across [lo, hi]; decade ticks only when the range spans many decades."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if last == first:
        last += 1
    mults = (1, 2, 5) if last - first <= 4 else (1,)
    ticks = [m * 10**d for d in range(first, last) for m in mults] + [10**last]
    start = max(i for i, t in enumerate(ticks) if t <= lo * (1 + 1e-9))
    end = min(i for i, t in enumerate(ticks) if t >= hi * (1 - 1e-9))
    return ticks[start : max(end, start + 1) + 1]


def _num(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{v:.{decimals}f}"


def _g(v: float) -> str:
    return f"{v:g}"
