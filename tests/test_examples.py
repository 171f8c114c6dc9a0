"""Loading apps unlike ours: loadtests/examples/ and the option forms, against tests/apps/foreign under Daphne."""

from __future__ import annotations

import csv
import secrets

import pytest

from tests.locustrun import run_locust
from tests.servers import ROOT, django_admin, foreign_app

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "loadtests" / "examples"
QUOTE_DELAY_S = 0.015  # the price app's server-side delay per quote
TICK_S = 0.002  # and its push interval: a tick taken for a price would show up as ~1 ms


@pytest.fixture(scope="module")
def foreign():
    with foreign_app({"FOREIGN_QUOTE_DELAY": str(QUOTE_DELAY_S), "FOREIGN_TICK_INTERVAL": str(TICK_S)}) as server:
        yield server


def assert_clean(run) -> None:
    assert "Traceback" not in run.output, run.output[-3000:]


@pytest.mark.parametrize("user_class", [(), ("ChatUser",)], ids=["RoomUser", "ChatUser"])
def test_tutorial_chat_by_options_only_measures_round_trips_and_deliveries(tmp_path, foreign, user_class):
    """The config file loads the tutorial's relay chat: own copy ends the round trip, others' copies are deliveries."""
    conf = str(EXAMPLES / "tutorial_chat.conf")
    run = run_locust(tmp_path, foreign.ws_url, "--config", conf, *user_class, users=9, run_time="5s")
    assert run.code == (0 if all(t["passed"] for t in run.summary["thresholds"]) else 3), run.output[-3000:]
    assert_clean(run)
    message = run.row("WS message", "ws/chat/[group]/")
    delivery = run.row("WS delivery", "ws/chat/[group]/")
    assert message["count"] > 0 and message["failures"] == 0
    assert message["p50"] > 0
    counters = run.summary["counters"]
    assert counters["reconciles"] and counters["other_frames"] == 0
    rooms = run.summary["delivery"]["rooms"]
    assert set(rooms) <= {"lobby", "kitchen", "garden"} and rooms
    total = run.summary["delivery"]["total"]
    # Every delivery sample is one first arrival of another member's message: the two books agree.
    assert total["delivered"] == delivery["count"] > 0
    assert total["duplicated"] == 0 and total["ratio"] == 1.0
    # The page's thresholds: message:p99<500ms holds on a quiet machine only; the delivery and failure ratios always.
    passed = {t["expr"]: t["passed"] for t in run.summary["thresholds"]}
    assert set(passed) == {"message:p99<500ms", "delivery_ratio>=99.99%", "fail_ratio<1%"}, passed
    assert passed["delivery_ratio>=99.99%"] and passed["fail_ratio<1%"], passed


def test_json_app_round_trip_is_the_server_delay_not_the_tick_interval(tmp_path, foreign):
    """prices.py: quotes answered after 15 ms among ticks every 2 ms; named steps; custom-user counters and SLOs."""
    run = run_locust(
        tmp_path, foreign.ws_url,
        "--slo", "message@quote:p50<10s", "--slo", "message@subscribe:count>=1", "--slo", "fail_ratio<1%",
        "--slo", "rps>0",
        users=4, run_time="5s", locustfile=EXAMPLES / "prices.py",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    quote = run.row("WS message", "quote")
    assert quote["count"] > 0 and quote["failures"] == 0
    # No tick was ever taken for a price: even the fastest quote took the server's 15 ms.
    assert quote["min"] >= QUOTE_DELAY_S * 1e6, quote
    assert run.row("WS message", "subscribe")["count"] >= 4
    assert run.row("WS connect", "ws/prices/[group]/")["count"] == 4
    counters = run.summary["counters"]
    assert counters["other_frames"] > quote["count"]  # ticks skipped while prices were awaited
    assert counters["connects"] == 4 and counters["reconciles"]
    assert counters["ok"] == quote["count"] + run.row("WS message", "subscribe")["count"]
    assert [t["passed"] for t in run.summary["thresholds"]] == [True] * 4
    assert "other frames skipped" in run.output


def test_json_app_by_options_on_an_integer_route(tmp_path, foreign):
    """The quote step by options alone: LOW-HIGH groups fill an <int:room_id> route; json: matches this id."""
    run = run_locust(
        tmp_path, foreign.ws_url,
        "--ws-path", "ws/prices/{group}/", "--ws-groups", "1-20", "--ws-think", "0.01",
        "--ws-payload", '{"op": "quote", "id": {seq}, "symbol": "ACME"}',
        "--ws-expect", 'json:{"op": "price", "id": {seq}}', "--ws-other", "skip",
        users=3, run_time="4s",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    message = run.row("WS message", "ws/prices/[group]/")
    assert message["count"] > 30 and message["failures"] == 0
    assert message["min"] >= QUOTE_DELAY_S * 1e6
    assert run.summary["parameters"]["groups"] == "1-20"


def test_a_route_that_cannot_match_names_the_path_tried_once_and_keeps_the_template(tmp_path, foreign):
    """g0..g9 on an integer route: handshakes fail; one log line shows a real path; the row stays a template."""
    run = run_locust(
        tmp_path, foreign.ws_url, "--ws-path", "ws/prices/{group}/", "--ws-think", "0.01", users=3, run_time="3s"
    )
    assert run.code == 1, run.output[-3000:]
    connect = run.row("WS connect", "ws/prices/[group]/")
    assert connect["count"] == 0 and connect["failures"] >= 2
    assert "(first seen connecting to ws://127.0.0.1:" in run.output
    assert "/ws/prices/g" in run.output
    rows = {(f["Method"], f["Name"]) for f in run.failures()}
    assert rows == {("WS connect", "ws/prices/[group]/")}
    (error,) = {f["Error"] for f in run.failures()}  # one row: the message carries no path
    assert error.startswith("handshake rejected: HTTP 500")


@pytest.fixture(scope="module")
def accounts(foreign, tmp_path_factory):
    """A setup step: four users in the app's database, their credentials in a CSV file."""
    users = [(f"loaduser{i}", secrets.token_urlsafe(12)) for i in range(4)]
    code = "from django.contrib.auth.models import User\n" + "".join(
        f"User.objects.create_user({name!r}, password={password!r})\n" for name, password in users
    )
    django_admin(foreign.env, "shell", "-c", code)
    path = tmp_path_factory.mktemp("creds") / "users.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("username", "password"), *users])
    return path, users


def test_authenticated_app_each_user_logs_in_and_talks_as_itself(tmp_path, foreign, accounts):
    """private_chat.py: a login per user, its own cookie; replies name that user; no secret in any output."""
    path, users = accounts
    run = run_locust(
        tmp_path, foreign.ws_url, "--credentials", str(path),
        users=4, run_time="4s", locustfile=EXAMPLES / "private_chat.py",
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    stats = run.stats()
    login = stats[("HTTP login", "/accounts/login/")]  # Django's own LoginView: GET the form, POST it, a 302
    assert login["num_requests"] == 4 and login["num_failures"] == 0
    assert run.row("HTTP login", "/accounts/login/")["count"] == 4
    talk = run.row("WS message", "talk")
    assert talk["count"] > 20 and talk["failures"] == 0  # each reply named the user that logged in
    assert run.row("WS connect", "ws/private/[group]/")["count"] == 4
    outputs = [run.output] + [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    for _, password in users:
        assert not any(password in text for text in outputs), "a password leaked into the output or artifacts"
    assert not any("sessionid=" in text for text in outputs), "a session cookie leaked"


def test_authenticated_app_refuses_anonymous_handshakes(tmp_path, foreign):
    """Without a login the app answers 403 at the handshake: every connect fails, classified as such."""
    run = run_locust(tmp_path, foreign.ws_url, "--ws-path", "ws/private/{group}/", users=2, run_time="2s")
    assert run.code == 1
    assert run.summary["counters"]["connects"] == 0
    assert run.summary["counters"]["failure_kinds"] == {
        "handshake rejected": run.summary["counters"]["connect_failures"]
    }


def test_private_example_without_credentials_stops_before_load(tmp_path, foreign):
    """No --credentials: exit 2 and a message, before any user starts."""
    run = run_locust(tmp_path, foreign.ws_url, users=1, run_time="2s", locustfile=EXAMPLES / "private_chat.py")
    assert run.code == 2
    assert "--credentials" in run.output
    assert not run.report_dir.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ws-groups", "9-3"), "--ws-groups '9-3'"),
        (("--ws-groups", "@/nonexistent/rooms"), "--ws-groups @/nonexistent/rooms"),
        (("--ws-other", "maybe"), "--ws-other"),
        (("--ws-expect", "json:{"), "--ws-expect"),
        (("--ws-expect", "own"), "--ws-expect own"),  # RoomUser's payload carries no {mark}
        (("--ws-match", "own"), "--ws-match own"),
        (("--ws-open", "[hi] hello => own"), "the step waits for its own message back"),
        (("--ws-open", '["join", {nope}] => OK'), "unknown placeholder {nope}"),  # a JSON array SEND, not a name
        (("--ws-payload", "{mark} {oops}"), "unknown placeholder {oops}"),
    ],
)
def test_wrong_values_stop_the_run_before_any_load(tmp_path, args, message):
    """Each new option's bad value: exit code 2, a message naming the option, no artifacts."""
    run = run_locust(tmp_path, "ws://127.0.0.1:9", *args, run_time="2s")
    assert run.code == 2, run.output[-2000:]
    assert message in run.output
    assert not run.report_dir.exists()


def test_the_readme_python_user_runs_as_written(tmp_path, foreign):
    """The README's worked example, taken from the README itself, loads the price app without a failure."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    locustfile = tmp_path / "readme_user.py"
    locustfile.write_text(block)
    run = run_locust(tmp_path, foreign.ws_url, users=2, run_time="3s", locustfile=locustfile)
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "quote")["count"] > 0
    assert run.row("WS message", "subscribe")["count"] == 2
    assert run.row("WS message", "quote")["min"] >= QUOTE_DELAY_S * 1e6
