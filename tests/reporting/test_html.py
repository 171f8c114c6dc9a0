"""report.html and the PNG charts: content, escaping, offline-ness, and real rendering in Debian's Chromium."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from chanload.reporting.charts import PNG_NAMES, build_charts, render_pngs
from chanload.reporting.html import fmt_threshold_value, render_html
from tests.servers import UNIT

SAMPLE = Path(__file__).parent.parent / "data" / "summary_sample.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]  # fmt: skip
CHART_NAMES = {"latency_over_time", "histogram", "connections", "throughput"}
HOSTILE = '<script>alert("x")</script><img src="http://example.invalid/x.png">'


@pytest.fixture
def summary() -> dict:
    """A summary.json written by a real 15 s run, with four thresholds (one failing) added."""
    return json.loads(SAMPLE.read_text())


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def test_thresholds_show_measured_value_limit_and_verdict(summary):
    """Every threshold appears with its value and limit in its own unit, and PASS or FAIL."""
    html = render_html(summary)
    table = html[html.index('<table class="thresholds">') :]
    table = table[: table.index("</table>")]
    for expr in ("message:p99&lt;10ms", "connect:p95&lt;20ms", "fail_ratio&lt;0.1%", "rps&gt;=500"):
        assert expr in table
    assert "3.323 ms" in table and "&lt; 10 ms" in table
    assert "31.535 ms" in table and "&lt; 20 ms" in table
    assert "&lt; 0.1%" in table and "628.5/s" in table
    assert table.count(">PASS<") == 3 and table.count(">FAIL<") == 1
    assert "1 of 4 thresholds FAILED" in html


@pytest.mark.parametrize(
    ("threshold", "value", "shown"),
    [
        # The shapes chanload.run.slo writes to summary.json: unit us, fraction, per_s or count.
        ({"unit": "us", "metric": "message", "stat": "p99"}, 452, "452 us"),
        ({"unit": "us", "metric": "message", "stat": "p99"}, 12345, "12.345 ms"),
        ({"unit": "us", "metric": "connect", "stat": "max"}, 1_234_000, "1.234 s"),
        ({"unit": "fraction", "metric": "delivery_ratio", "stat": "value"}, 0.99987, "99.987%"),
        ({"unit": "fraction", "metric": "fail_ratio", "stat": "value"}, 0.001, "0.1%"),
        ({"unit": "per_s", "metric": "rps", "stat": "value"}, 1234.56, "1234.6/s"),
        ({"unit": "per_s", "metric": "message", "stat": "rate"}, 512.54, "512.5/s"),  # once a bare number
        ({"unit": "count", "metric": "message", "stat": "failures"}, 3, "3"),
        ({"unit": "us", "metric": "message", "stat": "p99"}, None, "no data"),
    ],
)
def test_threshold_values_are_formatted_in_their_unit(threshold, value, shown):
    """Latency in us/ms/s, ratios as percentages, rates per second, and a missing value as 'no data'."""
    assert fmt_threshold_value(threshold, value) == shown


def test_percentile_table_lists_every_row(summary):
    """The percentile table has a row per (type, name) with formatted latencies."""
    html = render_html(summary)
    assert "WS connect" in html and "WS message" in html
    assert "25.039 ms" in html and "994 us" in html and "9,243" in html


def test_text_from_the_summary_is_escaped(summary):
    """Names, parameters, versions and expressions cannot inject markup into the page."""
    summary["latency"][0]["name"] = HOSTILE
    summary["timeline"]["latency"][0]["name"] = HOSTILE
    summary["parameters"]["host"] = HOSTILE
    summary["versions"]["target"] = HOSTILE
    summary["thresholds"][0]["expr"] = HOSTILE
    html = render_html(summary)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    for svg in svgs(html):  # still well-formed XML with the hostile text inside
        assert svg.tag.endswith("svg")


def test_report_references_nothing_outside_itself(summary):
    """No scripts, stylesheets, fonts, images or links to load: the page opens offline."""
    html = render_html(summary)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, flags=re.I)
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # the CSP makes the browser refuse any fetch anyway


@pytest.mark.parametrize(
    ("status", "banner"),
    [("interrupted", "Interrupted: the run was stopped"), ("target_unreachable", "Target unreachable")],
)
def test_a_run_that_did_not_complete_gets_a_banner(summary, status, banner):
    """An interrupted run or an unreachable target is announced at the top of the page."""
    summary["status"] = status
    html = render_html(summary)
    assert 'role="alert"' in html and banner in html
    assert html.index('role="alert"') < html.index("<h2>Thresholds")
    if status == "target_unreachable":
        assert "ws://127.0.0.1:38059" in html[html.index('role="alert"') :]


def test_a_completed_run_has_no_banner(summary):
    """No alert banner when the run completed."""
    assert 'role="alert"' not in render_html(summary)


def test_an_unverified_certificate_is_noted_at_the_top(summary):
    """--ws-insecure (parameters.tls.verify false): a warning above the thresholds; a verified run gets none."""
    summary["parameters"]["tls"] = {"verify": False}
    html = render_html(summary)
    assert "TLS NOT VERIFIED: --ws-insecure: the server&#x27;s certificate is not verified" in html
    assert html.index("TLS NOT VERIFIED") < html.index("<h2>Thresholds")
    summary["parameters"]["tls"] = {"verify": True, "ca_file": "/ca.pem"}
    html = render_html(summary)
    assert "TLS NOT VERIFIED" not in html and "/ca.pem" in html  # the run parameters show the CA file


def test_a_busy_generator_is_noted_at_the_top(summary):
    """A generator past 90% of a core gets a note above the thresholds; one below it gets none."""
    summary["fingerprint"] = {"generator_peak_cpu": 0.95}
    summary["resources"] = {"generator": {"local": {"peak": {"cpu": 0.95}}}}
    html = render_html(summary)
    assert "generator busy: a load process used 95% of a core in its busiest second (local 95%)" in html
    assert html.index("generator busy") < html.index("<h2>Thresholds")
    summary["fingerprint"] = {"generator_peak_cpu": 0.5}
    assert "generator busy" not in render_html(summary)


def test_every_chart_is_an_svg_with_title_desc_axes_and_legend(summary):
    """Each chart is well-formed SVG carrying data-chart, <title>, <desc>, axes, a legend and data marks."""
    charts = svgs(render_html(summary))
    assert {c.get("data-chart") for c in charts} == CHART_NAMES
    ns = "{http://www.w3.org/2000/svg}"
    for chart in charts:
        assert chart.find(f"{ns}title").text and chart.find(f"{ns}desc").text
        assert chart.find(f".//{ns}g[@class='axes']") is not None
        legend = [t.text for t in chart.findall(f".//{ns}g[@class='legend']/{ns}text")]
        series = chart.findall(f".//{ns}g[@class='series']")
        assert legend and legend == [s.get("data-label") for s in series]
        assert any(s.findall(f"{ns}path") or s.findall(f"{ns}circle") for s in series)


def test_latency_over_time_has_a_chart_per_request_type(summary):
    """WS message and WS connect each get their own latency-over-time chart, message first."""
    titles = [c.find("{http://www.w3.org/2000/svg}title").text for c in svgs(render_html(summary))]
    over_time = [t for t in titles if "over time:" in t]
    assert over_time == ["WS message latency over time: room/[group]", "WS connect latency over time: room/[group]"]


def test_empty_data_shows_a_no_data_note_instead_of_charts(summary):
    """A run that recorded nothing (target down) shows 'no data' notes and no empty charts."""
    summary.update(status="target_unreachable", latency=[], timeline={"latency": [], "connections": []})
    html = render_html(summary)
    assert not svgs(html)
    empty = set(re.findall(r'data-chart-empty="([^"]+)"', html))
    assert empty == CHART_NAMES
    assert html.count("No data:") == len(CHART_NAMES)


def test_pngs_are_rendered_for_every_chart(summary):
    """render_pngs gives four valid, non-trivial PNG images, one per chart."""
    images = render_pngs(summary)
    assert list(images) == [f"{name}.png" for name in PNG_NAMES]
    for name, data in images.items():
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000, name


def test_pngs_are_written_without_data(summary, tmp_path):
    """A run without data still gets its PNGs (with a 'no data' note), so CI always finds them."""
    summary.update(latency=[], timeline={"latency": [], "connections": []})
    images = render_pngs(summary)
    assert sorted(images) == sorted(f"{name}.png" for name in PNG_NAMES)
    for data in images.values():
        assert data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_report_renders_in_chromium_offline(summary, tmp_path):
    """Headless Chromium with all network refused draws every chart: visible marks, legend, no fetch attempted."""
    page_path = tmp_path / "report.html"
    page_path.write_text(render_html(copy.deepcopy(summary)), encoding="utf-8")
    with offline_tab(page_path) as page:
        charts = page.locator("svg[data-chart]")
        names = [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())]
        assert set(names) == CHART_NAMES
        for i in range(charts.count()):
            check_chart_rendered(charts.nth(i))
        shot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert len(shot) > 50_000


@contextlib.contextmanager
def offline_tab(page_path: Path) -> Iterator:
    """The page in headless Chromium with all network refused; on the way out, nothing was fetched or erred."""
    from playwright.sync_api import sync_playwright

    page_url = page_path.as_uri()
    attempted: list[str] = []
    errors: list[str] = []

    def only_the_page(route):
        if route.request.url == page_url:
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
            context.set_default_timeout(15_000 * UNIT)
            context.route("**/*", only_the_page)
            page = context.new_page()
            page.on("request", lambda r: r.url != page_url and attempted.append(r.url))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_url, wait_until="load")
            yield page
        finally:
            browser.close()
    assert not [u for u in attempted if u.startswith(("http:", "https:"))], attempted
    assert not attempted and not errors, (attempted, errors)


def check_chart_rendered(chart) -> None:
    """The chart has a layout box, data marks painted in the plot area, and a legend naming each series."""
    box = chart.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, box
    marks = chart.evaluate(
        """svg => [...svg.querySelectorAll('.series path, .series circle, .series polyline, .series rect')]
            .map(e => [e.getBBox(), e.getBoundingClientRect(), getComputedStyle(e)])
            .filter(([b, r, s]) => (b.width > 0 || b.height > 0) && (r.width > 0 || r.height > 0)
                    && s.visibility !== 'hidden' && s.display !== 'none')
            .length"""
    )
    assert marks >= 1, chart.get_attribute("data-chart")
    legend = chart.locator(".legend text").all_text_contents()
    labels = [g.get_attribute("data-label") for g in chart.locator(".series").all()]
    assert legend and legend == labels
    assert chart.locator("title").text_content() and chart.locator("desc").text_content()
    chart.scroll_into_view_if_needed()  # the clip is in viewport coordinates
    plot_area = chart.locator(".axes > path").bounding_box()  # the two axis lines: excludes the legend
    painted = colors(chart.page.screenshot(clip=plot_area))
    for color in {g.get_attribute("stroke") for g in chart.locator(".series").all()}:
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        assert any(sum(abs(a - b) for a, b in zip(rgb, px, strict=True)) < 30 for px in painted), color


def colors(png: bytes) -> set[tuple[int, int, int]]:
    """The distinct RGB colours in a screenshot."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {c for _, c in image.getcolors(maxcolors=image.width * image.height)}


def test_watched_resources_are_charted_on_the_latency_charts_time_axis(summary):
    """--watch / --watch-redis / the generator's CPU: a chart per figure recorded, x in the same seconds."""
    t0 = min(p["second"] for p in summary["timeline"]["latency"])
    summary["resources"] = {
        "processes": {"daphne": {"series": [
            {"second": t0 + i, "cpu": 0.5, "rss_bytes": 64 << 20, "fds": 40 + i} for i in range(4)
        ] + [{"second": t0 + 4, "exited": True}]}},
        "redis": {"redis": {"series": [
            {"second": t0 + i, "ops_per_second": 10.0 * i, "queued_total": 3 * i, "queued_max": i} for i in range(4)
        ]}},
        "generator": {"local": {"series": [{"second": t0 + i, "cpu": 0.25} for i in range(4)]}},
    }  # fmt: skip
    drawn = {c.name: c for c in build_charts(summary) if c.name.startswith("resources_")}
    assert list(drawn) == ["resources_cpu", "resources_rss", "resources_fds", "resources_redis", "resources_queued"]
    cpu = drawn["resources_cpu"]
    assert [(line.label, line.dashed) for line in cpu.lines] == [("daphne", False), ("local (load)", True)]
    assert cpu.lines[0].points == [(i, 0.5) for i in range(4)] and cpu.x_range == build_charts(summary)[0].x_range
    assert drawn["resources_rss"].lines[0].points[0] == (0, 64.0)  # MiB
    assert [line.label for line in drawn["resources_queued"].lines] == ["redis", "redis: fullest queue"]
    html = render_html(copy.deepcopy(summary))
    assert all(f'data-chart="{name}"' in html for name in drawn)
    del summary["resources"]
    assert not [c for c in build_charts(summary) if c.name.startswith("resources_")]  # nothing watched: no chart


def test_counter_times_are_relative_to_the_run_and_never_for_none(summary):
    """`last_ok_at` and `last_refused_at` are wall-clock floats in summary.json: the report shows them as seconds
    into the run (and the UTC time), and "never" for 0.0, not as raw epoch floats."""
    from chanload.reporting.summary import started_epoch

    start = started_epoch(summary)
    assert start is not None and summary["started"].startswith("20")
    summary["counters"]["last_ok_at"] = start + 12.34
    summary["counters"]["last_refused_at"] = 0.0
    html = render_html(summary)
    counters = re.search(r"<h2>Counters</h2>(.*?)</table>", html, flags=re.S)
    assert counters is not None
    rows = dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", counters.group(1)))
    assert re.fullmatch(r"12\.3 s into the run \(\d\d:\d\d:\d\d\.\d{3} UTC\)", rows["last_ok_at"]), rows
    assert rows["last_refused_at"] == "never"
    assert str(start + 12.34) not in html and "0.0<" not in counters.group(1)


def test_started_epoch_reads_back_what_the_summary_wrote():
    from chanload.reporting.summary import _iso, moment, started_epoch

    t = 1796667130.4584303
    assert started_epoch({"started": _iso(t)}) == pytest.approx(t, abs=0.001)
    assert started_epoch({}) is None and started_epoch({"started": "yesterday"}) is None
    assert moment(0.0, t) == "never" and moment(t + 1.5, t).startswith("1.5 s into the run (")
    assert moment(t, None).endswith(" UTC") and "into the run" not in moment(t, None)


def test_drills_have_a_table_and_a_mark_on_every_time_chart(summary):
    """--drill: the table (number, time, command, when it ran, how long, exit code, outcome, output tail, escaped)
    and, on each time chart, a mark at the second it ran, numbered as in the table; one not run has no mark."""
    from chanload.reporting.summary import started_epoch

    start = started_epoch(summary)
    assert start is not None
    t0 = min(p["second"] for p in summary["timeline"]["latency"])
    summary["drills"] = [
        {"at": 5.0, "command": "kill -TERM 4321", "started": 5.003, "seconds": 0.01, "exit_code": 0,
         "output_tail": HOSTILE, "outcome": "ok"},
        {"at": 9.0, "command": "./start.sh", "started": 9.001, "seconds": 0.2, "exit_code": 127,
         "output_tail": "sh: ./start.sh: not found\n", "outcome": "failed"},
        {"at": 600.0, "command": "echo late", "started": None, "seconds": None, "exit_code": None,
         "output_tail": "", "outcome": "not run"},
    ]  # fmt: skip
    html = render_html(summary)
    table = re.search(r"<h2>Drills</h2>(.*?)</table>", html, flags=re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), flags=re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in rows]
    assert cells[1][:6] == ["2", "9 s", "<code>./start.sh</code>", "9.0 s", "0.20 s", "127"], cells[1]
    assert 'class="badge fail">failed' in cells[1][6] and "not found" in cells[1][7]
    assert cells[2][3:6] == ["-", "-", "-"] and "not run" in cells[2][6]
    assert HOSTILE not in html and "&lt;script&gt;" in cells[0][7]
    for chart in build_charts(summary):
        if chart.x_label == "seconds since start" and not chart.empty:
            assert [label for _, label in chart.events] == ["drill 1", "drill 2"], chart.name
            assert chart.events[0][0] == pytest.approx(start + 5.003 - t0)
    marks = re.findall(r'<g class="event" data-event="(drill \d)"', html)
    assert marks and set(marks) == {"drill 1", "drill 2"}
    assert render_pngs(summary)  # matplotlib draws the marks too


def test_recovery_has_a_table_beside_the_drills(summary):
    """chanload.run.recovery's block: per drill that ran, its time and command, users before and lowest, users back,
    latency back, the recovery, the criterion and the failed messages; "not back" for none; the slowest and what was
    missed while away under it; right after the drills' table."""
    summary["drills"] = [
        {"at": 10.0, "command": "kill -TERM 4321", "started": 10.004, "seconds": 0.01, "exit_code": 0,
         "output_tail": "", "outcome": "ok"},
        {"at": 15.0, "command": HOSTILE, "started": 15.002, "seconds": 1.2, "exit_code": 0, "output_tail": "",
         "outcome": "ok"},
    ]  # fmt: skip
    summary["recovery"] = {
        "drills": [
            {"at": 10.004, "command": "kill -TERM 4321", "users_before": 100, "users_lowest": 49, "users_back_s": 3.2,
             "latency_back_s": 6.2, "recovery_s": 6.2, "criterion": "1.5x pre-drill p99 (47000us)",
             "failed_messages": 51, "pre_drill_p99_us": 47000},
            {"at": 15.002, "command": HOSTILE, "users_before": 100, "users_back_s": 0.0, "latency_back_s": None,
             "recovery_s": None, "criterion": "threshold message:p99 < 2000000us", "failed_messages": 0,
             "pre_drill_p99_us": 50000},
        ],
        "slowest_s": None,
        "missed_while_away": 224,
    }  # fmt: skip
    html = render_html(summary)
    assert html.index("<h2>Drills</h2>") < html.index("<h2>Recovery</h2>") < html.index("<h2>Latency percentiles")
    table = re.search(r"<h2>Recovery</h2>(.*?)</table>", html, flags=re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), flags=re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S) for row in rows]
    assert cells[0] == [
        "1", "10.004 s", "<code>kill -TERM 4321</code>", "100 &rarr; 49", "3.2 s", "6.2 s", "6.2 s",
        "1.5x pre-drill p99 (47000us)", "51",
    ]  # fmt: skip
    assert cells[1][3:7] == ["100", "0 s", "not back", "not back"] and cells[1][8] == "0"
    assert HOSTILE not in html and "&lt;script&gt;" in cells[1][2]
    after = html[html.index("<h2>Recovery</h2>") :]
    assert "Slowest recovery: not back" in after and "Missed while away, the whole run's: 224 marks" in after
    del summary["recovery"]
    assert "<h2>Recovery</h2>" not in render_html(summary)
