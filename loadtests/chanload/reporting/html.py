"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network) from a run summary."""

from __future__ import annotations

import json
from html import escape

from chanload import formatting
from chanload.formatting import format_us as fmt_us
from chanload.reporting import fingerprint, svgchart
from chanload.reporting import summary as summaries
from chanload.reporting.charts import build_charts
from chanload.run import capacity, policy, slo

TABLE_STATS = (("min", "min"), ("mean", "mean"), ("p50", "p50"), ("p90", "p90"), ("p95", "p95"),
               ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max"))  # fmt: skip
# Nothing may leave the page: the browser refuses any fetch the report might still contain by mistake.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;margin:0 auto;max-width:1100px;
padding:0 16px 40px}
h1{font-size:22px;margin:20px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0}
.meta{color:#4a5568;margin:0}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;font-weight:600;font-size:12px;vertical-align:middle}
.pass,.status-ok{background:#c6f6d5;color:#22543d}.fail{background:#fed7d7;color:#742a2a}
.status-warn{background:#feebc8;color:#7b341e}.status-fail{background:#fed7d7;color:#742a2a}
.banner{margin:14px 0;padding:10px 14px;border-radius:6px;border-left:6px solid;font-weight:600}
.banner.status-warn{border-color:#dd6b20}.banner.status-fail{border-color:#c53030}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{padding:4px 9px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{background:#f7fafc}.num{text-align:right}td.num,table.percentiles td{white-space:nowrap}
table.percentiles{font-size:13px}table.percentiles :is(th,td){padding:4px 7px}
figure{margin:12px 0}figcaption{color:#4a5568;font-size:12px}
svg.chart{max-width:100%;height:auto;border:1px solid #e2e8f0;border-radius:4px}
.no-data{border:1px dashed #a0aec0;border-radius:4px;padding:12px 16px;color:#4a5568}.no-data p{margin:4px 0 0}
.scroll{overflow-x:auto}code{background:#edf2f7;padding:0 3px;border-radius:3px}
"""


def render_html(summary: dict) -> str:
    """The whole report.html for a summary dict (the summary.json schema)."""
    status = str(summary.get("status", "unknown"))
    title = f"chanload report: {status} ({summary.get('started', '')})"
    body = [
        _header(summary, status),
        _banner(summary, status),
        _generator_busy(summary),
        _insecure(summary),
        _thresholds(summary.get("thresholds") or []),
        capacity.html(summary.get("capacity")),
        _drills(summary.get("drills") or []),
        _recovery(summary.get("recovery")),
        _leaks(summary.get("leaks")),
        _percentiles(summary.get("latency") or []),
        _counters(summary.get("counters") or {}, summary.get("delivery"), summaries.started_epoch(summary)),
        _charts(summary),
        _mapping("Run parameters", summary.get("parameters") or {}),
        _mapping("Versions", summary.get("versions") or {}),
        f'<p class="meta">Schema <code>{escape(str(summary.get("schema", "?")))}</code>.'
        " Latencies are in microseconds in summary.json; shown here in us, ms or s.</p>",
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )


def fmt_threshold_value(t: dict, value: float | None) -> str:
    """A threshold's measured value or limit, as its statistic is written: 12.345 ms, 99.99%, 512.5/s; 'no data'."""
    if value is None:
        return "no data"
    return formatting.format_value(slo.kind_of(t), value)


def _header(summary: dict, status: str) -> str:
    known = policy.status_of(status).severity
    host = (summary.get("parameters") or {}).get("host")
    thresholds = summary.get("thresholds") or []
    failed = sum(1 for t in thresholds if not t.get("passed"))
    if not thresholds:
        verdict = '<span class="badge">no thresholds</span>'
    elif failed:
        verdict = f'<span class="badge fail">{failed} of {len(thresholds)} thresholds FAILED</span>'
    else:
        verdict = f'<span class="badge pass">all {len(thresholds)} thresholds passed</span>'
    return (
        f'<header><h1>chanload report <span class="badge status-{known}" data-status="{escape(status)}">'
        f"{escape(status.replace('_', ' '))}</span> {verdict}</h1>"
        f'<p class="meta">Target <code>{escape(str(host or "-"))}</code> · started {_field(summary, "started")}'
        f" · ended {_field(summary, 'ended')} · duration {_field(summary, 'duration_s')} s</p>"
        "</header>"
    )


def _field(summary: dict, key: str) -> str:
    return escape(str(summary.get(key, "-")))


def _banner(summary: dict, status: str) -> str:
    if status == "completed":
        return ""
    host = (summary.get("parameters") or {}).get("host") or "the target"
    known = policy.status_of(status)
    text = known.banner.replace("{host}", str(host))
    return f'<div class="banner status-{known.severity}" role="alert">{escape(text)}</div>'


def _generator_busy(summary: dict) -> str:
    if not fingerprint.busy(summary.get("fingerprint")):
        return ""
    return f'<div class="banner status-warn" role="note">{escape(summaries.generator_busy(summary))}</div>'


def _insecure(summary: dict) -> str:
    if ((summary.get("parameters") or {}).get("tls") or {}).get("verify") is not False:
        return ""
    return f'<div class="banner status-warn" role="note">{escape(summaries.tls_line(summary) or "")}</div>'


def _thresholds(thresholds: list[dict]) -> str:
    if not thresholds:
        return "<h2>Thresholds</h2><p>No thresholds were given (<code>--slo</code>).</p>"
    rows = []
    for t in thresholds:
        verdict = "PASS" if t.get("passed") else "FAIL"
        limit = f"{t.get('op', '')} {fmt_threshold_value(t, t.get('limit'))}"
        rows.append(
            f'<tr class="{verdict.lower()}-row"><td><code>{escape(str(t.get("expr", "")))}</code></td>'
            f'<td class="num">{escape(fmt_threshold_value(t, t.get("value")))}</td>'
            f'<td class="num">{escape(limit)}</td>'
            f'<td><span class="badge {verdict.lower()}">{verdict}</span></td></tr>'
        )
    return (
        '<h2>Thresholds</h2><table class="thresholds"><thead><tr><th>Threshold</th><th class="num">Measured</th>'
        '<th class="num">Limit</th><th>Result</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _drills(drills: list[dict]) -> str:
    """--drill: when each command ran (seconds into the run), how it ended, and its output's tail."""
    if not drills:
        return ""
    rows = []
    for i, d in enumerate(drills, 1):
        ran = d.get("started") is not None
        outcome = str(d.get("outcome") or ("not run" if not ran else "?"))
        badge = "pass" if outcome == "ok" else "fail"
        code = d.get("exit_code")
        tail = d.get("output_tail") or ""
        started = f"{d['started']:.1f} s" if ran else "-"
        took = f"{d['seconds']:.2f} s" if ran else "-"
        output = f"<pre>{escape(tail)}</pre>" if tail else "-"
        rows.append(
            f'<tr><td class="num">{i}</td><td class="num">{d.get("at", 0):g} s</td>'
            f"<td><code>{escape(str(d.get('command', '')))}</code></td>"
            f'<td class="num">{started}</td><td class="num">{took}</td>'
            f'<td class="num">{"-" if code is None else escape(str(code))}</td>'
            f'<td><span class="badge {badge}">{escape(outcome)}</span></td><td>{output}</td></tr>'
        )
    return (
        '<h2>Drills</h2><div class="scroll"><table class="drills"><thead><tr><th class="num">#</th>'
        '<th class="num">At</th><th>Command</th><th class="num">Ran at</th><th class="num">Took</th>'
        '<th class="num">Exit code</th><th>Outcome</th>'
        f"<th>Output (last 2 KB)</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        '<p class="meta">Times are seconds into the run (--drill); the time charts mark each drill that ran, by its'
        " number.</p>"
    )


def _recovery(block: dict | None) -> str:
    """From each drill that ran: how long until its users and its latency were back (chanload.run.recovery)."""
    if not block:
        return ""
    rows = []
    for i, d in enumerate(block.get("drills") or [], 1):
        users = "-" if d.get("users_before") is None else str(d["users_before"])
        if d.get("users_lowest") is not None:
            users += f" &rarr; {d['users_lowest']}"
        cells = [_seconds(d.get(k)) for k in ("users_back_s", "latency_back_s", "recovery_s")]
        rows.append(
            f'<tr><td class="num">{i}</td><td class="num">{d.get("at", 0):g} s</td>'
            f'<td><code>{escape(str(d.get("command") or "-"))}</code></td><td class="num">{users}</td>'
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + f"<td>{escape(str(d.get('criterion') or '-'))}</td>"
            f'<td class="num">{int(d.get("failed_messages") or 0)}</td></tr>'
        )
    slowest = block.get("slowest_s")
    return (
        '<h2>Recovery</h2><div class="scroll"><table class="recovery"><thead><tr><th class="num">#</th>'
        '<th class="num">Ran at</th><th>Command</th><th class="num">Users before &rarr; lowest</th>'
        '<th class="num">Users back</th><th class="num">Latency back</th><th class="num">Recovery</th>'
        f'<th>Latency criterion</th><th class="num">Failed messages</th></tr></thead><tbody>{"".join(rows)}</tbody>'
        f"</table></div><p class=\"meta\">Slowest recovery: {_seconds(slowest)} (what <code>--slo 'recovery&lt;...'"
        f"</code> gates). Missed while away, the whole run's: {int(block.get('missed_while_away') or 0)} marks. Times"
        " are seconds after each drill ran, to the second of the timeline: users back when as many are connected as"
        " in the second before it, latency back at the first 3 seconds in a row of message p99 within its criterion;"
        ' "not back": not within the run.</p>'
    )


def _seconds(value: float | None) -> str:
    return "not back" if value is None else f"{value:g} s"


def _leaks(leaks: dict | None) -> str:
    """Each --watch process's RSS growth over the steady state and whether it came back (chanload.run.leaks)."""
    if not leaks:
        return ""
    rows = []
    for name, leak in leaks.items():
        growth = leak.get("rss_growth_mb_per_min")
        back = {True: "yes", False: "NO", None: "not measured"}[leak.get("returned")]
        cells = [
            "-" if growth is None else f"{growth:+.2f} MB/min",
            f"{leak.get('steady_points', 0)} s from {leak['steady_from_s']:g} s" if leak.get("steady_from_s") else "-",
            *(f"{leak[k]:g} MB" if leak.get(k) is not None else "-" for k in ("base_mb", "peak_mb", "after_stop_mb")),
            back,
        ]
        why = f"<td>{escape(str(leak.get('why', '')))}</td>"
        body = "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
        rows.append(f"<tr><td><code>{escape(str(name))}</code></td>{body}{why}</tr>")
    head = "".join(
        f'<th class="num">{h}</th>'
        for h in ("RSS growth", "steady state", "RSS base", "RSS peak", "RSS after the load", "came back")
    )
    return (
        f'<h2>Leaks</h2><table class="leaks"><thead><tr><th>Process</th>{head}<th>Note</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        '<p class="meta">RSS growth: the Theil-Sen slope over the per-second samples after a warm-up (the first 20% of'
        " the load, at least 5 s); MB are 10^6 bytes. It came back when, after the load, RSS fell to at most its base"
        " plus half of what it grew (--watch-cooldown keeps watching after the load).</p>"
    )


def _percentiles(rows: list[dict]) -> str:
    if not rows:
        return "<h2>Latency percentiles</h2><p>No requests were recorded.</p>"
    head = "<th>Type</th><th>Name</th>"
    head += "".join(f'<th class="num">{h}</th>' for h in ("count", "failures", *(s[1] for s in TABLE_STATS)))
    body = []
    for r in rows:
        cells = [f"<td>{escape(str(r.get('type', '')))}</td><td>{escape(str(r.get('name', '')))}</td>"]
        cells += [f'<td class="num">{r.get(k, 0):,}</td>' for k in ("count", "failures")]
        cells += [f'<td class="num">{escape(fmt_us(r.get(k)))}</td>' for k, _ in TABLE_STATS]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<h2>Latency percentiles</h2><div class="scroll"><table class="percentiles"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        '<p class="meta">HDR histograms at 1 us resolution, 3 significant digits, merged over all workers.</p>'
    )


def _counters(counters: dict, delivery: dict | None, start: float | None = None) -> str:
    if not counters and not delivery:
        return ""
    # Wall-clock times (`last_ok_at` ...) relative to the run's start, "never" for none (0.0).
    shown = {
        k: summaries.moment(v, start) if k.endswith("_at") else v for k, v in counters.items() if k != "failure_kinds"
    }
    kinds = counters.get("failure_kinds") or {}
    if kinds:
        shown["failure kinds"] = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    out = _mapping("Counters", shown)
    if delivery:
        t = delivery.get("total") or {}
        ratio = t.get("ratio")
        out += _mapping(
            "Broadcast delivery",
            {
                "delivery ratio": "-" if ratio is None else f"{ratio * 100:.4f}%",
                "promise": f">= {delivery.get('promise', 0) * 100:.2f}%",
                **{k: t.get(k) for k in ("expected", "delivered", "missing", "duplicated", "reordered")},
                "of the missing, tail": t.get("tail", 0),
                "rooms": len(delivery.get("rooms") or {}),
            },
        )
        out += _rooms(delivery.get("rooms") or {})
    return out


def _rooms(rooms: dict) -> str:
    """Delivery per room, worst first: the tail (owed after the last message heard) apart from the gaps."""
    if not rooms:
        return ""
    head = "<th>Room</th>" + "".join(
        f'<th class="num">{h}</th>'
        for h in (
            "expected",
            "delivered",
            "missing",
            "of which gaps",
            "of which tail",
            "duplicated",
            "reordered",
            "ratio",
        )
    )
    body = []
    for room, t in summaries.worst_rooms(rooms):
        ratio = t.get("ratio")
        tail = int(t.get("tail", 0))
        missing = int(t.get("missing", 0))
        counts = (t.get("expected", 0), t.get("delivered", 0), missing, missing - tail, tail,
                  t.get("duplicated", 0), t.get("reordered", 0))  # fmt: skip
        cells = "".join(f'<td class="num">{n:,}</td>' for n in counts)
        shown = "-" if ratio is None else f"{ratio * 100:.4f}%"
        body.append(f'<tr><td>{escape(str(room))}</td>{cells}<td class="num">{shown}</td></tr>')
    return (
        '<h3>Delivery per room</h3><div class="scroll"><table class="rooms"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        '<p class="meta">Worst first. Missing = gaps (numbers skipped below the highest a receiver heard from a '
        "sender) + tail (numbers the sender sent after that, or all it sent while a receiver that never heard "
        "from it was in the room, up to the receiver's reply timeout before it left or the run stopped).</p>"
    )


def _charts(summary: dict) -> str:
    figures = []
    for chart in build_charts(summary):
        caption = " ".join(chart.notes)
        cap = f"<figcaption>{escape(caption)}</figcaption>" if caption and not chart.empty else ""
        figures.append(f"<figure>{svgchart.render(chart)}{cap}</figure>")
    return "<h2>Charts</h2>" + "\n".join(figures)


def _mapping(title: str, data: dict) -> str:
    if not data:
        return ""
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(_plain(v))}</td></tr>" for k, v in data.items())
    return f'<h2>{escape(title)}</h2><table class="mapping">{rows}</table>'


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
