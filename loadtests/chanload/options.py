"""The suite's command-line options: registered with Locust, validated before any load starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from chanload import slo
from chanload.groups import Groups
from chanload.messages import Expect, OptionError, Payload

_PATH_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Settings:
    """Validated options. `path`, `payload` and `expect` are None where each user class keeps its own."""

    host: str
    path: str | None = None
    groups: Groups | None = None  # None: each user class's own pool (`groups`, default 10)
    payload: Payload | None = None
    expect: Expect | None = None
    connect_timeout: float = 5.0
    reply_timeout: float = 5.0
    think: tuple[float, float] = (0.5, 1.5)
    rate: float = 0.0
    messages_per_connection: int = 0
    headers: tuple[str, ...] = ()
    report_dir: str | None = None
    thresholds: tuple[slo.Threshold, ...] = ()
    slo_abort: bool = False
    other: str | None = None  # a frame that does not match while a reply is awaited: "fail" or "skip"
    # Watching (chanload.metrics): 0 = no /metrics endpoint.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Capacity finder (loadtests/capacity.py)
    capacity_slo: tuple[slo.Threshold, ...] = ()
    capacity_step: int = 10
    capacity_start: int = 0
    capacity_max: int = 1000
    capacity_hold: float = 10.0


def add_arguments(parser) -> None:
    """Register the options on Locust's parser (shown in `locust --help`, the web UI and config files)."""
    group = parser.add_argument_group(
        "Channels websocket",
        "What each websocket user sends and expects (chanload). Config-file keys drop the leading --.",
    )
    # Target
    _add(
        group,
        "--ws-path",
        default="",
        help="Path template under --host, with {group} for the room, e.g. 'ws/chat/{group}/'. "
        "Default: each user class's own route (room/{group}, aroom/{group}, chat/{group}).",
    )
    _add(
        group,
        "--ws-groups",
        default="",
        help="Values {group} takes, one at random per connection: N (g0..gN-1), LOW-HIGH (integers, e.g. 1-500), "
        "A,B,C (names) or @FILE (one name per line). Default: the user class's own, 10 for the built-in ones.",
    )
    _add(
        group,
        "--ws-header",
        action="append",
        default=[],
        web_ui=False,
        help="Extra handshake header 'Name: value' (repeatable), e.g. a Cookie or Authorization header.",
    )
    # Messages
    _add(
        group,
        "--ws-payload",
        default="",
        help="Message text or JSON template; {user} {seq} {group} {sent_ns} {mark} are filled per message "
        "({mark}: a token receivers measure delivery from). Default: 'hello' (echo users), "
        "a marked JSON message (broadcast users).",
    )
    _add(
        group,
        "--ws-expect",
        default="",
        help="Expected reply: exact text, 're:PATTERN' (whole reply), 'json:TEMPLATE' (a JSON reply holding "
        "these fields), or 'own' (the sender's own {mark}ed message relayed back); {user} {seq} {group} are "
        "those of the message answered. Default: OK.",
    )
    _add(
        group,
        "--ws-other",
        default="",
        choices=["", "fail", "skip"],
        help="A frame that arrives while a reply is awaited and does not match: 'fail' the message, or 'skip' "
        "it (counted as an other frame) and keep waiting up to the reply timeout. Default: the user class's, "
        "fail for the built-in ones.",
    )
    # Timeouts
    _add(group, "--ws-connect-timeout", type=float, default=5.0, help="Handshake timeout, seconds.")
    _add(group, "--ws-reply-timeout", type=float, default=5.0, help="Reply timeout, seconds.")
    # Pacing
    _add(
        group,
        "--ws-think",
        default="0.5-1.5",
        help="Closed loop: think time between a reply and the next send, seconds: 'X' or 'LOW-HIGH' (uniform).",
    )
    _add(
        group,
        "--ws-rate",
        type=float,
        default=0.0,
        help="Open model: messages/s per connection on a fixed schedule with random phase; latency is then "
        "also reported from the intended send time (coordinated-omission corrected). 0: closed loop.",
    )
    _add(
        group,
        "--ws-messages",
        type=int,
        default=0,
        help="Messages per connection before closing and reconnecting. 0: keep the connection.",
    )
    # Results
    _add(
        group,
        "--slo",
        action="append",
        default=[],
        web_ui=False,
        help="Threshold, repeatable: 'message:p99<10ms', 'connect:p95<50ms', 'fail_ratio<0.1%%', "
        "'delivery_ratio>=99.99%%', 'rps>=500'. Any FAIL exits with code 3. Grammar: README, Thresholds.",
    )
    _add(
        group,
        "--slo-abort",
        action="store_true",
        default=False,
        web_ui=False,
        help="Stop the run as soon as a threshold is certain to fail (max, count or failures past its limit).",
    )
    _add(
        group,
        "--report-dir",
        default="",
        web_ui=False,
        help="Folder for the run's artifacts (summary.json ...), written at the end even when interrupted.",
    )
    # Safety (chanload.preflight checks these before any port is bound)
    _add(
        group,
        "--allow-remote-workers",
        action="store_true",
        default=False,
        web_ui=False,
        help="Let --master-bind-host listen beyond loopback. Workers are not authenticated: any process that "
        "connects receives every option, --ws-header values included. Only on a network you trust.",
    )
    _add(
        group,
        "--allow-remote-web-ui",
        action="store_true",
        default=False,
        web_ui=False,
        help="Let --web-host listen beyond loopback without --web-login: anyone who reaches it can start a "
        "load. For a container whose published port is bound to 127.0.0.1 (docker-compose.yml).",
    )
    # Watching
    watch = parser.add_argument_group("Channels websocket: watching", "Live metrics for Prometheus (chanload).")
    _add(
        watch,
        "--ws-metrics-port",
        type=int,
        default=0,
        web_ui=False,
        help="Serve Prometheus metrics on this port at /metrics (master or standalone process). 0: off.",
    )
    _add(
        watch,
        "--ws-metrics-host",
        default="127.0.0.1",
        web_ui=False,
        help="Address the metrics endpoint binds to; 0.0.0.0 exposes it beyond this machine.",
    )

    _add_capacity(parser)


def _add_capacity(parser) -> None:
    group = parser.add_argument_group(
        "Capacity finder", "Used by loadtests/capacity.py: step users up until a threshold breaks (chanload)."
    )
    _add(
        group,
        "--capacity-slo",
        action="append",
        default=[],
        web_ui=False,
        help="Threshold each step must hold, --slo grammar, repeatable: 'message:p95<50ms', 'fail_ratio<1%%'.",
    )
    _add(group, "--capacity-step", type=int, default=10, help="Users added per step.")
    _add(group, "--capacity-start", type=int, default=0, help="Users in the first step. 0: one step.")
    _add(group, "--capacity-max", type=int, default=1000, help="Stop after the step that reaches this many users.")
    _add(group, "--capacity-hold", type=float, default=10.0,
         help="Seconds each step is measured (held longer if unstable).")  # fmt: skip


def _add(group, *flags: str, web_ui: bool = True, **kwargs):
    # Locust's web UI lists actions flagged include_in_web_ui; argument groups do not take the flag.
    action = group.add_argument(*flags, **kwargs)
    action.include_in_web_ui = web_ui
    return action


def settings_from(options, host: str | None) -> Settings:
    """Validate Locust's parsed options; raise OptionError naming the option and the fix."""
    settings = Settings(
        host=_host(host),
        path=_path(str(getattr(options, "ws_path", "") or "")),
        groups=None if getattr(options, "ws_groups", "") in (None, "") else Groups.parse(options.ws_groups),
        payload=Payload(options.ws_payload) if getattr(options, "ws_payload", "") else None,
        expect=Expect.parse(options.ws_expect) if getattr(options, "ws_expect", "") else None,
        connect_timeout=_positive(getattr(options, "ws_connect_timeout", 5.0), "--ws-connect-timeout"),
        reply_timeout=_positive(getattr(options, "ws_reply_timeout", 5.0), "--ws-reply-timeout"),
        think=_think(str(getattr(options, "ws_think", "0.5-1.5"))),
        rate=_non_negative(getattr(options, "ws_rate", 0.0), "--ws-rate"),
        messages_per_connection=int(_non_negative(getattr(options, "ws_messages", 0), "--ws-messages")),
        headers=tuple(_header(h) for h in getattr(options, "ws_header", []) or []),
        report_dir=str(getattr(options, "report_dir", "") or "") or None,
        thresholds=tuple(slo.parse_all(_listed(getattr(options, "slo", None)))),
        slo_abort=bool(getattr(options, "slo_abort", False)),
        other=_other(getattr(options, "ws_other", "") or None),
        metrics_port=_port(getattr(options, "ws_metrics_port", 0), "--ws-metrics-port"),
        metrics_host=str(getattr(options, "ws_metrics_host", "") or "127.0.0.1"),
        capacity_slo=tuple(slo.parse_all(_listed(getattr(options, "capacity_slo", None)))),
        capacity_step=_positive_int(getattr(options, "capacity_step", 10), "--capacity-step"),
        capacity_start=int(_non_negative(getattr(options, "capacity_start", 0), "--capacity-start")),
        capacity_max=_positive_int(getattr(options, "capacity_max", 1000), "--capacity-max"),
        capacity_hold=_at_least(getattr(options, "capacity_hold", 10.0), 2.0, "--capacity-hold"),
    )
    if settings.expect is not None and settings.expect.form == "own" and settings.payload is not None:
        if not settings.payload.uses_mark:
            raise OptionError(
                "--ws-expect own: the reply is the sender's own message relayed back, found by its mark: "
                'put {mark} in --ws-payload, e.g. \'{"message": "{mark}"}\''
            )
    return settings


def _at_least(value, low: float, option: str) -> float:
    number = _number(value, option)
    if number < low:
        raise OptionError(f"{option} {value!r}: must be at least {low:g}")
    return number


def _listed(value) -> list[str]:
    # From the command line or a config file: a list; from an environment variable: one string.
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def route_name(template: str) -> str:
    """The request name for a path template: `room/{group}` -> `room/[group]`, query string dropped."""
    path = template.split("?", 1)[0]
    return _PATH_TOKEN.sub(lambda m: f"[{m.group(1)}]", path)


def _host(host: str | None) -> str:
    if not host:
        raise OptionError("no target: pass --host ws://127.0.0.1:8000 (or set host in the config file)")
    parts = urlsplit(host)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise OptionError(f"--host {host!r}: expected ws://HOST:PORT or wss://HOST:PORT")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _path(template: str) -> str | None:
    if not template:
        return None
    for match in _PATH_TOKEN.finditer(template):
        if match.group(1) != "group":
            raise OptionError(f"--ws-path {template!r}: unknown placeholder {{{match.group(1)}}}; only {{group}}")
    return template.lstrip("/")


def _number(value, option: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{option} {value!r}: expected a number") from None


def _positive(value, option: str) -> float:
    number = _number(value, option)
    if number <= 0:
        raise OptionError(f"{option} {value!r}: must be greater than 0")
    return number


def _non_negative(value, option: str) -> float:
    number = _number(value, option)
    if number < 0:
        raise OptionError(f"{option} {value!r}: must be 0 or more")
    return number


def _positive_int(value, option: str) -> int:
    number = _positive(value, option)
    if number != int(number):
        raise OptionError(f"{option} {value!r}: expected a whole number")
    return int(number)


def _think(value: str) -> tuple[float, float]:
    low, sep, high = value.partition("-")
    try:
        lo = float(low)
        hi = float(high) if sep else lo
    except ValueError:
        raise OptionError(f"--ws-think {value!r}: expected seconds as 'X' or 'LOW-HIGH', e.g. 0.5-1.5") from None
    if lo < 0 or hi < lo:
        raise OptionError(f"--ws-think {value!r}: need 0 <= LOW <= HIGH")
    return lo, hi


def _other(value) -> str | None:
    if value not in (None, "fail", "skip"):
        raise OptionError(f"--ws-other {value!r}: expected 'fail' or 'skip'")
    return value


def _header(value: str) -> str:
    name, sep, _ = value.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise OptionError(f"--ws-header {value!r}: expected 'Name: value'")
    return value


def _port(value, option: str) -> int:
    number = _non_negative(value, option)
    if number != int(number) or number > 65535:
        raise OptionError(f"{option} {value!r}: expected a TCP port, 1-65535 (0 turns it off)")
    return int(number)
