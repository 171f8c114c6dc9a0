"""A run's settings: the suite's options, validated before any load starts.

`settings_from` reads any object with the options as attributes (Locust's parsed options, or an
argparse namespace); `chanload.locust.options` registers them on Locust's parser.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from chanload.conversation.groups import Groups
from chanload.conversation.login import Accounts, login_path
from chanload.conversation.messages import Expect, Payload
from chanload.conversation.opening import Opening, openings
from chanload.conversation.reconnect import Policy, lifetime
from chanload.exceptions import OptionError
from chanload.recording import archive
from chanload.recording.archive import Run
from chanload.run import slo
from chanload.wire.client import subprotocol_names
from chanload.wire.framing import MAX_MESSAGE

_PATH_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
log = logging.getLogger("chanload")
_told: set[str] = set()  # --ws-groups values already described in the log (settings are read more than once)


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
    connect_timeout: float = 5.0
    reply_timeout: float = 5.0
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
    login_cookie: str = "sessionid"
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
        host=_host(host),
        path=_path(str(getattr(options, "ws_path", "") or "")),
        groups=(groups := _groups(getattr(options, "ws_groups", ""))),  # JSON templates are checked with its values
        payload=Payload(options.ws_payload, groups=groups) if getattr(options, "ws_payload", "") else None,
        expect=Expect.parse(options.ws_expect, groups=groups) if getattr(options, "ws_expect", "") else None,
        match=Expect.parse(options.ws_match, "--ws-match", groups) if getattr(options, "ws_match", "") else None,
        opening=openings(_steps(getattr(options, "ws_open", None))),
        connect_timeout=_positive(getattr(options, "ws_connect_timeout", 5.0), "--ws-connect-timeout"),
        reply_timeout=_positive(getattr(options, "ws_reply_timeout", 5.0), "--ws-reply-timeout"),
        max_message=_size(getattr(options, "ws_max_message", "") or MAX_MESSAGE, "--ws-max-message"),
        ca_file=_ca_file(getattr(options, "ws_ca_file", "") or None),
        insecure=bool(getattr(options, "ws_insecure", False)),
        think=_think(str(getattr(options, "ws_think", "0.5-1.5"))),
        rate=_non_negative(getattr(options, "ws_rate", 0.0), "--ws-rate"),
        arrivals=_arrivals(getattr(options, "ws_arrivals", "poisson") or "poisson"),
        messages_per_connection=int(_non_negative(getattr(options, "ws_messages", 0), "--ws-messages")),
        reconnect=Policy.parse(getattr(options, "ws_reconnect", "now")),
        lifetime=lifetime(getattr(options, "ws_lifetime", "")),
        headers=tuple(_header(h) for h in getattr(options, "ws_header", []) or []),
        subprotocols=tuple(
            dict.fromkeys(subprotocol_names(_tokens(getattr(options, "ws_subprotocol", None)), "--ws-subprotocol"))
        ),
        report_dir=str(getattr(options, "report_dir", "") or "") or None,
        png_charts=_on_off(getattr(options, "ws_png_charts", "on"), "--ws-png-charts"),
        thresholds=tuple(slo.parse_all(_listed(getattr(options, "slo", None)))),
        slo_abort=bool(getattr(options, "slo_abort", False)),
        baseline=str(getattr(options, "baseline", "") or "") or None,
        other=_other(getattr(options, "ws_other", "") or None),
        trace=bool(getattr(options, "ws_trace", False)),
        login_url=login_path(url, "--login-url") if (url := getattr(options, "login_url", "")) else None,
        accounts=Accounts.read(str(creds)) if (creds := getattr(options, "credentials", "")) else None,
        login_cookie=_cookie_name(getattr(options, "login_cookie", "") or "sessionid"),
        metrics_port=_port(getattr(options, "ws_metrics_port", 0), "--ws-metrics-port"),
        metrics_host=str(getattr(options, "ws_metrics_host", "") or "127.0.0.1"),
        watch=_watched(_listed(getattr(options, "watch", None))),
        watch_redis=_redis_url(getattr(options, "watch_redis", "") or None),
        watch_redis_prefix=str(getattr(options, "watch_redis_prefix", "") or "asgi"),
        watch_redis_capacity=_positive_int(getattr(options, "watch_redis_capacity", 100), "--watch-redis-capacity"),
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


def _cookie_name(value) -> str:
    name = str(value)
    if not _TOKEN.fullmatch(name):
        raise OptionError(
            f"--login-cookie {name!r}: expected a cookie name (the app's SESSION_COOKIE_NAME), e.g. sessionid"
        )
    return name


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265: a cookie name is an RFC 7230 token


def _groups(value) -> Groups | None:
    """--ws-groups, parsed; what it holds is logged once (a warning for the bare `N`, easy to take for room N)."""
    if value in (None, ""):
        return None
    groups = Groups.parse(value)
    if groups.spec not in _told:
        _told.add(groups.spec)
        warning = groups.warning()
        if warning:
            log.warning("%s", warning)
        else:
            log.info("--ws-groups %s: {group} takes %s", groups.spec, groups.describe())
    return groups


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


_JSON_LIST = re.compile(r"\s*\[\s*(\"|\])")  # a text that opens a JSON list of strings, or the empty list


def _steps(value) -> list[str]:
    """--ws-open: a list (a namespace built in code), or one text (`chanload.locust.options.StepsText`: the
    command line's and config file's steps as a JSON list; the web UI's form: that list, or one step)."""
    if not isinstance(value, str):
        return _listed(value)
    if not value.strip():
        return []
    if not _JSON_LIST.match(value):
        return [value]
    try:
        steps = json.loads(value)
    except ValueError as exc:
        raise OptionError(
            f'--ws-open {value!r}: a text that starts with [" is read as a JSON list of steps, and this is not '
            f'valid JSON ({exc}): give ["[NAME] SEND => EXPECT", ...], each step in double quotes with \\" for a '
            'quote inside it; a step that sends a JSON array goes in the list too, ["[join] [\\"join\\", 1] => OK"]'
        ) from None
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        raise OptionError(
            f"--ws-open {value!r}: a JSON list of steps holds only strings, e.g. "
            '["[init] {\\"type\\": \\"init\\"} => OK", "[hello] hi => OK"]'
        )
    return steps


def _tokens(value) -> list[str]:
    """--ws-subprotocol: a list (a namespace built in code: each one name), or one comma-separated text
    (`chanload.locust.options.TokensText`, and the web UI's form): a name has no comma (RFC 7230 token)."""
    if not isinstance(value, str):
        return _listed(value)
    return [name.strip() for name in value.split(",")] if value.strip() else []


def host_url(host: str) -> str:
    """A host as a session takes it: http(s):// as ws(s)://, no trailing slash (OptionError if it is neither)."""
    return _host(host)


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


_SIZE = re.compile(r"\s*(\d+)\s*(|b|kib|mib|gib|kb|mb|gb)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def _size(value, option: str) -> int:
    """A size in bytes: a whole number, or with a unit (KiB, MiB, GiB; KB, MB, GB), e.g. 16MiB."""
    if isinstance(value, int):
        size = value
    else:
        found = _SIZE.fullmatch(str(value))
        if not found:
            raise OptionError(f"{option} {value!r}: expected a size in bytes, e.g. 16MiB, 1048576 or 512KiB")
        size = int(found.group(1)) * _UNITS[found.group(2).lower()]
    if size < 125:
        raise OptionError(f"{option} {value!r}: must be at least 125 bytes (a control frame's largest payload)")
    return size


def _ca_file(path: str | None) -> str | None:
    """A PEM file of CA certificates, checked now: it must exist and load."""
    if path is None:
        return None
    import ssl

    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise OptionError(
            f"--ws-ca-file {path!r}: no such file; give the PEM file of the CA that signed the server's certificate"
        ) from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise OptionError(f"--ws-ca-file {path!r}: not a PEM file of CA certificates ({exc})") from None
    return path


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


def _on_off(value, option: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return True
    if value not in ("on", "off"):
        raise OptionError(f"{option} {value!r}: expected 'on' or 'off'")
    return value == "on"


def _header(value: str) -> str:
    name, sep, _ = value.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise OptionError(f"--ws-header {value!r}: expected 'Name: value'")
    return value


_WATCH = re.compile(r"([A-Za-z0-9_.-]+)=(\d+)")


def _watched(values: list[str]) -> tuple[tuple[str, int], ...]:
    """--watch NAME=PID values, parsed; whether each PID runs is checked when the watch opens."""
    watched: dict[str, int] = {}
    for value in values:
        found = _WATCH.fullmatch(value.strip())
        if not found or int(found.group(2)) <= 0:
            raise OptionError(
                f"--watch {value!r}: expected NAME=PID, a name of letters, digits, '.', '_' or '-' and a process id, "
                "e.g. --watch daphne=12345"
            )
        name = found.group(1)
        if name in watched:
            raise OptionError(f"--watch {value!r}: the name {name!r} is given twice; give each process its own name")
        watched[name] = int(found.group(2))
    return tuple(watched.items())


def _redis_url(value) -> str | None:
    if value is None:
        return None
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise OptionError(
            f"--watch-redis {url!r}: expected a Redis URL, redis://HOST:PORT/DB (rediss:// with TLS, unix:///PATH)"
        )
    return url


def _port(value, option: str) -> int:
    number = _non_negative(value, option)
    if number != int(number) or number > 65535:
        raise OptionError(f"{option} {value!r}: expected a TCP port, 1-65535 (0 turns it off)")
    return int(number)
