"""The report's charts as plain data (lines of points per chart) and their PNG rendering with matplotlib.

`build_charts` decides what is plotted; `svgchart.render` draws a chart as inline SVG for report.html and
`render_pngs` draws the same charts as PNG images, so the two artifacts never disagree.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import dataclass, field

from chanload.formatting import short_us
from chanload.recording import types
from chanload.reporting.summary import started_epoch

Point = tuple[float, float] | None  # None breaks a line (a second without samples)

PERCENTILE_COLORS = {"p50": "#2b6cb0", "p90": "#dd6b20", "p99": "#c53030"}
METRIC_COLORS = ("#2b6cb0", "#c53030", "#2f855a", "#6b46c1", "#b7791f", "#319795", "#d53f8c")
OK_COLOR, FAIL_COLOR, OPEN_COLOR = "#2f855a", "#c53030", "#6b46c1"
EVENT_COLOR = "#4a5568"

# Percentile -> x position log10(1 / (1 - p)): every "nine" gets the same width (HdrHistogram's plot).
SPECTRUM = (("min", "min", 0.0), ("p50", "p50", 0.301), ("p90", "p90", 1.0), ("p95", "p95", 1.301),
            ("p99", "p99", 2.0), ("p99_9", "p99.9", 3.0), ("max", "max", 4.0))  # fmt: skip
KIND_ORDER = {types.MESSAGE: 0, types.CORRECTED: 1, types.CONNECT: 2}
TIME_LABEL = "seconds since start"
PNG_NAMES = ("latency_over_time", "histogram", "connections", "throughput")


@dataclass
class Line:
    """One legend entry: its points in data units (latency in microseconds)."""

    label: str
    points: list[Point]
    color: str
    dashed: bool = False
    markers: bool = False


@dataclass
class Chart:
    """A chart independent of how it is drawn; `name` is the SVG data-chart value and the PNG file stem."""

    name: str
    title: str
    desc: str
    x_label: str
    y_label: str
    lines: list[Line]
    latency: bool = False  # y values are microseconds, shown in us/ms/s
    log_y: bool = False
    x_ticks: list[tuple[float, str]] | None = None
    x_range: tuple[float, float] | None = None  # the run's span, so time charts line up
    empty_note: str = "nothing was recorded for this chart during the run."
    notes: list[str] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # vertical marks (x, label): the drills

    @property
    def empty(self) -> bool:
        return not any(p is not None for line in self.lines for p in line.points)


def latency_scale(max_us: float) -> tuple[float, str]:
    """The divisor and unit for a linear latency axis whose largest value is `max_us`."""
    if max_us < 1000:
        return 1.0, "us"
    if max_us < 1_000_000:
        return 1000.0, "ms"
    return 1_000_000.0, "s"


def build_charts(summary: dict) -> list[Chart]:
    """Every chart of the report, in display order, from a run summary dict."""
    timeline = summary.get("timeline") or {}
    latency = timeline.get("latency") or []
    connections = timeline.get("connections") or []
    resources = summary.get("resources") or {}
    watched = [
        x["second"] for group in ("processes", "redis", "generator") for data in (resources.get(group) or {}).values()
        for x in data.get("series") or []
    ]  # fmt: skip
    seconds = [p["second"] for p in latency] + [c["second"] for c in connections] + watched
    t0, t_end = min(seconds, default=0), max(seconds, default=0)
    charts = [
        *latency_over_time(latency, t0),
        distribution(summary.get("latency") or []),
        open_connections(connections, t0),
        throughput(latency, t0, t_end),
        *resource_charts(resources, t0),
    ]
    marks = drill_marks(summary, t0)
    for chart in charts:
        if chart.x_label == TIME_LABEL:
            chart.x_range = (0, max(t_end - t0, 1))
            chart.events = marks
    return charts


def drill_marks(summary: dict, t0: int) -> list[tuple[float, str]]:
    """Each drill that ran (--drill), where it ran on the time charts' axis (seconds since `t0`)."""
    start = started_epoch(summary)
    if start is None:
        return []
    drills = enumerate(summary.get("drills") or [], 1)  # numbered as report.html's table of drills
    return [(start + d["started"] - t0, f"drill {i}") for i, d in drills if d.get("started") is not None]


def latency_over_time(points: list[dict], t0: int) -> list[Chart]:
    """One chart per (type, name): its p50, p90 and p99 per second."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for p in points:
        by_key[(p["kind"], p["name"])].append(p)
    charts = []
    for kind, name in sorted(by_key, key=lambda k: (KIND_ORDER.get(k[0], 9), k)):
        rows = sorted(by_key[(kind, name)], key=lambda p: p["second"])
        lines = [Line(stat, _gapped(rows, t0, stat), color) for stat, color in PERCENTILE_COLORS.items()]
        failures = sum(r["failures"] for r in rows)
        charts.append(
            Chart(
                "latency_over_time",
                f"{kind} latency over time: {name}",
                f"p50, p90 and p99 latency of {kind} {name} in each second of the run.",
                TIME_LABEL,
                "latency",
                lines,
                latency=True,
                empty_note=f"no successful samples, {failures} failures.",
            )
        )
    if not charts:
        charts.append(Chart("latency_over_time", "Latency over time", "Latency percentiles per second.",
                            TIME_LABEL, "latency", [], latency=True))  # fmt: skip
    return charts


def distribution(rows: list[dict]) -> Chart:
    """Latency by percentile for every (type, name), from the run's percentile table."""
    lines = []
    for i, row in enumerate(r for r in rows if r.get("count")):
        pts: list[Point] = [(x, max(row[k], 1)) for k, _, x in SPECTRUM if row.get(k) is not None]
        lines.append(Line(f"{row['type']} {row['name']}", pts, METRIC_COLORS[i % len(METRIC_COLORS)], markers=True))
    return Chart(
        "histogram",
        "Latency distribution by percentile",
        "Latency at min, p50, p90, p95, p99, p99.9 and max for each request type over the whole run;"
        " each step to the right adds a nine.",
        "percentile",
        "latency",
        lines,
        latency=True,
        log_y=True,
        x_ticks=[(x, label) for _, label, x in SPECTRUM],
        notes=["Plotted from the recorded percentiles (HDR histograms, 3 significant digits)."],
    )


def open_connections(rows: list[dict], t0: int) -> Chart:
    """Open websocket connections summed over workers, per second."""
    pts: list[Point] = [(r["second"] - t0, r["open"]) for r in sorted(rows, key=lambda r: r["second"])]
    line = Line("open connections", pts, OPEN_COLOR)
    return Chart("connections", "Open connections over time", "Open websocket connections in each second.",
                 TIME_LABEL, "connections", [line] if pts else [])  # fmt: skip


# (chart name, title, y label, the figure per sample, groups) of the resource charts: drawn when a series has it.
RESOURCE_CHARTS = (
    ("resources_cpu", "CPU over time", "share of one core", "cpu", ("processes", "generator")),
    ("resources_rss", "Memory (RSS) over time", "MiB", "rss_bytes", ("processes",)),
    ("resources_fds", "Open file descriptors over time", "descriptors", "fds", ("processes",)),
    ("resources_redis", "Redis commands per second", "ops / s", "ops_per_second", ("redis",)),
    ("resources_queued", "Channel layer: messages waiting", "messages", "queued_total", ("redis",)),
)


def resource_charts(resources: dict, t0: int) -> list[Chart]:
    """summary.json's `resources` (--watch, --watch-redis, the generator's own CPU) per second, on the latency
    charts' time axis; one chart per figure that some source recorded, none without."""
    charts = []
    for name, title, y_label, figure, groups in RESOURCE_CHARTS:
        lines = []
        for group in groups:
            for i, (source, data) in enumerate(sorted((resources.get(group) or {}).items())):
                pts: list[Point] = [
                    (sample["second"] - t0, sample[figure] / (1 << 20) if figure == "rss_bytes" else sample[figure])
                    for sample in data.get("series") or []
                    if sample.get(figure) is not None
                ]
                if pts:
                    label = f"{source} (load)" if group == "generator" else source
                    color = METRIC_COLORS[(i + (3 if group == "generator" else 0)) % len(METRIC_COLORS)]
                    lines.append(Line(label, pts, color, dashed=group == "generator"))
        if figure == "queued_total":  # the fullest queue beside the total, against the layer's capacity
            for source, data in sorted((resources.get("redis") or {}).items()):
                pts = [(x["second"] - t0, x["queued_max"]) for x in data.get("series") or [] if "queued_max" in x]
                if pts:
                    lines.append(Line(f"{source}: fullest queue", pts, FAIL_COLOR, dashed=True))
        if lines:
            desc = f"{title} for each watched source, in each second of the run."
            charts.append(Chart(name, title, desc, TIME_LABEL, y_label, lines))
    return charts


def throughput(points: list[dict], t0: int, t_end: int) -> Chart:
    """Answered and failed "WS message" requests per second; seconds without any count as zero."""
    ok: dict[int, int] = defaultdict(int)
    failed: dict[int, int] = defaultdict(int)
    for p in points:
        if p["kind"] == types.MESSAGE:
            ok[p["second"]] += p["count"]
            failed[p["second"]] += p["failures"]
    lines = []
    if ok or failed:
        span = range(t0, t_end + 1)
        lines = [
            Line("ok / s", [(s - t0, ok.get(s, 0)) for s in span], OK_COLOR),
            Line("failed / s", [(s - t0, failed.get(s, 0)) for s in span], FAIL_COLOR, dashed=True),
        ]
    return Chart(
        "throughput",
        "Messages per second",
        "Answered (ok) and failed websocket messages in each second of the run.",
        TIME_LABEL,
        "messages / s",
        lines,
        empty_note='no "WS message" requests were recorded.',
        notes=["The first and last seconds may be partial."],
    )


def segments(points: list[Point]) -> list[list[tuple[float, float]]]:
    """The unbroken runs of a line; a run of one point is drawn as a dot."""
    runs: list[list[tuple[float, float]]] = [[]]
    for p in points:
        if p is None:
            runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]


def _gapped(rows: list[dict], t0: int, stat: str) -> list[Point]:
    """Points of one percentile, with a break wherever a second has no successful sample."""
    out: list[Point] = []
    last = None
    for r in rows:
        if r["count"] == 0:
            continue
        if last is not None and r["second"] - last > 1:
            out.append(None)
        out.append((r["second"] - t0, r[stat]))
        last = r["second"]
    return out


def render_pngs(summary: dict) -> dict[str, bytes]:
    """latency_over_time.png, histogram.png, connections.png and throughput.png: file name -> PNG bytes."""
    # Figure + the Agg canvas directly (no pyplot): no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[str, list[Chart]] = defaultdict(list)
    for chart in build_charts(summary):
        groups[chart.name].append(chart)
    images = {}
    for name in PNG_NAMES:
        charts = groups[name]
        fig = Figure(figsize=(9, 3.4 * len(charts)), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        for ax, chart in zip(fig.subplots(len(charts), 1, squeeze=False)[:, 0], charts, strict=True):
            _draw(ax, chart)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        images[f"{name}.png"] = buf.getvalue()
    return images


def _draw(ax, chart: Chart) -> None:
    """Draw one chart on a matplotlib Axes."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_title(chart.title, loc="left", fontsize=11)
    if chart.empty:
        ax.text(0.5, 0.5, f"No data: {chart.empty_note}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ys = [p[1] for line in chart.lines for p in line.points if p is not None]
    div, unit = latency_scale(max(ys)) if chart.latency and not chart.log_y else (1.0, "")
    for line in chart.lines:
        x = [math.nan if p is None else p[0] for p in line.points]
        y = [math.nan if p is None else p[1] / div for p in line.points]
        style = "--" if line.dashed else "-"
        ax.plot(x, y, style, color=line.color, label=line.label, marker="o" if line.markers else None)
        dots = [run[0] for run in segments(line.points) if len(run) == 1]
        if dots and not line.markers:
            ax.plot([d[0] for d in dots], [d[1] / div for d in dots], "o", color=line.color, markersize=4)
    if chart.log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        if chart.latency:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: short_us(v)))
    else:
        ax.set_ylim(0, max(ys) / div * 1.08 or 1)
    if chart.x_range:
        lo, hi = chart.x_range
        ax.set_xlim(lo - (hi - lo) * 0.02, hi + (hi - lo) * 0.02)
    if chart.x_ticks:
        ax.set_xticks([x for x, _ in chart.x_ticks], [label for _, label in chart.x_ticks])
    for at, label in chart.events:
        ax.axvline(at, color=EVENT_COLOR, linestyle=":", linewidth=1)
        ax.text(at, 0.98, f" {label}", transform=ax.get_xaxis_transform(), fontsize=8, va="top", color=EVENT_COLOR)
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(f"{chart.y_label} ({unit})" if unit else chart.y_label)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9)
