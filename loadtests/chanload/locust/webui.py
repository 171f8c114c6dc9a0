"""The "WebSockets" tab in Locust's web UI, and what a run started from the web UI keeps.

Built on Locust's own extension points (its `examples/extend_web_ui.py`): `extended_tabs` and
`extended_tables` in the page's template arguments declare the tab and its columns, and an
`after_request` hook adds the rows to every `/stats/requests` poll as `extended_stats`. The rows come
from the live view (`chanload.run.live`) that the Prometheus exporter reads too.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import gevent
from flask import jsonify, request

from chanload.exceptions import OptionError
from chanload.formatting import format_us
from chanload.locust import drills
from chanload.locust.options import FORM_FIELDS, OFF_FORM
from chanload.recording.latency import Aggregate
from chanload.run.live import View, in_flight
from chanload.run.settings import settings_from

if TYPE_CHECKING:  # lastreport imports locust; this module serves unit tests without it
    from chanload.locust.lastreport import FinalReports

log = logging.getLogger("chanload")

TAB = "websockets"
COLUMNS = (
    ("section", "Section"),
    ("item", "What"),
    ("count", "Count"),
    ("fail", "Failures"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p999", "p99.9"),
    ("max", "Max"),
    ("rate", "Now /s"),
    ("value", "Value"),
    ("result", "Result"),
)
# Where a web-UI run writes its artifacts when --report-dir is not given (under the working directory).
DEFAULT_REPORT_ROOT = "reports/webui"


def rows(live: View, rates: dict[tuple[str, str], float]) -> list[dict]:
    """The tab's rows: latency per (type, name), counters, failures, delivery, thresholds.

    `rates` holds Locust's current requests/s per (type, name); latencies come from the HDR rows.
    """
    summary = live.summary
    out = []
    # 'WS message corrected' right after 'WS message' of the same name.
    ordered = sorted(summary["latency"], key=lambda r: (r["type"].removesuffix(" corrected"), r["name"], r["type"]))
    for r in ordered:
        rate = rates.get((r["type"], r["name"]))
        out.append(
            {
                "section": "latency",
                "item": f"{r['type']} {r['name']}",
                "count": r["count"],
                "fail": r["failures"],
                **{col: format_us(r[key]) for col, key in _PERCENTILE_COLUMNS},
                "rate": "-" if rate is None else f"{rate:.1f}",
            }
        )
    c = summary["counters"]
    out.append({"section": "connections", "item": "open now", "value": live.open_connections})
    out.append({"section": "connections", "item": "users", "value": live.users})
    out.append({"section": "connections", "item": "handshakes", "count": c["connects"], "fail": c["connect_failures"]})
    if summary["status"] == "running":  # unanswered messages are counted as in flight when users stop
        tally = f"{c['sent']} = {c['ok']} + {c['failed']} + {in_flight(c)} in flight now"
    else:
        verdict = "reconciles" if c["sent"] == c["ok"] + c["failed"] + c["in_flight"] else "DOES NOT RECONCILE"
        tally = f"{c['sent']} = {c['ok']} + {c['failed']} + {c['in_flight']} ({verdict})"
    out.append({"section": "messages", "item": "sent = ok + failed + in flight", "count": c["sent"], "value": tally})
    for kind, n in sorted((c.get("failure_kinds") or {}).items()):
        out.append({"section": "failures", "item": kind, "count": n})
    delivery = summary.get("delivery")
    if delivery:
        out.append(_delivery_row("all rooms", delivery["total"]))
        out += [_delivery_row(f"room {room}", totals) for room, totals in delivery["rooms"].items()]
    for t in live.thresholds:
        verdict = "PASS" if t["passed"] else "FAIL"
        out.append({"section": "threshold", "item": t["expr"], "value": t["detail"], "result": verdict})
    return out + recovery_rows(summary.get("recovery")) + resource_rows(summary.get("resources"))


def recovery_rows(block: dict | None) -> list[dict]:
    """The recovery from each drill that ran (chanload.run.recovery): there once the run is over, as in summary.json."""
    if not block:
        return []
    out = []
    for i, d in enumerate(block.get("drills") or [], 1):
        lowest = f", lowest {d['users_lowest']}" if d.get("users_lowest") is not None else ""
        out.append(
            {
                "section": "recovery",
                "item": f"drill {i}, ran at {d.get('at', 0):g} s: {d.get('command') or '-'}",
                "fail": d.get("failed_messages", 0),
                "value": f"recovery {_seconds(d.get('recovery_s'))} (users {_seconds(d.get('users_back_s'))}:"
                f" {d.get('users_before')} before{lowest}; latency {_seconds(d.get('latency_back_s'))} by"
                f" {d.get('criterion') or 'no criterion'})",
            }
        )
    out.append({"section": "recovery", "item": "slowest", "value": _seconds(block.get("slowest_s"))})
    out.append(
        {"section": "recovery", "item": "missed while away (whole run)", "count": block.get("missed_while_away")}
    )
    return out


def _seconds(value: float | None) -> str:
    return "not back" if value is None else f"{value:g} s"


def resource_rows(resources: dict | None) -> list[dict]:
    """The watched processes, Redis and its channel layer, and each load process's CPU: their latest second."""
    if not resources:
        return []
    out = []
    for name, p in resources["processes"].items():
        now = p.get("latest") or {}
        if p.get("exited") is not None:
            value = f"exited (second {p['exited']})"
        elif "cpu" not in now:
            value = "no sample yet" if not now else f"unavailable: {now.get('error', '?')}"
        else:
            limit = f" of {p['fd_limit']}" if p.get("fd_limit") else ""
            value = (
                f"CPU {now['cpu'] * 100:.0f}% of a core ({now['cpu_of_cores'] * 100:.0f}% of {p['cores']}),"
                f" RSS {_mib(now['rss_bytes'])}, fds {now['fds']}{limit}, threads {now['threads']},"
                f" TCP established {now['tcp_established']}"
            )
        out.append({"section": "resources", "item": f"process {name} (pid {p.get('pid')})", "value": value})
    for _name, r in resources["redis"].items():
        now = r.get("latest") or {}
        if not now.get("available"):
            value = "no sample yet" if not now else f"unavailable: {now.get('error', '?')}"
        else:
            value = (
                f"{now['ops_per_second']:.0f} ops/s, used memory {_mib(now['used_memory_bytes'])},"
                f" clients {now['connected_clients']}, CPU {now['cpu'] * 100:.0f}% of a core"
            )
        out.append({"section": "resources", "item": f"redis {r.get('url')}", "value": value})
        if "queued_total" in now:
            out.append(
                {
                    "section": "resources",
                    "item": f"channel layer '{r.get('prefix')}'",
                    "count": now["queued_total"],
                    "value": f"{now['queued_total']} queued in {now['queues']} queues; fullest {now['queued_max']}"
                    f" of capacity {r.get('capacity')}; {now['groups']} groups, largest {now['group_members_max']}"
                    f" members",
                }
            )
    for name, g in resources["generator"].items():
        now = g.get("latest") or {}
        if "cpu" in now:
            peak = g["peak"]["cpu"]
            busy = name in resources.get("generator_busy", {}).get("processes", ())
            out.append(
                {
                    "section": "resources",
                    "item": f"generator {name}",
                    "value": f"CPU {now['cpu'] * 100:.0f}% of a core (peak {peak * 100:.0f}%)",
                    "result": "BUSY" if busy else "",
                }
            )
    return out


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


_PERCENTILE_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99_9"), ("max", "max"))


def _delivery_row(item: str, t: dict) -> dict:
    ratio = "-" if t["ratio"] is None else f"{t['ratio'] * 100:.4f}%"
    return {
        "section": "delivery",
        "item": item,
        "count": t["delivered"],
        "value": f"{ratio} of {t['expected']} expected; missing {t['missing']} (tail {t.get('tail', 0)}),"
        f" duplicated {t['duplicated']},"
        f" reordered {t['reordered']}",
    }


def form_refusal(parsed, form, host: str | None, user_classes: tuple = ()) -> str | None:
    """What is wrong with the options a start form (`/swarm`) would set, or None: checked before Locust takes them.

    Each field is read as Locust's swarm handler reads it (as the type the option already has: text, a number,
    a checkbox's "true"), over a copy of `parsed`, and the whole is validated as a run's start would (each of
    `user_classes` checks it too: a `json:` step with the class's own rooms, ...); a refusal is
    the form's message and nothing starts (a wrong value found at test start would stop the process). Without a
    host to check with, the check is left to the start.
    """
    # Locust's swarm handler would set any parsed option a POST names, shown on the form or not: a file to read
    # (--credentials), a folder to write (--report-dir), a process to watch, TLS checks off, commands to run.
    named = [dest for dest in OFF_FORM if dest in form]
    if named:
        option = OFF_FORM[named[0]]
        if named[0] in drills.OPTIONS:
            return (
                f"{option} runs commands on the machine of the web UI: it is taken only from the command line or a"
                " config file, never from the web UI's form"
            )
        return (
            f"{option} is not on the web UI's form: it is taken only from the command line or a config file; "
            "restart Locust with it to change it"
        )
    if parsed is None or not host:
        return None
    options = argparse.Namespace(**vars(parsed))
    for dest, option in FORM_FIELDS.items():
        if dest not in form:
            continue
        value, current = form[dest], getattr(options, dest, None)
        if isinstance(current, bool):
            setattr(options, dest, value == "true")
        elif current is None or isinstance(current, str):
            setattr(options, dest, value)
        else:
            try:
                setattr(options, dest, type(current)(value))
            except (TypeError, ValueError):
                whole = isinstance(current, int)
                return f"{option} {value!r}: expected {'a whole number' if whole else 'a number'}"
    try:
        settings = settings_from(options, host)
        for user_class in user_classes:  # and each user class's own check (its rooms, its payload), as at start
            check = getattr(user_class, "check", None)
            if callable(check):
                check(settings)
    except OptionError as exc:
        return str(exc)
    return None


def default_report_dir(now: float) -> str:
    """A fresh folder per web-UI run: reports/webui/20260124-051502 (UTC)."""
    return f"{DEFAULT_REPORT_ROOT}/{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}"


def attach(environment, st, read: Callable[[], View], finish: Callable[[], dict], finals: FinalReports | None) -> None:
    """Add the tab to `environment.web_ui` (master or standalone only); keep each web-UI run's artifacts.

    `finals`: on a master, its record of the workers' final reports, awaited before a stopped run is summed up.
    """
    web_ui = environment.web_ui
    if web_ui is None:
        return
    web_ui.template_args["extended_tabs"] = [{"title": "WebSockets", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]

    @web_ui.app.before_request
    def check_form():
        # A start form's options, refused with a message the form shows rather than stopping at test start.
        if request.method != "POST" or not request.path.endswith("/swarm"):
            return None
        refusal = form_refusal(
            environment.parsed_options,
            request.form,
            request.form.get("host") or environment.host,
            tuple(environment.user_classes or ()),
        )
        if refusal is None:
            return None
        log.error("web UI form: %s", refusal)
        return jsonify({"success": False, "message": refusal, "host": environment.host})

    @web_ui.app.after_request
    def add_rows(response):
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        runner = environment.runner
        rates = {(e.method, e.name): e.current_rps for e in runner.stats.entries.values()} if runner else {}
        data = {**response.get_json(), "extended_stats": [{"key": TAB, "data": rows(read(), rates)}]}
        response.set_data(json.dumps(data))
        return response

    def on_test_start(**_kw):
        # Listeners run in order: the plugin's own test_start has re-read the options already.
        if not st.settings.report_dir:
            st.settings = replace(st.settings, report_dir=default_report_dir(time.time()))

    def on_test_stop(**_kw):
        # A run started from the web UI is summed up and written when it stops, not when the
        # process quits: closing the browser or starting the next run does not lose it.
        if finals is not None:
            gevent.spawn(finish_after_last_reports, time.monotonic(), st.started)
        else:
            finish()

    def finish_after_last_reports(stopped: float, started: float) -> None:
        # A worker told to stop answers "stopped" at once but ships its last samples with its next
        # periodic report, the one marked final (its users have stopped). The summary waits for it
        # (chanload.locust.lastreport); a worker whose final report never comes is named as lost.
        assert finals is not None
        finals.wait(stopped)
        if st.started == started:  # not a new run started meanwhile
            finish()

    def on_reset_stats(**_kw):
        # As Locust's Reset: latency rows start again. Counters stay whole-run totals so that they
        # keep reconciling (sent = ok + failed + in flight).
        st.recorder.drain()
        st.aggregate = Aggregate()

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stop.add_listener(on_test_stop)
    environment.events.reset_stats.add_listener(on_reset_stats)
