"""Logins by options (--login-url, --credentials): a Django LoginView app with a join command and a relay.

tests/apps/foreign under Daphne: Django's own LoginView at accounts/login/ (a CSRF-protected form, a 302
with the session cookie), and ws/lobby/ behind AuthMiddlewareStack, in the Channels multichat shape:
`{"command": "join", "room": 1}` answered `{"join": "1"}`, then messages relayed to the room with the
username, the sender included. Run by options alone, no Python.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chanload.wire.login import HttpTarget, form_login
from tests.locustrun import run_locust
from tests.servers import django_admin, foreign_app
from tests.test_third_party_apps import (
    FLOOR_US,
    MAX_RAW,
    ROUNDS,
    RUN_TIME,
    THINK_S,
    TOLERANCE,
    RawClient,
    RawConnection,
    Sample,
    _epoch,
    _until,
)

pytestmark = pytest.mark.e2e

LOBBY = [
    "ChatUser", "--ws-path", "ws/lobby/", "--ws-groups", "1-3", "--login-url", "/accounts/login/",
    "--ws-open", '[join] {"command": "join", "room": {group}} => json:{"join": "{group}"}',
    "--ws-payload", '{"command": "send", "room": {group}, "message": "{mark}"}', "--ws-expect", "own",
    "--ws-think", "0.1-0.2",
]  # fmt: skip


@pytest.fixture(scope="module")
def foreign():
    with foreign_app() as server:
        yield server


@pytest.fixture(scope="module")
def accounts(foreign):
    """Four users in the app's database, with random passwords."""
    users = [(f"lobby{i}", "pw-" + secrets.token_urlsafe(12)) for i in range(4)]
    django_admin(foreign.env, "shell", "-c", "from django.contrib.auth.models import User\n" + "".join(
        f"User.objects.create_user({name!r}, password={password!r})\n" for name, password in users
    ))  # fmt: skip
    return users


def credentials(tmp_path, users) -> str:
    path = tmp_path / "users.csv"
    with open(path, "w", newline="") as f:
        f.write("# the lobby's accounts\n")
        csv.writer(f).writerows([("username", "password"), *users])
    return str(path)


def session_keys(foreign) -> list[str]:
    """Every session key the app has handed out: the values of the sessionid cookies."""
    out = django_admin(foreign.env, "shell", "-c", (
        "from django.contrib.sessions.models import Session\n"
        "print('\\n'.join(Session.objects.values_list('session_key', flat=True)))"
    ))  # fmt: skip
    return re.findall(r"^[a-z0-9]{32}$", out, re.M)  # Django's session keys, not the shell's own notes


def test_a_login_chat_by_options_logs_each_user_in_joins_and_talks(tmp_path, foreign, accounts):
    """One HTTP login row per user, ok; the join step, the round trips to the own copy and the deliveries all ok."""
    run = run_locust(tmp_path, foreign.ws_url, *LOBBY, "--credentials", credentials(tmp_path, accounts),
                     users=4, run_time="4s")  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert "Traceback" not in run.output
    login = run.row("HTTP login", "/accounts/login/")
    assert login["count"] == 4 and login["failures"] == 0 and login["p50"] > 0
    assert run.row("WS message", "join")["count"] == 4
    message = run.row("WS message", "ws/lobby/")
    assert message["count"] > 20 and message["failures"] == 0
    assert run.row("WS delivery", "ws/lobby/")["count"] > 0
    counters = run.summary["counters"]
    assert counters["connects"] == 4 and counters["failure_kinds"] == {} and counters["reconciles"]
    assert run.stats()[("HTTP login", "/accounts/login/")]["num_requests"] == 4  # Locust's own table has it too
    params = run.summary["parameters"]
    assert params["login_url"] == "/accounts/login/" and params["login_cookie"] == "sessionid"
    assert params["credentials"]["accounts"] == 4


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "ws-trace"])
def test_no_secret_reaches_the_output_or_any_artifact(tmp_path, foreign, accounts, trace):
    """Passwords and the session cookies the app handed out: in no log line, trace, report, CSV or summary.json."""
    extra, users = (["--ws-trace"], 1) if trace else ([], 4)
    run = run_locust(tmp_path, foreign.ws_url, *LOBBY, "--credentials", credentials(tmp_path, accounts),
                     "--loglevel", "DEBUG", *extra, users=users, run_time="3s")  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    if trace:  # the trace did print the login, the handshake and the frames it must mask
        assert "/accounts/login/ accepted in" in run.output and "cookies csrftoken, sessionid" in run.output
        assert "> Cookie: ***" in run.output and "opening step join reply" in run.output, run.output[-3000:]
    keys = session_keys(foreign)
    assert len(keys) >= users
    assert_no_secret(tmp_path, run, [password for _, password in accounts] + keys)


def assert_no_secret(tmp_path, run, secrets_: list[str]) -> None:
    """None of `secrets_` in the run's output, nor in any file it wrote (reports, CSVs, summary.json)."""
    texts = {"output": run.output}
    texts |= {str(p): p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".csv"}
    texts |= {str(p): p.read_text(errors="replace") for p in tmp_path.glob("stats*.csv")}
    assert any("summary.json" in name for name in texts) and any(name.endswith(".html") for name in texts)
    for secret in secrets_:
        leaked = [name for name, text in texts.items() if secret in text]
        assert not leaked, f"a secret leaked into {leaked}"


def api_lobby_user() -> str:
    """docs/writing-users.md's token example (ApiLobbyUser: DRF's obtain_auth_token, the token in a header)."""
    page = (Path(__file__).parents[1] / "docs" / "writing-users.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "class ApiLobbyUser" in b]
    return block


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "ws-trace"])
def test_no_token_reaches_the_output_or_any_artifact(tmp_path, foreign, accounts, trace):
    """The docs' token user: the DRF tokens the app handed out, and the passwords, are nowhere in what a run writes."""
    locustfile = tmp_path / "api_lobby.py"
    locustfile.write_text(api_lobby_user())
    extra, users = (["--ws-trace"], 1) if trace else ([], 4)
    run = run_locust(tmp_path, foreign.ws_url, "--credentials", credentials(tmp_path, accounts), "--loglevel",
                     "DEBUG", *extra, users=users, run_time="3s", locustfile=locustfile)  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "talk")["count"] > 0 and run.row("HTTP login", "/api-token-auth/")["count"] == users
    if trace:  # the trace printed the login that got the token, and the handshakes that carried it
        assert "/api-token-auth/ accepted in" in run.output and "a token in the Authorization header" in run.output
    tokens = re.findall(r"^[0-9a-f]{40}$", django_admin(foreign.env, "shell", "-c", (
        "from rest_framework.authtoken.models import Token\n"
        "print('\\n'.join(Token.objects.values_list('key', flat=True)))"
    )), re.M)  # fmt: skip
    assert len(tokens) >= users
    assert_no_secret(tmp_path, run, [password for _, password in accounts] + tokens)


def test_a_wrong_password_is_a_refused_login_and_no_websocket_traffic(tmp_path, foreign, accounts):
    """Every login refused: counted as `login refused`, retried after a pause, and not one handshake or message."""
    wrong = [(name, password + "-wrong") for name, password in accounts[:2]]
    run = run_locust(tmp_path, foreign.ws_url, *LOBBY, "--credentials", credentials(tmp_path, wrong),
                     users=2, run_time="3s")  # fmt: skip
    assert run.code == 1, run.output[-3000:]
    login = run.row("HTTP login", "/accounts/login/")
    assert login["count"] == 0 and 2 <= login["failures"] <= 2 * 5  # a pause of 1 s between tries, not a hot loop
    counters = run.summary["counters"]
    assert counters["failure_kinds"] == {"login refused": login["failures"]}
    assert counters["connects"] == counters["connect_failures"] == counters["sent"] == 0
    assert {r["type"] for r in run.summary["latency"]} == {"HTTP login"}
    (failure,) = run.failures()
    assert failure["Method"] == "HTTP login" and failure["Error"].startswith(
        "login refused: POST /accounts/login/ answered 200 without setting the sessionid cookie"
    )
    assert not any(password in run.output for _, password in wrong)


def test_a_login_threshold_gates_the_login_row(tmp_path, foreign, accounts):
    """`login` is a threshold metric: the HTTP login row, judged like any other."""
    run = run_locust(tmp_path, foreign.ws_url, *LOBBY, "--credentials", credentials(tmp_path, accounts),
                     "--slo", "login:count>=2", "--slo", "login:max<1us", users=2, run_time="2s")  # fmt: skip
    judged = {t["expr"]: t for t in run.summary["thresholds"]}
    assert judged["login:count>=2"]["passed"] and judged["login:count>=2"]["value"] == 2
    assert not judged["login:max<1us"]["passed"]
    assert run.code == 3


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--login-url", "/accounts/login/"], "--login-url /accounts/login/: give --credentials FILE too"),
        (["--credentials", "{creds}"], "RoomUser has no login to use them for: give --login-url PATH"),
        (["--login-url", "/accounts/login/", "--credentials", "{missing}"], "cannot read it"),
    ],
)
def test_login_options_that_cannot_run_stop_before_any_load(tmp_path, foreign, args, expected):
    creds = tmp_path / "ok.csv"
    creds.write_text("alice,pw\n")
    args = [a.format(creds=creds, missing=tmp_path / "missing.csv") for a in args]
    run = run_locust(tmp_path, foreign.ws_url, *args, users=1, run_time="2s")
    assert run.code == 2 and expected in run.output, run.output[-2000:]
    assert not run.report_dir.exists()


# p50 against a raw single-connection client (tests/test_third_party_apps.py has the client and the method)

RAW_ROOM = 99  # the raw client talks alone in a room of its own, chanload's user in rooms 1-3


def raw_lobby(url: str, cookies: dict[str, str]) -> Iterator[Sample]:
    """join, then send round trips to the own copy relayed back, on one connection carrying the login's cookies."""
    ws = RawConnection(url, "ws/lobby/", [], {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    try:
        ws.send(json.dumps({"command": "join", "room": RAW_ROOM}))
        assert json.loads(ws.recv()[0]) == {"join": str(RAW_ROOM)}
        for seq in range(1, MAX_RAW + 1):
            mark = f"raw-{seq}"
            sent_at = ws.send(json.dumps({"command": "send", "room": RAW_ROOM, "message": mark}))
            reply, stamp, in_hand = _until(ws, lambda f, m=mark: f.get("message") == m)
            yield sent_at, (stamp - sent_at) / 1000, (in_hand - sent_at) / 1000
            assert reply["room"] == str(RAW_ROOM), reply
            time.sleep(THINK_S)
    finally:
        ws.close()


@pytest.mark.timing
def test_p50_agrees_with_a_raw_single_connection_client(tmp_path, foreign, accounts):
    """chanload -u 1 by options (login, join, relay) and a raw `websockets` client side by side: p50 within 10%, or
    0.1 ms on these sub-millisecond round trips (tests/test_third_party_apps.py, FLOOR_US, says why)."""
    name, password = accounts[0]
    cookies = form_login(HttpTarget(foreign.ws_url), "/accounts/login/", *accounts[1])
    creds = credentials(tmp_path, [(name, password)])
    raw_p50s, chanload_p50s = [], []
    for i in range(ROUNDS):
        (round_dir := tmp_path / f"round{i}").mkdir()
        client = RawClient(lambda url: raw_lobby(url, cookies), foreign.ws_url)
        client.start()
        try:
            run = run_locust(round_dir, foreign.ws_url, *LOBBY, "--credentials", creds, "--ws-think", str(THINK_S),
                             users=1, run_time=RUN_TIME)  # fmt: skip
        finally:
            client.stopping.set()
        assert run.code == 0, run.output[-3000:]
        message = run.row("WS message", "ws/lobby/")
        assert message["count"] > 100 and message["failures"] == 0, message
        chanload_p50s.append(message["p50"])
        raw_p50s.append(client.p50s_within(_epoch(run.summary["started"]), _epoch(run.summary["ended"]))[0])
    ratio = statistics.median(c / r for c, r in zip(chanload_p50s, raw_p50s, strict=True))
    allowed = max(TOLERANCE, FLOOR_US / statistics.median(raw_p50s))  # why: tests/test_third_party_apps.py
    assert abs(ratio - 1) <= allowed, (
        f"p50 chanload / raw client: {ratio:.3f} (allowed 1 +- {allowed:.3f}); "
        f"rounds (us): chanload {[round(p) for p in chanload_p50s]}, raw {[round(p) for p in raw_p50s]}"
    )
