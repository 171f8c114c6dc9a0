"""`python -m chanload routes` on real apps, and a short load on every path it prints, with the options it prints.

The reference target, tests/apps/foreign (the tutorial's chat, quotes by id, a private room, a login lobby, a
token lobby, strawberry's GraphQL, a djangochannelsrestframework API) and the Channels tutorial on an
unmodified `startproject` (tests/templates/tutorial/): each app's routes are listed from its own folder with
its own settings, then each route that got options is loaded for a few seconds under Daphne, zero failures.
A route whose options carry a payload runs the default user (RoomUser: a message, its reply); the others run
IdleUser, which connects (opening steps and all) and holds the connection: the path, the rooms, the
subprotocol and the middleware in front all have to agree for that to pass. The login a route asks for
(`login`: --login-url and --credentials FILE) is given with accounts made in the app; the token lobby, which
reads a token itself, gets one in a header.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.locustrun import run_locust
from tests.servers import APPS_DIR, ROOT, TARGET_DIR, UNIT, daphne, django_admin, foreign_app
from tests.userproject import tutorial_project

pytestmark = pytest.mark.e2e


def routes(cwd: Path, settings: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """The routes command's JSON and text, run from the app's folder with its settings."""
    base = {**os.environ, **(env or {})}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT / "loadtests"), str(cwd)])  # chanload, and the app's own folder
    outputs = []
    for extra in (["--json"], []):
        done = subprocess.run(
            [sys.executable, "-m", "chanload", "routes", "--settings", settings, *extra],
            cwd=cwd, env=base, capture_output=True, text=True, timeout=60 * UNIT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    return json.loads(outputs[0]), outputs[1]


def load(tmp_path: Path, host: str, route: dict, *extra: str) -> None:
    """A 3 s load of 3 users on one route with its printed options (and `extra`): connects, no failure."""
    options = route["options"]
    user = [] if "--ws-payload" in options else ["IdleUser"]
    folder = tmp_path / re.sub(r"\W+", "_", options[1])
    folder.mkdir()
    run = run_locust(folder, host, *user, *options, *extra, "--ws-think", "0.1-0.2", users=3, run_time="3s")
    assert run.code == 0, f"{shlex.join(options)}\n{run.output[-4000:]}"
    rows = run.summary["latency"]
    connects = [r for r in rows if r["type"] == "WS connect"]
    assert connects and sum(r["count"] for r in connects) >= 3, (options, rows)
    assert all(r["failures"] == 0 for r in rows), (options, rows)
    if user == []:
        assert any(r["type"] == "WS message" and r["count"] > 0 for r in rows), (options, rows)


def printed(route: dict, text: str) -> None:
    """The text listing shows the same options, shell-quoted, ready to paste."""
    assert f"options     {shlex.join(route['options'])}" in text, text


def test_every_route_of_the_target_loads_with_its_printed_options(tmp_path, target):
    data, text = routes(TARGET_DIR, "chatroom.settings")
    loaded = [r for r in data["routes"] if r["options"]]
    assert [r["options"][1] for r in loaded] == ["room/{group}", "aroom/{group}", "chat/{group}", "achat/{group}"]
    assert [r["pattern"] for r in data["routes"] if not r["options"]] == [""]  # the catch-all, refusing by design
    for route in loaded:
        printed(route, text)
        load(tmp_path, target.ws_url, route)


def _accounts(env: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    """Two users in the foreign app's database: a credentials file for them, and a DRF token of the first."""
    users = [(f"routes{i}", "pw-" + secrets.token_urlsafe(12)) for i in range(2)]
    out = django_admin(env, "shell", "-c", (
        "from django.contrib.auth.models import User\nfrom rest_framework.authtoken.models import Token\n"
        + "".join(f"User.objects.create_user({n!r}, password={p!r})\n" for n, p in users)
        + f"print(Token.objects.create(user=User.objects.get(username={users[0][0]!r})).key)\n"
    ))  # fmt: skip
    [token] = re.findall(r"^[0-9a-f]{40}$", out, re.M)
    path = tmp_path / "users.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(users)
    return str(path), token


def test_every_route_of_the_foreign_app_loads_with_its_printed_options(tmp_path):
    with foreign_app() as foreign:
        assert foreign.env is not None
        data, text = routes(APPS_DIR, "foreign.settings", foreign.env)
        found = {r["options"][1]: r for r in data["routes"] if r["options"]}
        assert list(found) == [
            "ws/chat/{group}/", "ws/prices/{group}/", "ws/private/{group}/", "ws/lobby/", "ws/api/lobby/",
            "ws/graphql", "ws/api/items/",
        ]  # fmt: skip
        consumers = {path: r["consumer"] for path, r in found.items()}
        assert consumers["ws/graphql"]["api"] == "strawberry GraphQL"
        assert consumers["ws/graphql"]["subprotocols"][0] == "graphql-transport-ws"
        assert consumers["ws/api/items/"]["api"] == "djangochannelsrestframework"
        assert consumers["ws/chat/{group}/"]["class"] == "foreign.consumers.ChatConsumer"
        assert all(r["auth"] and r["origin"] for r in found.values())
        logins = {path for path, r in found.items() if r.get("login")}
        assert logins == {"ws/private/{group}/", "ws/lobby/"}
        credentials, token = _accounts(foreign.env, tmp_path)
        for path, route in found.items():
            printed(route, text)
            extra: list[str] = []
            if route.get("login"):
                extra = [credentials if arg == "FILE" else arg for arg in route["login"]]
            elif path == "ws/api/lobby/":
                extra = ["--ws-header", f"Authorization: Token {token}"]
            load(tmp_path, foreign.ws_url, route, *extra)


def test_the_tutorial_chat_on_startproject_loads_with_its_printed_options(tmp_path):
    project = tutorial_project(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mysite.settings"}
    data, text = routes(project, "mysite.settings")
    [route] = data["routes"]
    assert route["pattern"] == r"ws/chat/(?P<room_name>\w+)/$"
    assert route["options"] == ["--ws-path", "ws/chat/{group}/", "--ws-groups", "g0-g9"]
    assert [m["name"] for m in route["middleware"]] == ["AllowedHostsOriginValidator", "AuthMiddlewareStack"]
    printed(route, text)
    env["PYTHONPATH"] = str(project)
    with daphne("mysite.asgi:application", cwd=project, env=env) as server:
        load(tmp_path, server.ws_url, route)
