"""The values of the options, checked one by one: each parser returns the value or raises an `OptionError`
that names the option and says what to give. `chanload.run.settings` builds `Settings` from them.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

from chanload.conversation.groups import Groups
from chanload.exceptions import OptionError

_PATH_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
log = logging.getLogger("chanload")
_told: set[str] = set()  # --ws-groups values already described in the log (settings are read more than once)


def parse_cookie_name(value) -> str:
    name = str(value)
    if not _TOKEN.fullmatch(name):
        raise OptionError(
            f"--login-cookie {name!r}: expected a cookie name (the app's SESSION_COOKIE_NAME), e.g. sessionid"
        )
    return name


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265: a cookie name is an RFC 7230 token


def parse_groups(value) -> Groups | None:
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


def parse_at_least(value, low: float, option: str) -> float:
    number = parse_number(value, option)
    if number < low:
        raise OptionError(f"{option} {value!r}: must be at least {low:g}")
    return number


def parse_listed(value) -> list[str]:
    # From the command line or a config file: a list; from an environment variable: one string.
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


_JSON_LIST = re.compile(r"\s*\[\s*(\"|\])")  # a text that opens a JSON list of strings, or the empty list


def parse_steps(value) -> list[str]:
    """--ws-open: a list (a namespace built in code), or one text (`chanload.locust.options.StepsText`: the
    command line's and config file's steps as a JSON list; the web UI's form: that list, or one step)."""
    if not isinstance(value, str):
        return parse_listed(value)
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


def parse_tokens(value) -> list[str]:
    """--ws-subprotocol: a list (a namespace built in code: each one name), or one comma-separated text
    (`chanload.locust.options.TokensText`, and the web UI's form): a name has no comma (RFC 7230 token)."""
    if not isinstance(value, str):
        return parse_listed(value)
    return [name.strip() for name in value.split(",")] if value.strip() else []


def host_url(host: str) -> str:
    """A host as a session takes it: http(s):// as ws(s)://, no trailing slash (OptionError if it is neither)."""
    return parse_host(host)


def parse_host(host: str | None) -> str:
    if not host:
        raise OptionError("no target: pass --host ws://127.0.0.1:8000 (or set host in the config file)")
    parts = urlsplit(host)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise OptionError(f"--host {host!r}: expected ws://HOST:PORT or wss://HOST:PORT")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def parse_path(template: str) -> str | None:
    if not template:
        return None
    for match in _PATH_TOKEN.finditer(template):
        if match.group(1) != "group":
            raise OptionError(f"--ws-path {template!r}: unknown placeholder {{{match.group(1)}}}; only {{group}}")
    return template.lstrip("/")


def parse_number(value, option: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{option} {value!r}: expected a number") from None


def parse_positive(value, option: str) -> float:
    number = parse_number(value, option)
    if number <= 0:
        raise OptionError(f"{option} {value!r}: must be greater than 0")
    return number


def parse_non_negative(value, option: str) -> float:
    number = parse_number(value, option)
    if number < 0:
        raise OptionError(f"{option} {value!r}: must be 0 or more")
    return number


_SIZE = re.compile(r"\s*(\d+)\s*(|b|kib|mib|gib|kb|mb|gb)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def parse_size(value, option: str) -> int:
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


def parse_ca_file(path: str | None) -> str | None:
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


def parse_positive_int(value, option: str) -> int:
    number = parse_positive(value, option)
    if number != int(number):
        raise OptionError(f"{option} {value!r}: expected a whole number")
    return int(number)


def parse_think(value: str) -> tuple[float, float]:
    low, sep, high = value.partition("-")
    try:
        lo = float(low)
        hi = float(high) if sep else lo
    except ValueError:
        raise OptionError(f"--ws-think {value!r}: expected seconds as 'X' or 'LOW-HIGH', e.g. 0.5-1.5") from None
    if lo < 0 or hi < lo:
        raise OptionError(f"--ws-think {value!r}: need 0 <= LOW <= HIGH")
    return lo, hi


def parse_other(value) -> str | None:
    if value not in (None, "fail", "skip"):
        raise OptionError(f"--ws-other {value!r}: expected 'fail' or 'skip'")
    return value


def parse_on_off(value, option: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return True
    if value not in ("on", "off"):
        raise OptionError(f"{option} {value!r}: expected 'on' or 'off'")
    return value == "on"


def parse_header(value: str) -> str:
    name, sep, _ = value.partition(":")
    if not sep or not name.strip() or " " in name.strip():
        raise OptionError(f"--ws-header {value!r}: expected 'Name: value'")
    return value


_WATCH = re.compile(r"([A-Za-z0-9_.-]+)=(\d+)")


def parse_watched(values: list[str]) -> tuple[tuple[str, int], ...]:
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


def parse_redis_url(value) -> str | None:
    if value is None:
        return None
    url = str(value)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise OptionError(
            f"--watch-redis {url!r}: expected a Redis URL, redis://HOST:PORT/DB (rediss:// with TLS, unix:///PATH)"
        )
    return url


def parse_port(value, option: str) -> int:
    number = parse_non_negative(value, option)
    if number != int(number) or number > 65535:
        raise OptionError(f"{option} {value!r}: expected a TCP port, 1-65535 (0 turns it off)")
    return int(number)
