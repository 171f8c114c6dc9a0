"""Checks right after Locust parses the command line, before it binds a port or starts any load.

- Unknown user class names (Locust would exit 1 later): exit 2, naming the classes there are.
- An unwritable --report-dir: found now, not after the whole run.
- Nothing listens beyond loopback without authentication: the web UI and the master's worker port
  default to 127.0.0.1 here (Locust's default is every interface). Bound wider, the web UI needs
  --web-login (or --allow-remote-web-ui, e.g. in a container whose published port is on loopback); the
  master port has no authentication at all (any process that connects as a worker
  receives every option, --ws-header values included), so it needs --allow-remote-workers.
- wss://: one TLS handshake to the host (`certificate_refusal`, from the plugin's init, once the options are
  read) with the users' trust settings: a certificate that does not verify stops the run with exit 2 and the
  CertificateRejected message, not one failure row per connection. Nothing else is judged there: a dead host
  or any other failure is left to the run, which reports it as it always has (target_unreachable, exit 5).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

import websocket
from websocket._http import _ssl_socket  # websocket-client's own TLS wrapping: the users' handshake verifies this way

from chanload.exceptions import CertificateRejected
from chanload.reporting import artifacts as report
from chanload.run.policy import EXIT_BAD_OPTION
from chanload.wire.client import tls_options

LOOPBACK = "127.0.0.1"
_done = False


def install(parser) -> None:
    """Default the web UI and master bind addresses to loopback, and check the options once parsed."""
    parser.set_defaults(web_host=LOOPBACK, master_bind_host=LOOPBACK)
    for dest, what in (("web_host", "the web interface"), ("master_bind_host", "the master's worker port")):
        for action in parser._actions:  # argparse keeps no public index by dest
            if action.dest == dest:
                action.help = (
                    f"Address {what} listens on. chanload's default: {LOOPBACK} (loopback only); "
                    "beyond loopback it needs " + ("--web-login." if dest == "web_host" else "--allow-remote-workers.")
                )
    # Locust fires no event between parsing the command line and binding its ports (or running its own
    # user class check, which exits 1): the parser's parse_args is the one place before both.
    parse_args = parser.parse_args

    def parse_and_check(*args, **kwargs):
        options = parse_args(*args, **kwargs)
        global _done
        if not _done:  # Locust parses again for the web UI's form; check the command line once
            _done = True
            errors = check(options, available_user_classes(options))
            if errors:
                for error in errors:
                    sys.stderr.write(f"chanload: error: {error}\n")
                sys.exit(EXIT_BAD_OPTION)
        return options

    parser.parse_args = parse_and_check


def check(options, available: list[str] | None) -> list[str]:
    """Every problem with the parsed options that must stop the run before it starts (empty: none)."""
    errors = []
    worker = bool(getattr(options, "worker", False))
    named = list(getattr(options, "user_classes", None) or [])
    if available is not None and (unknown := [n for n in named if n not in available]):
        errors.append(
            f"unknown user class {', '.join(unknown)}: the locustfile has {', '.join(sorted(available)) or 'none'}"
            " (names are case-sensitive)"
        )
    report_dir = str(getattr(options, "report_dir", "") or "")
    if report_dir and not worker:
        why = report.probe(report_dir)
        if why:
            errors.append(f"--report-dir {report_dir}: {why}; give a folder you can write to")
    web_host = getattr(options, "web_host", LOOPBACK)
    open_ok = getattr(options, "web_login", False) or getattr(options, "allow_remote_web_ui", False)
    if not getattr(options, "headless", False) and not worker and not open_ok:
        if not is_loopback(web_host):
            errors.append(
                f"--web-host {web_host!r} opens the web UI beyond loopback with no login: anyone who reaches"
                " the port could start a load. Add --web-login (and a login manager in the locustfile), or keep"
                f" the default {LOOPBACK} and tunnel to it (ssh -L 8089:127.0.0.1:8089 HOST); inside a container"
                " whose published port is bound to 127.0.0.1, --allow-remote-web-ui says so"
            )
    bind = getattr(options, "master_bind_host", LOOPBACK)
    if getattr(options, "master", False) and not getattr(options, "allow_remote_workers", False):
        if not is_loopback(bind):
            errors.append(
                f"--master-bind-host {bind!r} opens the master's worker port beyond loopback: workers are not"
                " authenticated, and any process that connects gets every option (--ws-header values included)."
                " On a network you trust, add --allow-remote-workers; otherwise keep the default"
                f" {LOOPBACK} and run the workers on this machine, or tunnel to it (ssh -L)"
            )
    return errors


def is_loopback(host: str | None) -> bool:
    """True if `host` (an address or a name) means only this machine's loopback interface."""
    if not host or host == "*":
        return False  # Locust binds every interface for these
    name = host.strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def available_user_classes(options) -> list[str] | None:
    """Names of the runnable user classes in the locustfile(s) Locust imported; None if they cannot be told."""
    from locust.util.load_locustfile import is_user_class  # here: the checks above stay importable without locust

    paths = [Path(p.strip()).resolve() for p in str(getattr(options, "locustfile", "") or "").split(",") if p.strip()]
    if not paths:
        return None
    found = False
    names: set[str] = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        where = Path(file).resolve()
        if any(where == p or (p.is_dir() and p in where.parents) for p in paths):
            found = True
            names.update(n for n, v in vars(module).items() if is_user_class(v))
    return sorted(names) if found else None


def certificate_refusal(host: str, ca_file: str | None, insecure: bool, timeout: float) -> str | None:
    """wss:// only: the CertificateRejected message if `host`'s certificate does not verify, else None.

    One TCP connect and TLS handshake, no HTTP request (the app sees nothing), wrapped the way websocket-client
    wraps each user's socket (the same `sslopt`, so the same CAs, SNI and host name check). Any other outcome
    (nothing listens, a timeout, a server that does not speak TLS) is None: the run meets it and reports it.
    """
    parts = urlsplit(host)
    if parts.scheme != "wss" or insecure or not parts.hostname:
        return None
    port = parts.port or 443
    server = f"[{parts.hostname}]:{port}" if ":" in parts.hostname else f"{parts.hostname}:{port}"
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    except OSError:
        return None
    try:
        sock.settimeout(timeout)
        _ssl_socket(sock, tls_options(ca_file, False) or {}, parts.hostname).close()
    except ssl.SSLCertVerificationError as exc:
        return str(CertificateRejected(server, exc.verify_message or str(exc)))
    except (OSError, websocket.WebSocketException):
        return None
    finally:
        sock.close()
    return None
