"""Real recordings turned into loads: Chromium talks to tests/apps/foreign through mitmdump, whose HAR
`python -m chanload har` converts; the config file (or the `--python` locustfile) then runs against the same
app, headless, with zero failures and a row per step.

Shapes: a JSON request/reply by id (DCRF's request_id; the price feed's quote ids among ticks, two sockets of one
recording chosen by --url), an opening step and a subprotocol (strawberry's graphql-transport-ws), a chat that
needs a login (Django's LoginView, the session cookie on the upgrade), and two kinds of message taking turns
(options cannot say it: --python). No cookie, token or password of a recording reaches the output.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.discover.recorder import CHROMIUM, SCRIPTS, browse, login_form, mitmdump, mitmdump_path
from tests.locustrun import run_locust
from tests.servers import ROOT, UNIT, django_admin, foreign_app

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not at /usr/bin/chromium"),
    pytest.mark.skipif(mitmdump_path() is None, reason="no mitmdump: make deps-mitmproxy"),
]

USER = "alice"
TICK_S = "0.05"  # the price feed's ticks: pushes among the quotes' replies


def chanload_har(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chanload", "har", *args], cwd=cwd, capture_output=True, text=True, timeout=60 * UNIT
    )


@pytest.fixture(scope="module")
def app():
    with foreign_app({"FOREIGN_TICK_INTERVAL": TICK_S}) as server:
        server.password = "pw-" + secrets.token_urlsafe(16)  # type: ignore[attr-defined]
        django_admin(server.env, "shell", "-c", (
            "from django.contrib.auth.models import User\n"
            f"User.objects.create_user({USER!r}, password={server.password!r})"  # type: ignore[attr-defined]
        ))  # fmt: skip
        yield server


@pytest.fixture(scope="module")
def recordings(app, tmp_path_factory) -> dict[str, Path]:
    """One HAR per page script, each recorded through mitmdump from a real Chromium."""
    folder = tmp_path_factory.mktemp("recordings")
    hars = {}
    for name, script in SCRIPTS.items():
        har = folder / f"{name}.har"
        with mitmdump(har) as proxy:
            before = None
            if name == "lobby":
                before = lambda page: login_form(page, f"{app.http_url}/accounts/login/", USER, app.password)  # noqa: E731
            page = f"{app.http_url}/accounts/login/"
            assert browse(page, script, proxy=proxy, before=before, arg=[USER, app.password]) == "done"
        hars[name] = har
    return hars


def websocket_entries(har: Path) -> list[dict]:
    return [e for e in json.loads(har.read_text())["log"]["entries"] if e.get("_resourceType") == "websocket"]


def assert_clean(run, rows: list[tuple[str, str]]) -> None:
    assert run.code == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    assert run.failures() == [], run.failures()
    for kind, name in rows:
        row = run.row(kind, name)
        assert row["count"] > 0 and row["failures"] == 0, (kind, name, row)


@pytest.mark.parametrize(
    ("url", "rows", "lines"),
    [
        (
            "items",
            [("WS message", "ws/api/items/")],
            ['ws-payload = {"action": "retrieve", "pk": 1, "request_id": {seq}}',
             'ws-match = json:{"request_id": {seq}, "action": "retrieve"}'],
        ),
        (
            "prices",
            [("WS message", "subscribe"), ("WS message", "ws/prices/[group]/")],
            ["ws-path = ws/prices/{group}/", "ws-groups = 7-7", 'ws-match = json:{"id": {seq}, "op": "price"}',
             "ws-other = skip"],
        ),
    ],
)  # fmt: skip
def test_ids_among_pushes_recorded_by_mitmproxy_run_as_recorded(app, recordings, tmp_path, url, rows, lines):
    """Two websocket entries in one recording: --url picks each; the reply is the frame carrying the id."""
    har = recordings["ids"]
    assert len(websocket_entries(har)) == 2
    assert "choose one with --url" in chanload_har(str(har), cwd=tmp_path).stderr
    done = chanload_har(str(har), "--url", url, "-o", "run.conf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "run.conf").read_text()
    for line in lines:
        assert line + "\n" in conf, conf
    assert f"host = {app.ws_url}\n" in conf
    run = run_locust(tmp_path, app.ws_url, "--config", str(tmp_path / "run.conf"), users=3, run_time="3s")
    assert_clean(run, rows)
    if url == "prices":
        assert run.summary["counters"]["other_frames"] > 0  # the ticks among the replies, skipped and counted


def test_graphql_transport_ws_recorded_has_its_subprotocol_and_opening_steps(app, recordings, tmp_path):
    done = chanload_har(str(recordings["graphql"]), "-o", "run.conf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "run.conf").read_text()
    assert 'ws-subprotocol = ["graphql-transport-ws"]\n' in conf
    opening = json.loads(conf.split("ws-open = ", 1)[1].splitlines()[0])
    assert opening == [
        '[connection_init] {"type": "connection_init"} => json:{"type": "connection_ack"}',
        '[subscribe] {"id": "sub", "type": "subscribe", "payload": {"query": "subscription { count }"}}'
        ' => json:{"id": "sub", "type": "next"}',
    ]
    assert 'ws-expect = json:{"payload": {"data": {"hello": "world"}}}\n' in conf  # the stable part, not the id
    run = run_locust(tmp_path, app.ws_url, "--config", str(tmp_path / "run.conf"), users=3, run_time="3s")
    assert_clean(run, [("WS message", "connection_init"), ("WS message", "subscribe"), ("WS message", "ws/graphql/")])


def recorded_secrets(har: Path, password: str) -> set[str]:
    """The password, and every cookie value the recording holds (the session's, the CSRF token's)."""
    found = {password}
    for entry in json.loads(har.read_text())["log"]["entries"]:
        for part in (entry["request"], entry["response"]):
            found |= {c["value"] for c in part.get("cookies", []) if len(c["value"]) >= 8}
        for param in (entry["request"].get("postData") or {}).get("params", []):
            if param["name"] in ("password", "csrfmiddlewaretoken"):
                found.add(param["value"])
    return found


def test_a_login_chat_recorded_logs_in_by_options_and_no_secret_leaks(app, recordings, tmp_path):
    har = recordings["lobby"]
    secret_values = recorded_secrets(har, app.password)
    assert len(secret_values) >= 3  # the password, the session cookie, the CSRF token at least
    (socket,) = websocket_entries(har)
    cookie = next(h["value"] for h in socket["request"]["headers"] if h["name"].lower() == "cookie")
    assert "sessionid=" in cookie  # the upgrade carried the session the form login set
    done = chanload_har(str(har), "-o", "run.conf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "run.conf").read_text()
    assert "login-url = /accounts/login/\n" in conf and "credentials = users.csv\n" in conf
    assert 'ws-payload = {"command": "send", "room": 1, "message": "{mark}"}\n' in conf
    assert "ws-expect = own\n" in conf
    (tmp_path / "users.csv").write_text(f"username,password\n{USER},{app.password}\n")
    run = run_locust(tmp_path, app.ws_url, "--config", str(tmp_path / "run.conf"), "--credentials",
                     str(tmp_path / "users.csv"), users=2, run_time="3s")  # fmt: skip
    assert_clean(run, [("HTTP login", "/accounts/login/"), ("WS message", "join"), ("WS message", "ws/lobby/")])
    shown = conf + done.stdout + done.stderr + run.output
    assert not [s for s in secret_values if s in shown]
    python = chanload_har(str(har), "--python", "loadfile.py", cwd=tmp_path)
    assert python.returncode == 0, python.stderr
    assert not [s for s in secret_values if s in (tmp_path / "loadfile.py").read_text() + python.stderr]


def test_a_token_login_recorded_becomes_a_python_user_that_logs_in_for_its_token(app, recordings, tmp_path):
    """DRF's token endpoint, the token in the lobby's query string: options cannot log in for a token, so the
    config says so with the line to fill in, and --python writes a user whose log_in takes one per account."""
    har = recordings["token"]
    secret_values = recorded_secrets(har, app.password)
    (socket,) = websocket_entries(har)
    token = socket["request"]["url"].split("token=", 1)[1]
    secret_values.add(token)
    done = chanload_har(str(har), "-o", "run.conf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "run.conf").read_text()
    assert "ws-path = ws/api/lobby/\n" in conf and "# ws-path = ws/api/lobby/?token=FILL_IN\n" in conf
    assert "logged in at /api-token-auth/ for a token" in conf and "--python" in done.stderr
    python = chanload_har(str(har), "--python", "loadfile.py", cwd=tmp_path)
    assert python.returncode == 0, python.stderr
    source = (tmp_path / "loadfile.py").read_text()
    assert "login_url = '/api-token-auth/'" in source
    assert (
        "self.ws.login_token(url, {'username': username, 'password': password}, field='token', query='token'" in source
    )
    shown = conf + done.stdout + done.stderr + source + python.stderr
    assert not [s for s in secret_values if s in shown]
    (tmp_path / "users.csv").write_text(f"{USER},{app.password}\n")
    run = run_locust(tmp_path, app.ws_url, "--credentials", str(tmp_path / "users.csv"), users=2, run_time="3s",
                     locustfile=tmp_path / "loadfile.py")  # fmt: skip
    assert_clean(run, [("HTTP login", "/api-token-auth/"), ("WS message", "join"), ("WS message", "send")])
    assert not [s for s in secret_values if s in run.output]


def test_messages_taking_turns_point_to_python_and_its_locustfile_runs(app, recordings, tmp_path):
    har = recordings["turns"]
    refused = chanload_har(str(har), "-o", "run.conf", cwd=tmp_path)
    assert refused.returncode == 2 and not (tmp_path / "run.conf").exists()
    assert "several kinds of message taking turns (subscribe, quote)" in refused.stderr
    assert f"python -m chanload har {har} --python loadfile.py" in refused.stderr
    done = chanload_har(str(har), "--python", "loadfile.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "loadfile.py").read_text()
    assert "class RecordedUser(WsUser):" in source and "{choice:ACME|GLOBX}" in source
    run = run_locust(tmp_path, app.ws_url, users=3, run_time="3s", locustfile=tmp_path / "loadfile.py")
    assert_clean(run, [("WS message", "subscribe"), ("WS message", "quote")])


def test_a_recording_with_no_websocket_entry_is_refused(recordings, tmp_path):
    doc = json.loads(recordings["lobby"].read_text())
    doc["log"]["entries"] = [e for e in doc["log"]["entries"] if e.get("_resourceType") != "websocket"]
    (tmp_path / "http-only.har").write_text(json.dumps(doc))
    done = chanload_har("http-only.har", cwd=tmp_path)
    assert done.returncode == 2
    assert "no websocket entry among its" in done.stderr and "hardump" in done.stderr


def test_the_docs_har_commands_run(app, recordings, tmp_path):
    """docs/start-from-your-app.md's har blocks, run as written: the first on a recording of the login chat, the
    second (--python) on one of messages taking turns, the case it is shown for."""
    page = (ROOT / "docs" / "start-from-your-app.md").read_text()
    section = page[page.index("## From a browser recording: har") :]
    section = section[: section.find("\n## ", 3)] if "\n## " in section[3:] else section  # up to the next section
    blocks = [b.split("```", 1)[0] for b in section.split("```sh\n")[1:]]
    assert len(blocks) == 2, blocks
    (tmp_path / "users.csv").write_text(f"username,password\n{USER},{app.password}\n")
    loadtests = tmp_path / "loadtests"
    loadtests.symlink_to(ROOT / "loadtests")
    ran = 0
    for block, recording in zip(blocks, ("lobby", "turns"), strict=True):
        (tmp_path / "recording.har").write_bytes(recordings[recording].read_bytes())
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            command = line.replace("-t 1m", "-t 3s").replace("-u 10 -r 10", "-u 2 -r 2")
            if command.startswith("locust "):
                command = f"{sys.executable} -m {command} --only-summary"
            elif command.startswith("python "):
                command = sys.executable + command[len("python") :]
            done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=90 * UNIT)  # fmt: skip
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
            assert "Traceback" not in done.stderr, done.stderr[-3000:]
            ran += 1
    assert ran >= 3
