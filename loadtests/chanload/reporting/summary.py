"""The end-of-run summary: a percentile table per (type, name), counters, delivery; text and JSON."""

from __future__ import annotations

import calendar
import functools
import platform
import time
from importlib.metadata import version

from chanload.formatting import format_us
from chanload.recording.counters import Ledger
from chanload.recording.delivery import CHANNELS_PROMISE, RoomTotals
from chanload.recording.latency import Aggregate, Counts, metric_name
from chanload.reporting.fingerprint import GENERATOR_BUSY
from chanload.run.drills import lines as drill_lines
from chanload.run.leaks import lines as leak_lines
from chanload.version import __version__

SCHEMA = "chanload.summary/1"
# --ws-insecure, said at the start of a run and again in its summary: what it gives up, and the way out.
INSECURE = (
    "--ws-insecure: the server's certificate is not verified; anyone on the path can pose as the target or read"
    " the traffic. For tests only: give --ws-ca-file PATH, the PEM file of the CA that signed it, instead"
)
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9))


def latency_rows(aggregate: Aggregate, histograms: bool = False) -> list[dict]:
    """One row per (type, name); `histograms`: each row also carries `hdr`, its whole-run histogram encoded
    (HdrHistogram's compressed base64, as `HdrHistogram.encode()` writes it; values in us)."""
    rows = []
    for key in aggregate.keys():
        h = aggregate.histogram(key)
        fast = Counts(h)  # HDR's own percentiles and mean, vectorised: this runs at every live scrape too
        count = h.get_total_count()
        row = {
            "type": key[0],
            "name": key[1],
            "metric": metric_name(key[0]),
            "count": count,
            "failures": aggregate.failures.get(key, 0),
            "min": h.get_min_value() if count else None,
            "mean": round(fast.mean(), 1) if count else None,
        }
        for label, pct in PERCENTILES:
            row[label] = fast.percentile(pct) if count else None
        row["max"] = h.get_max_value() if count else None
        if histograms:
            row["hdr"] = h.encode().decode() if count else None
        rows.append(row)
    return rows


def delivery_block(rooms: dict[str, RoomTotals]) -> dict | None:
    if not rooms:
        return None
    total = RoomTotals()
    for r in rooms.values():
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    return {
        "promise": CHANNELS_PROMISE,
        "total": {**vars(total), "ratio": total.ratio},
        "rooms": {room: {**vars(r), "ratio": r.ratio} for room, r in rooms.items()},
    }


ROOM_LINES = 5  # rooms the console shows under the delivery line, worst first


def worst_rooms(rooms: dict[str, dict]) -> list[tuple[str, dict]]:
    """Rooms by delivery ratio, lowest first (then most missing); rooms with nothing expected last."""
    return sorted(
        rooms.items(),
        key=lambda item: (
            item[1].get("ratio") is None,
            item[1].get("ratio") or 0.0,
            -item[1].get("missing", 0),
            item[0],
        ),
    )


def _delivery_text(t: dict, promise: str = "") -> str:
    ratio = "-" if t.get("ratio") is None else f"{t['ratio'] * 100:.4f}%"
    return (
        f"{ratio}{promise}, delivered {t['delivered']} of {t['expected']}, missing {t['missing']}"
        f" (tail {t.get('tail', 0)}), duplicated {t['duplicated']}, reordered {t['reordered']}"
        + (f", missed while away {t['away']}" if t.get("away") else "")
        + (f", lost with a dropped sender {t['in_drop']}" if t.get("in_drop") else "")
    )


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:g} s"


def delivery_lines(delivery: dict) -> list[str]:
    """The console's delivery: the total beside the promise, then the worst rooms (at most ROOM_LINES)."""
    rooms = delivery.get("rooms") or {}
    total = _delivery_text(delivery["total"], f" (promise >= {delivery['promise'] * 100:.2f}%)")
    lines = [f"broadcast delivery: {total} in {len(rooms)} room{'' if len(rooms) == 1 else 's'}"]
    if len(rooms) > 1:
        ranked = worst_rooms(rooms)
        lines += [f"  room {room}: {_delivery_text(t)}" for room, t in ranked[:ROOM_LINES]]
        if len(ranked) > ROOM_LINES:
            lines.append(
                f"  ... and {len(ranked) - ROOM_LINES} more rooms, none worse"
                " (summary.json and report.html have every room)"
            )
    return lines


def build(
    *,
    aggregate: Aggregate,
    ledger: Ledger,
    rooms: dict[str, RoomTotals],
    timeline: dict,
    parameters: dict,
    status: str,
    started: float,
    clamped: int = 0,
    histograms: bool = False,
    resources: dict | None = None,
) -> dict:
    ended = time.time()
    return {
        "schema": SCHEMA,
        "status": status,
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_s": round(ended - started, 3),
        "versions": {
            "chanload": __version__,
            "locust": _locust_version(),
            "python": platform.python_version(),
        },
        "parameters": parameters,
        "latency_unit": "us",
        "latency": latency_rows(aggregate, histograms),
        "clamped_samples": clamped,
        "counters": {**ledger.snapshot(), "reconciles": ledger.reconciles},
        "delivery": delivery_block(rooms),
        "timeline": timeline,
        "resources": resources,
        "thresholds": [],
    }


def render(summary: dict) -> str:
    """The summary as the text table printed at the end of a run."""
    head = ["Type", "Name", "count", "fail", *(label.replace("_", ".") for label, _ in PERCENTILES), "max"]
    rows = [
        [r["type"], r["name"], str(r["count"]), str(r["failures"])]
        + [format_us(r[label]) for label, _ in PERCENTILES]
        + [format_us(r["max"])]
        for r in summary["latency"]
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    lines = [f"chanload latency ({summary['status']}; HDR histograms, 1 us resolution, 3 significant digits)"]
    for row in [head, *rows]:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells))
    if any(r["type"].endswith("corrected") for r in summary["latency"]):
        lines.append(
            "'corrected' rows: latency from each message's intended send time (open model, --ws-rate); they"
            " include the 'send lag' row: how late each send went out, behind a late reply on its connection"
            " or an overloaded generator."
        )
    ledger = Ledger.total([summary["counters"]])
    not_reconciled = summary["counters"].get("not_reconciled")
    if not_reconciled:  # the equation holds for what was reported, but not everything was
        lines.append(ledger.line().replace("(reconciles)", "(holds for what was reported)"))
        lines.append(f"counters NOT reconciled: {not_reconciled}")
    else:
        lines.append(ledger.line())
    if ledger.failure_kinds:
        lines.append("failures: " + ", ".join(f"{k} {n}" for k, n in sorted(ledger.failure_kinds.items())))
    delivery = summary.get("delivery")
    if delivery:
        lines += delivery_lines(delivery)
    for d in (summary.get("recovery") or {}).get("drills", []):  # chanload.run.recovery
        lines.append(
            f"recovery after the drill at {d['at']:g} s: {_s(d['recovery_s'])} (users back {_s(d['users_back_s'])},"
            f" latency back {_s(d['latency_back_s'])} by {d['criterion']}), {d['failed_messages']} messages failed"
        )
    thresholds = summary.get("thresholds") or []
    if thresholds:
        passed = sum(t["passed"] for t in thresholds)
        lines.append(f"thresholds: {passed} of {len(thresholds)} passed")
        width = max(len(t["expr"]) for t in thresholds)
        lines += [f"  {'PASS' if t['passed'] else 'FAIL'}  {t['expr']:<{width}}  {t['detail']}" for t in thresholds]
    lines += drill_lines(summary.get("drills") or [])
    lines += leak_lines(summary.get("leaks"))
    if summary.get("exit_code") is not None:
        lines.append(f"chanload exit code: {summary['exit_code']} ({summary['status']})")
    tls = tls_line(summary)
    if tls:
        lines.append(tls)
    peak = (summary.get("fingerprint") or {}).get("generator_peak_cpu")
    if peak is not None and peak > GENERATOR_BUSY:
        lines.append(generator_busy(summary))
    if summary.get("clamped_samples"):
        lines.append(f"{summary['clamped_samples']} samples above 60 s were recorded as 60 s")
    return "\n".join(lines)


def generator_busy(summary: dict) -> str:
    """The warning for a run whose generator passed GENERATOR_BUSY of a core: which load processes did."""
    peak = summary["fingerprint"]["generator_peak_cpu"]
    generator = (summary.get("resources") or {}).get("generator") or {}
    named = [
        f"{name} {source['peak']['cpu'] * 100:.0f}%"
        for name, source in generator.items()
        if source.get("peak", {}).get("cpu", 0.0) > GENERATOR_BUSY
    ]
    who = f" ({', '.join(named)})" if named else ""
    return (
        f"generator busy: a load process used {peak * 100:.0f}% of a core in its busiest second{who} (over"
        f" {GENERATOR_BUSY * 100:.0f}%): the latency may be partly the generator's own; add workers"
    )


def tls_parameters(host: str, ca_file: str | None, insecure: bool) -> dict | None:
    """`parameters.tls`: how the target's certificate was checked. None for ws:// with no TLS option given.

    {"verify": false} with --ws-insecure; else {"verify": true, "ca_file": PATH}, PATH the --ws-ca-file (None: the
    system's CAs).
    """
    if insecure:
        return {"verify": False}
    if ca_file or host.startswith("wss://"):
        return {"verify": True, "ca_file": ca_file}
    return None


def tls_line(summary: dict) -> str | None:
    """The summary's line about TLS: a warning under --ws-insecure, the CA file with --ws-ca-file; else None."""
    tls = (summary.get("parameters") or {}).get("tls") or {}
    if tls.get("verify") is False:
        return f"TLS NOT VERIFIED: {INSECURE}"
    if tls.get("ca_file"):
        return f"TLS: the server's certificate verified against --ws-ca-file {tls['ca_file']}"
    return None


@functools.cache
def _locust_version() -> str:
    return version("locust")  # reads package metadata from disk: ~3 ms, and the live views build summaries often


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def started_epoch(summary: dict) -> float | None:
    """The run's start as a wall-clock time (time.time()), read back from summary.json's `started`; None if absent."""
    text = str(summary.get("started") or "")
    try:
        whole, _, ms = text.removesuffix("Z").partition(".")
        return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + (int(ms) / 1000 if ms else 0.0)
    except ValueError:
        return None


def moment(ts: float | None, start: float | None) -> str:
    """A wall-clock time from the counters (`last_ok_at` ...) as a reader wants it: "never" for none (0), else seconds
    into the run and the UTC time, e.g. "12.3 s into the run (05:15:02.345 UTC)"."""
    if not ts:
        return "never"
    clock = time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d} UTC"
    return clock if start is None else f"{ts - start:.1f} s into the run ({clock})"
