"""compare.html: the verdict, a table and two charts per row, escaping, offline-ness, Chromium, and the CLI."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chanload.formatting import format_us
from chanload.recording import hlog, significance
from chanload.recording.latency import new_histogram
from chanload.reporting import compare
from chanload.reporting.compare_html import over_time_chart, render_compare_html, spectrum_chart
from tests.reporting.test_html import CHROMIUM, check_chart_rendered, offline_tab

HOSTILE = "<script>alert(1)</script>"
START = 1_764_684_000.25
MESSAGE = ("WS message", "room/[group]", "message")  # NEW is 1.5x slower
CONNECT = ("WS connect", HOSTILE, "connect")  # the same in both runs
SVG = "{http://www.w3.org/2000/svg}"
CAPTURE: dict = {"capture_output": True, "text": True, "timeout": 120}


def write_run(
    folder: Path,
    rows: dict[tuple[str, str, str], float],
    seed: int,
    *,
    seconds: int = 30,
    per_second: int = 200,
    python: str = "3.11.2",
) -> Path:
    """A report folder: summary.json and latency.hlog, `per_second` lognormal samples (median 2 ms x scale)
    per second and row."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    log = [hlog.header(START)]
    latency = []
    for (type_, name, metric), scale in rows.items():
        total = new_histogram()
        for second in range(seconds):
            h = new_histogram()
            for _ in range(per_second):
                h.record_value(max(1, int(rng.lognormvariate(math.log(2000), 0.5) * scale)))
            total.add(h)
            log.append(hlog.line(START, int(START) + second, metric, name, h))
        stats = (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p99_9", 99.9))
        pcts = {k: total.get_value_at_percentile(p) for k, p in stats}
        latency.append(
            {
                "type": type_,
                "name": name,
                "metric": metric,
                "count": total.get_total_count(),
                "failures": 0,
                **pcts,
                "max": total.get_max_value(),
                "hdr": total.encode().decode(),
            }
        )
    count = sum(r["count"] for r in latency)
    summary = {
        "schema": "chanload.summary/1",
        "status": "completed",
        "latency": latency,
        "counters": {"ok": count, "failed": 0},
        "duration_s": seconds,
        "fingerprint": {"versions": {"python": python}, "cpu": {"count": 2}, "generator_peak_cpu": 0.4},
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / hlog.NAME).write_text("".join(log), encoding="ascii")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """BASE, and NEW with WS message 1.5x slower, WS connect alike; a row only in each, another Python."""
    root = tmp_path_factory.mktemp("runs")
    base = write_run(root / "base", {MESSAGE: 1.0, CONNECT: 1.0, ("WS message", "gone", "message"): 1.0}, seed=1)
    new = write_run(
        root / "new", {MESSAGE: 1.5, CONNECT: 1.0, ("WS message", "added", "message"): 1.0}, seed=2, python="3.11.9"
    )
    return base, new


@pytest.fixture(scope="module")
def result(runs) -> compare.Comparison:
    return compare.compare(compare.load(runs[0], "BASE"), compare.load(runs[1], "NEW"))


@pytest.fixture(scope="module")
def page(result) -> str:
    return render_compare_html(result)


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def section(html: str, index: int) -> str:
    start = html.index(f'<section class="row" id="row-{index}">')
    return html[start : html.index("</section>", start)]


def test_the_fixture_is_a_regression_of_ws_message_only(result):
    """The data does what the other tests rely on: WS message slower at p50, p90 and p99, WS connect not."""
    assert [(r.type, r.name) for r in result.rows] == [MESSAGE[:2], CONNECT[:2]]
    slower = {(row.name, j.pct) for row, j in result.regressions}
    assert slower == {(MESSAGE[1], 50.0), (MESSAGE[1], 90.0), (MESSAGE[1], 99.0)}
    assert result.exit_code == compare.EXIT_REGRESSION


def test_header_names_runs_settings_and_every_regression(result, page):
    """Paths, tolerance, alpha, test count; each regression with its row, percentile, ratio and p-value."""
    header = page[: page.index("<h2>Rows compared")]
    assert f'BASE <code class="base-path">{result.base.path}</code>' in header
    assert f'<code class="new-path">{result.new.path}</code>' in header
    assert "tolerance 10%" in header and "alpha 0.05" in header and f"{result.tests} percentile tests" in header
    assert '<span class="badge fail">3 regressions</span>' in header
    items = re.findall(r"<li>(.*?)</li>", header[header.index('<ul class="regressions">') :].split("</ul>")[0])
    assert len(items) == 3
    for item, (row, j) in zip(items, result.regressions, strict=True):
        assert (row.type, row.name) == MESSAGE[:2]
        assert f'<a href="#row-0">WS message room/[group]</a> <strong>{compare.pct_label(j.pct)}</strong>' in item
        assert f"{j.ratio:.3f}x slower" in item and f"p={j.p_slower:.2g}" in item
        assert f"{format_us(j.base)} → {format_us(j.new)}" in item
    assert "no significant regression" not in page.lower()


def test_no_regression_says_so_with_the_tolerance(runs):
    """BASE against itself: no regression, and the tolerance the verdict was made at."""
    same = compare.compare(compare.load(runs[0], "BASE"), compare.load(runs[0], "NEW"), tolerance=0.25)
    html = render_compare_html(same)
    assert "No significant regression beyond 25%" in html
    assert 'class="slower"' not in html and "regressions" not in html
    assert "Fingerprint differences" not in html and "Warnings" not in html


def test_each_row_has_the_text_table_with_regressions_marked(result, page):
    """count, p50, p90, p99, p99.9, max with BASE, NEW, ratio and verdict; the slower percentiles class="slower"."""
    for index, row in enumerate(result.rows):
        html = section(page, index)
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        labels = re.findall(r"<tr(?: class=\"\w+\")?><th>([^<]*)</th>", body)
        assert labels == ["count", "p50", "p90", "p99", "p99.9", "max"]
        for j in row.judgements:
            cells = (
                f'<th>{compare.pct_label(j.pct)}</th><td class="num">{format_us(j.base)}</td>'
                f'<td class="num">{format_us(j.new)}</td><td class="num">{compare.fmt_ratio(j.ratio)}</td>'
                f"<td>{compare.verdict_text(j)}"
            )
            marked = f'<tr class="slower">{cells}' in html
            assert marked == j.regression, (row.name, j.pct)
            assert cells in html
        assert f'<td class="num">{row.base["count"]:,}</td>' in html
    message = section(page, 0)
    assert message.count('class="slower"') == 3 and "p99.9" in message
    assert significance.TOO_FEW in message  # p99.9 needs 10,000 samples a block: its reason is shown
    assert 'class="slower"' not in section(page, 1)


def test_every_chart_is_well_formed_svg_named_per_row(page):
    """Two charts per row, each parseable SVG with a unique data-chart, title, desc, legend and marks."""
    charts = svgs(page)
    assert [c.get("data-chart") for c in charts] == ["spectrum-0", "over-time-0", "spectrum-1", "over-time-1"]
    for chart in charts:
        assert chart.find(f"{SVG}title").text and chart.find(f"{SVG}desc").text
        legend = [t.text for t in chart.findall(f".//{SVG}g[@class='legend']/{SVG}text")]
        series = chart.findall(f".//{SVG}g[@class='series']")
        assert legend == [s.get("data-label") for s in series]
        assert all(s.findall(f"{SVG}path") for s in series)
    assert [t.text for t in charts[1].findall(f".//{SVG}g[@class='legend']/{SVG}text")] == [
        "BASE p50",
        "BASE p99",
        "NEW p50",
        "NEW p99",
    ]
    ticks = [t.text for t in charts[0].findall(f".//{SVG}g[@class='axes']/{SVG}text")]
    assert {"min", "p50", "p90", "p99", "p99.9", "p99.99", "p99.999", "max"} <= set(ticks)


def test_spectrum_chart_plots_percentiles_on_the_nines_axis(result):
    """x = log10(1 / (1 - q)), max one decade past p99.999; y the spectrum's values; BASE dashed."""
    row = result.rows[0]
    chart = spectrum_chart(row, 0)
    base, new = chart.lines
    assert (base.label, base.dashed, new.label, new.dashed) == ("BASE", True, "NEW", False)
    xs = [p[0] for p in base.points if p]
    assert xs[:4] == [0.0, pytest.approx(math.log10(4 / 3)), pytest.approx(math.log10(2)), pytest.approx(0.602, 1e-3)]
    assert xs[-2:] == [pytest.approx(5.0), pytest.approx(6.0)]
    assert [p[1] for p in new.points if p] == [max(v, 1) for _, v in row.new_spectrum]
    assert chart.x_ticks and chart.x_ticks[-1] == (pytest.approx(6.0), "max")
    assert chart.log_y and "one decade past p99.999" in chart.desc


def test_over_time_chart_has_a_line_per_run_and_percentile(result):
    """BASE p50/p99 dashed and NEW p50/p99 solid, one point per second; NEW's p50 above BASE's (1.5x)."""
    row = result.rows[0]
    chart = over_time_chart(row, 0)
    lines = {line.label: line for line in chart.lines}
    styles = [("BASE p50", True), ("BASE p99", True), ("NEW p50", False), ("NEW p99", False)]
    assert [(line.label, line.dashed) for line in chart.lines] == styles
    assert [p[0] for p in lines["NEW p99"].points if p] == list(range(30))
    assert [p[1] for p in lines["BASE p50"].points if p] == [s[1] for s in row.base_series]
    assert chart.x_range == (0, 29)
    base_p50 = sorted(p[1] for p in lines["BASE p50"].points if p)[15]
    new_p50 = sorted(p[1] for p in lines["NEW p50"].points if p)[15]
    assert 1.3 < new_p50 / base_p50 < 1.7


def test_a_missing_side_or_no_data_at_all_is_said(runs, tmp_path):
    """NEW without latency.hlog: its lines are left out and the caption says so; no data anywhere: no-data notes."""
    bare = tmp_path / "bare"
    bare.mkdir()
    summary = json.loads((runs[1] / "summary.json").read_text())
    (bare / "summary.json").write_text(json.dumps(summary))
    one_sided = compare.compare(compare.load(runs[0], "BASE"), compare.load(bare, "NEW"))
    html = render_compare_html(one_sided)
    over_time = [c for c in svgs(html) if c.get("data-chart") == "over-time-0"][0]
    assert [s.get("data-label") for s in over_time.findall(f".//{SVG}g[@class='series']")] == ["BASE p50", "BASE p99"]
    assert "NEW has no per-second data (latency.hlog) for this row: only BASE is drawn." in html
    assert "no latency.hlog for NEW" in html  # the row's note

    for row in summary["latency"]:
        del row["hdr"]
    (bare / "summary.json").write_text(json.dumps(summary))
    empty = compare.compare(compare.load(bare, "BASE"), compare.load(bare, "NEW"))
    html = render_compare_html(empty)
    assert not svgs(html)
    names = [f"{kind}-{i}" for i in range(3) for kind in ("spectrum", "over-time")]  # NEW's three rows
    assert re.findall(r'data-chart-empty="([^"]+)"', html) == names
    assert html.count("No data: neither run has") == 6
    assert html.count("no histogram in summary.json") == 3


def test_scalars_one_sided_rows_differences_and_warnings(result, page):
    """Message rate side by side, the rows only one run has, the differing Python version, and its warning."""
    figures = page[page.index('<table class="scalars">') :].split("</table>")[0]
    assert "message rate" in figures and "failure ratio" in figures and "delivery ratio" not in figures
    rate = result.scalars[2][2]
    assert rate and f"{rate:g}/s" in figures  # 400 per second of 30 s exactly
    assert '<ul class="only-base"><li>WS message <code>gone</code></li></ul>' in page
    assert '<ul class="only-new"><li>WS message <code>added</code></li></ul>' in page
    assert "<tr><th><code>versions.python</code></th><td>&#x27;3.11.2&#x27;</td><td>&#x27;3.11.9&#x27;</td>" in page
    warnings = page[page.index('class="banner status-warn warnings"') :].split("</div>")[0]
    assert "the runs differ in versions.python" in warnings


def test_hostile_names_are_escaped(result, page):
    """A row name with markup stays text, in the tables, the headings and inside the SVG."""
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(page, 1)
    titles = [c.find(f"{SVG}title").text for c in svgs(page)]
    assert f"Latency by percentile: WS connect {HOSTILE}" in titles  # parsed back: it was escaped


def test_page_references_nothing_outside_itself(page):
    """No scripts, no http(s) or src references (the SVG namespace aside), and a CSP that refuses any fetch."""
    text = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http:" not in text and "https:" not in text and "src=" not in text
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", page, flags=re.I)
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page
    assert set(re.findall(r'href="([^"]*)"', page)) == {"#row-0"}


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_compare_renders_in_chromium_offline(page, tmp_path):
    """Headless Chromium with all network refused draws every chart: visible marks, legend, no fetch attempted."""
    page_path = tmp_path / "compare.html"
    page_path.write_text(page, encoding="utf-8")
    with offline_tab(page_path) as tab:
        charts = tab.locator("svg[data-chart]")
        names = [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())]
        assert names == ["spectrum-0", "over-time-0", "spectrum-1", "over-time-1"]
        for i in range(charts.count()):
            check_chart_rendered(charts.nth(i))
        assert tab.locator("tr.slower").count() == 3
        assert tab.locator("tr.slower").first.evaluate("e => getComputedStyle(e.cells[0]).backgroundColor") == (
            "rgb(254, 215, 215)"
        )


@pytest.mark.e2e
def test_cli_writes_compare_html_and_exits_3_on_a_regression(runs, tmp_path):
    """`python -m chanload compare A B --report-dir OUT`: exit 3 naming the regression, OUT/compare.html; A A: 0."""
    base, new = runs
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "chanload", "compare"]
    slower = subprocess.run([*cmd, str(base), str(new), "--report-dir", str(out)], **CAPTURE)
    assert slower.returncode == compare.EXIT_REGRESSION, slower.stderr
    assert "REGRESSION: WS message room/[group] p99 " in slower.stdout
    assert f"chanload compare: {out / 'compare.html'}" in slower.stdout
    html = (out / "compare.html").read_text(encoding="utf-8")
    assert '<span class="badge fail">3 regressions</span>' in html

    same = subprocess.run([*cmd, str(base), str(base), "--report-dir", str(out)], **CAPTURE)
    assert same.returncode == compare.EXIT_OK, same.stdout + same.stderr
    assert "REGRESSION" not in same.stdout
    assert "No significant regression beyond 10%" in (out / "compare.html").read_text(encoding="utf-8")
