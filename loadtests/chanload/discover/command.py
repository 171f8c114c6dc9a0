"""`python -m chanload routes [module:application] [--settings MODULE] [--json]`: an app's websocket routes.

The application is imported from the current folder (as `daphne module:application` would), by default the
settings' ASGI_APPLICATION (DJANGO_SETTINGS_MODULE, or --settings). Each websocket route is listed with its
pattern, parameters, consumer, the middleware in front of it and ready `--ws-*` options; `--json` gives the
same as data. Exit code 0 once listed (a route it cannot read is listed with the reason), 2 when the
application cannot be found or imported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
from typing import Any

from chanload.discover import consumers, paths
from chanload.discover.routes import Route, Walk, walk

ORIGIN = "channels.security.websocket.OriginValidator"
STACKS = {  # Channels' stacks, as the classes they build, outermost first
    ("CookieMiddleware", "SessionMiddleware", "AuthMiddleware"): "AuthMiddlewareStack",
    ("CookieMiddleware", "SessionMiddleware"): "SessionMiddlewareStack",
}


class Refused(Exception):
    """The application cannot be found or imported: the message says what to give."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chanload routes",
        description="List the websocket routes of a Channels app with ready --ws-path/--ws-groups options.",
    )
    parser.add_argument(
        "application", nargs="?", help="module:attr or module.attr; default: the settings' ASGI_APPLICATION"
    )
    parser.add_argument("--settings", metavar="MODULE", help="Django settings module (sets DJANGO_SETTINGS_MODULE)")
    parser.add_argument("--json", action="store_true", help="print the routes as JSON")
    return parser


def load(application: str | None) -> tuple[str, Any]:
    """The application's dotted name and the object, imported from the current folder."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if not application:
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        if not module:
            raise Refused("no application given: pass module:application, or --settings (DJANGO_SETTINGS_MODULE)")
        settings = _settings()
        application = getattr(settings, "ASGI_APPLICATION", None) if settings is not None else None
        if not application:
            raise Refused(f"the settings {module} have no ASGI_APPLICATION: pass module:application")
    name, sep, attr = application.partition(":")
    if not sep:
        name, _, attr = application.rpartition(".")
    if not name or not attr:
        raise Refused(f"{application!r}: expected module:attr or module.attr")
    try:
        obj = getattr(importlib.import_module(name), attr)
    except ModuleNotFoundError as exc:
        raise Refused(f"cannot import {name} (from {os.getcwd()}): {exc}; run it from the project's folder") from exc
    except AttributeError:
        raise Refused(f"{name} has no attribute {attr!r}") from None
    except Exception as exc:  # the app's own import failing: its own error, shown whole
        raise Refused(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc
    return f"{name}:{attr}", obj


def _settings() -> Any:
    """Django's settings, or None when Django is not installed or not configured."""
    try:
        from django.conf import settings
    except ImportError as exc:
        raise Refused("Django is not installed here: run this in the app's own environment") from exc
    try:
        settings.INSTALLED_APPS  # noqa: B018 - configures them, or says why not
    except Exception as exc:
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise Refused(f"the settings {os.environ['DJANGO_SETTINGS_MODULE']} do not load: {exc}") from exc
        return None
    return settings


def middleware(wrappers: list[Any]) -> list[dict[str, Any]]:
    """The middleware in front of a route, outermost first, Channels' stacks named as written."""
    out: list[dict[str, Any]] = []
    names = [type(w).__name__ for w in wrappers]
    i = 0
    while i < len(wrappers):
        for stack, stack_name in STACKS.items():
            if tuple(names[i : i + len(stack)]) == stack:
                auth = stack_name == "AuthMiddlewareStack"
                out.append({"name": stack_name, "auth": auth, "origin": False})
                i += len(stack)
                break
        else:
            out.append(_one(wrappers[i]))
            i += 1
    return out


def _one(wrapper: Any) -> dict[str, Any]:
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(wrapper).__mro__]
    name = type(wrapper).__name__
    if ORIGIN in mro:
        allowed = list(getattr(wrapper, "allowed_origins", []) or [])
        shown = "AllowedHostsOriginValidator" if name == "OriginValidator" and _from_allowed_hosts(allowed) else name
        return {"name": shown, "auth": False, "origin": True, "allowed_origins": [str(a) for a in allowed]}
    lowered = name.lower()
    auth = "auth" in lowered or "token" in lowered or any(n.endswith("auth.AuthMiddleware") for n in mro)
    return {"name": name, "auth": auth, "origin": False}


def _from_allowed_hosts(allowed: list[Any]) -> bool:
    """Whether these origins are what AllowedHostsOriginValidator takes from the settings (its own rule)."""
    settings = _settings()
    if settings is None:
        return False
    hosts = list(getattr(settings, "ALLOWED_HOSTS", []) or [])
    if getattr(settings, "DEBUG", False) and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    # Django's test environment (pytest-django, manage.py test) adds "testserver" once the app is built.
    return allowed == hosts or allowed == [h for h in hosts if h != "testserver"]


def describe_route(route: Route, websocket: Any) -> dict[str, Any]:
    """One route as data: what `--json` prints and the text is written from."""
    entry: dict[str, Any] = {
        "pattern": route.pattern,
        "levels": [{"kind": level.kind, "pattern": level.text} for level in route.levels],
        "params": [{"name": p.name, "converter": p.converter} for p in route.params],
        "middleware": middleware(route.middleware),
        "consumer": None,
        "unreadable": route.unreadable,
        "options": None,
        "login": None,
        "notes": [],
    }
    entry["auth"] = any(m["auth"] for m in entry["middleware"])
    entry["origin"] = any(m["origin"] for m in entry["middleware"])
    if route.unreadable is not None or route.consumer is None:
        return entry
    kind = consumers.read(route.consumer, route.initkwargs)
    entry["consumer"] = {
        "class": kind.name, "base": kind.base, "mode": kind.mode, "format": kind.format, "api": kind.api,
        "actions": kind.actions, "subprotocols": kind.subprotocols, "reads_user": kind.reads_user,
    }  # fmt: skip
    suggested = paths.suggest(route, websocket)
    entry["notes"] = [*suggested.notes, *kind.notes]
    if suggested.path is not None:
        entry["options"] = [
            "--ws-path",
            suggested.path,
            *(["--ws-groups", suggested.groups] if suggested.groups else []),
        ]
        entry["options"] += kind.options
    entry["login"] = _login(entry, kind)
    return entry


def _login(entry: dict[str, Any], kind: consumers.Kind) -> list[str] | None:
    """The login options a route behind AuthMiddlewareStack needs when its consumer reads scope["user"]."""
    if not kind.reads_user or not any(m["name"] == "AuthMiddlewareStack" for m in entry["middleware"]):
        return None
    if kind.sets_user:
        entry["notes"].append(
            "sets scope['user'] itself (from a token?): log in the way it reads (--ws-header, a query string)"
        )
        return None
    settings = _settings()
    url = str(getattr(settings, "LOGIN_URL", "") or "") if settings is not None else ""
    url = url if url.startswith("/") else "/accounts/login/"
    entry["notes"].append(f"reads scope['user'] behind AuthMiddlewareStack: log in first ({url} is LOGIN_URL)")
    return ["--login-url", url, "--credentials", "FILE"]


def report(name: str, found: Walk) -> dict[str, Any]:
    return {
        "application": name,
        "protocols": found.protocols,
        "routes": [_described(route, found.websocket) for route in found.routes],
    }


def _described(route: Route, websocket: Any) -> dict[str, Any]:
    """describe_route, or the route as unreadable with what went wrong: one odd route never stops the listing."""
    try:
        return describe_route(route, websocket)
    except Refused:
        raise
    except Exception as exc:
        route.unreadable = f"reading it failed: {type(exc).__name__}: {exc}"
        route.consumer = None
        return describe_route(route, websocket)


def render(data: dict[str, Any]) -> str:
    """The text listing."""
    routes = data["routes"]
    lines = [f"{data['application']}: {len(routes)} websocket route(s) (protocols: {', '.join(data['protocols'])})"]
    if "websocket" not in data["protocols"]:
        lines.append("  no websocket protocol in its ProtocolTypeRouter")
    for n, r in enumerate(routes, 1):
        kinds = "+".join(level["kind"] for level in r["levels"]) or "no pattern"
        lines += ["", f"{n}. {r['pattern'] or '(empty pattern)'}  [{kinds}]"]
        if r["unreadable"]:
            lines.append(f"   UNREADABLE  {r['unreadable']}")
        if r["consumer"]:
            c = r["consumer"]
            api = f"; {c['api']}" if c["api"] else ""
            lines.append(f"   consumer    {c['class']} ({c['base']}: {c['mode']}, {c['format']}{api})")
            if c["actions"]:
                lines.append(f"   actions     {', '.join(c['actions'])}")
            if c["subprotocols"]:
                lines.append(f"   speaks      {', '.join(c['subprotocols'])}")
        if r["params"]:
            lines.append(f"   params      {', '.join(p['name'] + ': ' + p['converter'] for p in r['params'])}")
        if r["middleware"]:
            lines.append(f"   behind      {', '.join(_checks(m) for m in r['middleware'])}")
        if r["options"]:
            lines.append(f"   options     {shlex.join(r['options'])}")
        if r.get("login"):
            lines.append(f"   login       {shlex.join(r['login'])}  (FILE: username,password lines)")
        lines += [f"   note        {note}" for note in r["notes"]]
    lines += [
        "",
        "Run one: locust -f loadtests/ws.py --host ws://HOST:PORT OPTIONS; a route's own messages go in --ws-payload"
        " and --ws-expect (python -m chanload --help)",
    ]
    return "\n".join(lines)


def _checks(m: dict[str, Any]) -> str:
    if m["origin"]:
        return f"{m['name']} (origin check: {', '.join(m.get('allowed_origins') or []) or 'none allowed'})"
    return f"{m['name']} (auth)" if m["auth"] else m["name"]


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    try:
        name, application = load(args.application)
        data = report(name, walk(application))
    except Refused as exc:
        sys.stderr.write(f"python -m chanload routes: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.json else render(data) + "\n")
    return 0
