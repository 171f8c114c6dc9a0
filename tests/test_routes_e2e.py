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


PAGE = ROOT / "docs" / "start-from-your-app.md"


HAR_SECTION = "## From a browser recording: har"  # its blocks are tests/discover/test_har_e2e.py's


def _sh_blocks_and_outputs(page: Path) -> list[tuple[str, str | None]]:
    """Each ```sh block of a page, with the plain ``` block right after it (the output the page shows), if any;
    but those of the page's `har` section."""
    text = page.read_text()
    if HAR_SECTION in text:
        start = text.index(HAR_SECTION)
        end = text.find("\n## ", start + len(HAR_SECTION))
        text = text[:start] + (text[end:] if end >= 0 else "")
    found: list[tuple[str, str | None]] = []
    for match in re.finditer(r"```sh\n(.*?)```\n(?:\n```\n(.*?)```\n)?", text, re.S):
        found.append((match.group(1), match.group(2)))
    return found


def _words(block: str) -> list[str]:
    return shlex.split(block.replace("\\\n", " "), comments=True)


def test_the_docs_routes_commands_run(tmp_path):
    """docs/start-from-your-app.md on an unmodified startproject + the tutorial's chat, as written: `routes` reads
    its one route (pattern, middleware, the options it prints), the output the page shows, and its two runs: the
    first is the printed options with IdleUser, the load every other route of these tests gets."""
    project = tutorial_project(tmp_path)
    blocks = _sh_blocks_and_outputs(PAGE)
    assert [_words(b)[:4] for b, _ in blocks] == [
        ["python", "-m", "chanload", "routes"], ["python", "-m", "chanload", "routes"],
        ["locust", "-f", "loadtests/ws.py", "IdleUser"], ["locust", "-f", "loadtests/ws.py", "--host"],
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "loadtests")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for block, shown in blocks[:2]:
        done = subprocess.run([sys.executable, *_words(block)[1:]], cwd=project, env=env, capture_output=True,
                              text=True, timeout=60 * UNIT)  # fmt: skip
        assert done.returncode == 0, done.stderr
        if "--json" in block:
            [route] = json.loads(done.stdout)["routes"]
            assert route["pattern"] == r"ws/chat/(?P<room_name>\w+)/$"
            assert route["options"] == ["--ws-path", "ws/chat/{group}/", "--ws-groups", "g0-g9"]
            assert [m["name"] for m in route["middleware"]] == ["AllowedHostsOriginValidator", "AuthMiddlewareStack"]
        else:
            assert shown is not None and done.stdout.strip() == shown.strip(), done.stdout
    served = {**os.environ, "DJANGO_SETTINGS_MODULE": "mysite.settings", "PYTHONPATH": str(project)}
    with daphne("mysite.asgi:application", cwd=project, env=served) as server:
        for n, (block, _) in enumerate(blocks[2:]):
            words = _words(block)
            assert words[words.index("--host") + 1] == "ws://127.0.0.1:8000" and words[words.index("-t") + 1] == "30s"
            assert n > 0 or words[-len(route["options"]) :] == route["options"], words  # IdleUser + the printed options
            words[words.index("--host") + 1] = server.ws_url
            words[words.index("-t") + 1] = "3s"
            report = tmp_path / f"run{n}"
            done = subprocess.run([sys.executable, "-m", *words, "--report-dir", str(report), "--ws-png-charts", "off"],
                                  cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)  # fmt: skip
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
            rows = json.loads((report / "summary.json").read_text())["latency"]
            assert rows and all(r["failures"] == 0 for r in rows), rows
            assert sum(r["count"] for r in rows if r["type"] == "WS connect") >= 10, rows  # -u 10
            messages = sum(r["count"] for r in rows if r["type"] == "WS message")
            assert (messages > 0) == ("--ws-payload" in words), rows


def test_the_readme_routes_command_runs():
    """The README's tour: `routes` on the target, from the repository root as the tour runs it."""
    [block] = [b for b, _ in _sh_blocks_and_outputs(ROOT / "README.md") if "chanload routes" in b]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "loadtests"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(["bash", "-c", block], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * UNIT)
    assert done.returncode == 0, done.stderr
    assert "options     --ws-path 'room/{group}' --ws-groups g0-g9" in done.stdout, done.stdout
