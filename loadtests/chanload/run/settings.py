"""A run's settings: the suite's options, validated before any load starts.

`settings_from` reads any object with the options as attributes (Locust's parsed options, or an
argparse namespace); `chanload.locust.options` registers them on Locust's parser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chanload.conversation.groups import Groups
from chanload.conversation.login import Accounts, login_path
from chanload.conversation.messages import Expect, Payload
from chanload.conversation.opening import Opening, openings
from chanload.conversation.reconnect import Policy, lifetime
from chanload.exceptions import OptionError
from chanload.recording import archive
from chanload.recording.archive import Run
from chanload.run import slo
from chanload.run.values import host_url as host_url
from chanload.run.values import (
    parse_at_least,
    parse_ca_file,
    parse_cookie_name,
    parse_groups,
    parse_header,
    parse_host,
    parse_listed,
    parse_non_negative,
    parse_on_off,
    parse_other,
    parse_path,
    parse_port,
    parse_positive,
    parse_positive_int,
    parse_redis_url,
    parse_size,
    parse_steps,
    parse_think,
    parse_tokens,
    parse_watched,
)
from chanload.wire.client import subprotocol_names
from chanload.wire.defaults import DEFAULTS
from chanload.wire.framing import MAX_MESSAGE

log = logging.getLogger("chanload")


@dataclass(frozen=True)
class Settings:
    """Validated options. `path`, `payload` and `expect` are None where each user class keeps its own."""

    host: str
    path: str | None = None
    groups: Groups | None = None  # None: each user class's own pool (`groups`, default 10)
    payload: Payload | None = None
    expect: Expect | None = None
    match: Expect | None = None  # which frame is the reply; None: each user class's own (`match`, none built in)
    opening: tuple[Opening, ...] = ()  # (): each user class's own opening steps (`opening`, none built in)
    connect_timeout: float = DEFAULTS.connect_timeout
    reply_timeout: float = DEFAULTS.reply_timeout
    max_message: int = MAX_MESSAGE  # bytes a frame or a reassembled message may have (--ws-max-message)
    ca_file: str | None = None  # wss://: a private CA's PEM file to trust (--ws-ca-file)
    insecure: bool = False  # wss://: no certificate verification (--ws-insecure)
    think: tuple[float, float] = (0.5, 1.5)
    rate: float = 0.0
    arrivals: str = "poisson"  # the open model's send times: "poisson" (exponential gaps), or a "fixed" grid
    messages_per_connection: int = 0
    reconnect: Policy = Policy()  # --ws-reconnect (chanload.conversation.reconnect)
    lifetime: tuple[float, float] | None = None  # --ws-lifetime MIN-MAX s: churn; None: off
    headers: tuple[str, ...] = ()
    subprotocols: tuple[str, ...] = ()  # (): each user class's own (`subprotocols`, none for the built-in ones)
    report_dir: str | None = None
    png_charts: bool = True  # the charts also as PNG files in report_dir (report.html has them as SVG)
    thresholds: tuple[slo.Threshold, ...] = ()
    slo_abort: bool = False
    baseline: str | None = None  # --baseline DIR: a previous run's report folder, for relative ('1.1x') limits
    other: str | None = None  # a frame that does not match while a reply is awaited: "fail" or "skip"
    trace: bool = False  # --ws-trace: the first session of each process prints its conversation
    # Logins before connecting (chanload.conversation.login): None where each user class keeps its own
    # `login_url`; `accounts` from --credentials (its repr shows no password).
    login_url: str | None = None
    accounts: Accounts | None = None
    login_cookie: str = DEFAULTS.login_cookie
    # Watching (chanload.watch.metrics): 0 = no /metrics endpoint.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Resources (chanload.watch.resources): (name, pid) per --watch; --watch-redis URL and its layer's keys.
    watch: tuple[tuple[str, int], ...] = ()
    watch_redis: str | None = None
    watch_redis_prefix: str = "asgi"
    watch_redis_capacity: int = 100
    # Capacity finder (loadtests/capacity.py)
    capacity_slo: tuple[slo.Threshold, ...] = ()
    capacity_step: int = 10
    capacity_start: int = 0
    capacity_max: int = 1000
    capacity_hold: float = 10.0


def settings_from(options, host: str | None) -> Settings:
    """Validate Locust's parsed options; raise OptionError naming the option and the fix."""
    settings = Settings(
        host=parse_host(host),
        path=parse_path(str(getattr(options, "ws_path", "") or "")),
        groups=(
            groups := parse_groups(getattr(options, "ws_groups", ""))
        ),  # JSON templates are checked with its values
        payload=Payload(options.ws_payload, groups=groups) if getattr(options, "ws_payload", "") else None,
        expect=Expect.parse(options.ws_expect, groups=groups) if getattr(options, "ws_expect", "") else None,
        match=Expect.parse(options.ws_match, "--ws-match", groups) if getattr(options, "ws_match", "") else None,
        opening=openings(parse_steps(getattr(options, "ws_open", None))),
        connect_timeout=parse_positive(
            getattr(options, "ws_connect_timeout", DEFAULTS.connect_timeout), "--ws-connect-timeout"
        ),
        reply_timeout=parse_positive(
            getattr(options, "ws_reply_timeout", DEFAULTS.reply_timeout), "--ws-reply-timeout"
        ),
        max_message=parse_size(getattr(options, "ws_max_message", "") or MAX_MESSAGE, "--ws-max-message"),
        ca_file=parse_ca_file(getattr(options, "ws_ca_file", "") or None),
        insecure=bool(getattr(options, "ws_insecure", False)),
        think=parse_think(str(getattr(options, "ws_think", "0.5-1.5"))),
        rate=parse_non_negative(getattr(options, "ws_rate", 0.0), "--ws-rate"),
        arrivals=_arrivals(getattr(options, "ws_arrivals", "poisson") or "poisson"),
        messages_per_connection=int(parse_non_negative(getattr(options, "ws_messages", 0), "--ws-messages")),
        reconnect=Policy.parse(getattr(options, "ws_reconnect", "now")),
        lifetime=lifetime(getattr(options, "ws_lifetime", "")),
        headers=tuple(parse_header(h) for h in getattr(options, "ws_header", []) or []),
        subprotocols=tuple(
            dict.fromkeys(subprotocol_names(parse_tokens(getattr(options, "ws_subprotocol", None)), "--ws-subprotocol"))
        ),
        report_dir=str(getattr(options, "report_dir", "") or "") or None,
        png_charts=parse_on_off(getattr(options, "ws_png_charts", "on"), "--ws-png-charts"),
        thresholds=tuple(slo.parse_all(parse_listed(getattr(options, "slo", None)))),
        slo_abort=bool(getattr(options, "slo_abort", False)),
        baseline=str(getattr(options, "baseline", "") or "") or None,
        other=parse_other(getattr(options, "ws_other", "") or None),
        trace=bool(getattr(options, "ws_trace", False)),
        login_url=login_path(url, "--login-url") if (url := getattr(options, "login_url", "")) else None,
        accounts=Accounts.read(str(creds)) if (creds := getattr(options, "credentials", "")) else None,
        login_cookie=parse_cookie_name(getattr(options, "login_cookie", "") or DEFAULTS.login_cookie),
        metrics_port=parse_port(getattr(options, "ws_metrics_port", 0), "--ws-metrics-port"),
        metrics_host=str(getattr(options, "ws_metrics_host", "") or "127.0.0.1"),
        watch=parse_watched(parse_listed(getattr(options, "watch", None))),
        watch_redis=parse_redis_url(getattr(options, "watch_redis", "") or None),
        watch_redis_prefix=str(getattr(options, "watch_redis_prefix", "") or "asgi"),
        watch_redis_capacity=parse_positive_int(
            getattr(options, "watch_redis_capacity", 100), "--watch-redis-capacity"
        ),
        capacity_slo=tuple(slo.parse_all(parse_listed(getattr(options, "capacity_slo", None)))),
        capacity_step=parse_positive_int(getattr(options, "capacity_step", 10), "--capacity-step"),
        capacity_start=int(parse_non_negative(getattr(options, "capacity_start", 0), "--capacity-start")),
        capacity_max=parse_positive_int(getattr(options, "capacity_max", 1000), "--capacity-max"),
        capacity_hold=parse_at_least(getattr(options, "capacity_hold", 10.0), 2.0, "--capacity-hold"),
    )
    if settings.expect is not None and settings.expect.form == "own" and settings.payload is not None:
        if not settings.payload.uses_mark:
            raise OptionError(
                "--ws-expect own: the reply is the sender's own message relayed back, found by its mark: "
                'put {mark} in --ws-payload, e.g. \'{"message": "{mark}"}\''
            )
    stepped = [t.expr for t in settings.capacity_slo if t.relative]
    if stepped:
        raise OptionError(
            f"--capacity-slo {stepped[0]!r}: each step is judged on its own seconds, not against a baseline run;"
            " give an absolute limit, e.g. 'message:p99<50ms'"
        )
    relative = [t.expr for t in settings.thresholds if t.relative]
    if relative and settings.baseline is None:
        raise OptionError(
            f"--slo {relative[0]!r}: a limit relative to a baseline ('x') needs --baseline DIR, the report folder"
            " of the run to compare with (e.g. the last main branch run's --report-dir)"
        )
    if settings.login_url is not None and settings.accounts is None:
        raise OptionError(
            f"--login-url {settings.login_url}: give --credentials FILE too, the accounts to log in with "
            "(username,password lines, taken in turn)"
        )
    return settings


def _arrivals(value) -> str:
    text = str(value).strip().lower()
    if text not in ("fixed", "poisson"):
        raise OptionError(f"--ws-arrivals {value!r}: 'fixed' (a grid of 1/rate) or 'poisson' (exponential gaps)")
    return text


def load_baseline(settings: Settings) -> Run | None:
    """--baseline DIR read now, before any load; OptionError (exit code 2) if it cannot be read."""
    if settings.baseline is None:
        return None
    try:
        run = archive.load(settings.baseline, "--baseline")
    except archive.RunError as exc:
        raise OptionError(f"{exc}; give the --report-dir folder of an earlier run") from None
    if run.log is None:
        log.warning(
            "--baseline %s has no latency.hlog (a run from before chanload kept one): relative limits fail, as"
            " there is no per-second data to judge them with",
            settings.baseline,
        )
    return run
