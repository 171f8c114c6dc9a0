"""The suite's users, run by a Locust runner in this process, against real Daphne servers: the reference
target and a misbehaving foreign app. tests/locust/test_users.py keeps what only a locust process shows."""

from __future__ import annotations

from locust import task

import gevent
import pytest
from ws import AsyncRoomUser, ChatUser

from chanload.exceptions import OptionError
from chanload.locust.users import EchoUser
from tests.locust.inprocess.locustenv import parse, run_users
from tests.servers import dead_port

FAST = ("--ws-think", "0.01-0.03")


def assert_clean(run) -> None:
    assert run.code in (0, 1, 3, 5), run.output[-3000:]
    assert not run.environment.runner.exceptions, run.environment.runner.exceptions


def test_room_user_records_connects_and_messages_without_failures(target):
    """The default user connects to room/[group], gets OK for every message, 0 failures."""
    run = run_users(target.ws_url, *FAST)
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    connect = run.row("WS connect", "room/[group]")
    message = run.row("WS message", "room/[group]")
    assert connect["count"] == 5 and connect["failures"] == 0
    assert message["count"] > 50 and message["failures"] == 0
    assert run.summary["parameters"]["user_classes"] == ["RoomUser"]
    assert run.summary["parameters"]["classes"]["RoomUser"]["pacing"] == "think 0.01-0.03 s (--ws-think)"
    # Locust's own stats (independent bookkeeping) agree with the HDR histogram counts.
    assert run.stats[("WS message", "room/[group]")]["num_requests"] == message["count"]
    assert run.stats[("WS connect", "room/[group]")]["num_requests"] == connect["count"]


@pytest.mark.timing  # "sub-millisecond": a p50 under 5 ms
def test_sub_millisecond_round_trips_are_not_rounded_away(target):
    """Loopback round trips are well under 1 ms: the summary and Locust's CSV keep them non-zero."""
    run = run_users(target.ws_url, *FAST)
    message = run.row("WS message", "room/[group]")
    assert 0 < message["p50"] < 5000
    csv_median = float(run.csv_stats()[("WS message", "room/[group]")]["50%"])
    assert csv_median > 0, "Locust's CSV median was rounded to 0 ms"
    # Locust's complete record (--json-file) and the HDR histogram agree to within the 3-digit buckets (0.5%)
    # and HDR's 0.1%.
    stats = run.stats[("WS message", "room/[group]")]
    assert stats["num_requests"] == message["count"]
    buckets = sorted((float(ms), n) for ms, n in stats["response_times"].items())
    seen, locust_median = 0, None
    for ms, n in buckets:
        seen += n
        if seen * 2 >= stats["num_requests"]:
            locust_median = ms
            break
    assert locust_median is not None and locust_median > 0
    assert abs(locust_median * 1000 - message["p50"]) <= 0.006 * message["p50"] + 1


def test_counters_reconcile_with_messages_in_flight(target):
    """sent = ok + failed + in flight, and ok matches Locust's own success count."""
    run = run_users(target.ws_url, "--ws-think", "0", users=10)
    counters = run.summary["counters"]
    assert counters["reconciles"] is True
    assert counters["sent"] == counters["ok"] + counters["failed"] + counters["in_flight"]
    assert counters["sent"] > 100
    stats = run.stats[("WS message", "room/[group]")]
    assert stats["num_requests"] - stats["num_failures"] == counters["ok"]


def test_async_consumer_route(target):
    """AsyncRoomUser loads aroom/[group] under the same contract."""
    run = run_users(target.ws_url, *FAST, user_classes=(AsyncRoomUser,))
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "aroom/[group]")["count"] > 50


def test_chat_user_records_delivery_and_accounts_for_every_sender(target):
    """Broadcast users measure delivery latency from sent_ns and report the delivery ratio per room."""
    run = run_users(target.ws_url, "--ws-groups", "2", "--ws-think", "0.05-0.1", user_classes=(ChatUser,), users=6)
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    delivery = run.row("WS delivery", "chat/[group]")
    assert delivery["count"] > 0 and delivery["p50"] > 0  # recorded; its size is the machine's
    total = run.summary["delivery"]["total"]
    assert total["expected"] == total["delivered"] + total["missing"]
    assert total["ratio"] >= 0.9999  # a light load on the in-memory layer loses nothing
    assert set(run.summary["delivery"]["rooms"]) <= {"g0", "g1"}


def test_foreign_app_with_its_own_route_and_reply_format(misbehaving):
    """Path, payload and expected reply are options: a JSON echo app at ws/echo/<room>/ passes."""
    run = run_users(
        misbehaving.ws_url,
        "--ws-path", "ws/echo/{group}/",
        "--ws-payload", '{"seq": {seq}, "user": "{user}"}',
        "--ws-expect", r're:\{"ok": true, "echo": "\{.*\}"\}',
        *FAST,
    )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    assert run.row("WS message", "ws/echo/[group]/")["count"] > 50
    assert run.row("WS message", "ws/echo/[group]/")["failures"] == 0


@pytest.mark.parametrize(
    ("route", "kind", "message"),
    [
        ("wrong", "wrong reply", "wrong reply: expected 'OK', got 'NOPE'"),
        ("silent", "reply timeout", "reply timeout: no reply within 0.5s"),
        ("close", "closed by server", "closed by server: code 4001"),
        ("reject", "handshake rejected", "handshake rejected: HTTP 403"),
    ],
)
def test_each_failure_is_recorded_as_its_class(misbehaving, route, kind, message):
    """Every misbehaviour becomes a Locust failure with a message a user understands."""
    run = run_users(misbehaving.ws_url, "--ws-path", f"{route}/{{group}}", "--ws-reply-timeout", "0.5", *FAST)
    assert run.code == 1, run.output[-3000:]  # Locust's own exit code for failed requests
    assert_clean(run)
    assert run.summary["counters"]["failure_kinds"].get(kind, 0) > 0
    messages = {f["Error"] for f in run.failures()}
    assert any(m.startswith(message) for m in messages), messages
    assert run.summary["counters"]["reconciles"] is True


def test_refused_connection_is_recorded():
    """Nothing listening: connect failures classed 'connection refused', and the run says so."""
    with dead_port() as port:
        run = run_users(f"ws://127.0.0.1:{port}", *FAST, seconds=1)
    assert_clean(run)
    assert run.summary["counters"]["failure_kinds"]["connection refused"] > 0
    assert run.summary["counters"]["connects"] == 0
    assert run.summary["status"] == "target_unreachable"
    assert {f["Error"] for f in run.failures()} == {f"connection refused: nothing listens at 127.0.0.1:{port}"}


def test_user_reconnects_after_server_close(misbehaving):
    """A socket the server closed is replaced on the next task, not failed forever."""
    run = run_users(misbehaving.ws_url, "--ws-path", "close/{group}", *FAST, users=2)
    connects = run.row("WS connect", "close/[group]")["count"]
    assert connects > 4  # each user reconnected several times in 1 s


def test_messages_per_connection_reconnects(target):
    """--ws-messages N closes and reopens the connection every N messages."""
    run = run_users(target.ws_url, "--ws-messages", "5", *FAST, users=2)
    connects = run.row("WS connect", "room/[group]")["count"]
    messages = run.row("WS message", "room/[group]")["count"]
    assert connects >= messages // 5 and connects > 2


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--ws-think", "abc"), "--ws-think 'abc'"),
        (("--ws-payload", "{oops}"), "unknown placeholder {oops}"),
        (("--ws-expect", "re:("), "--ws-expect: bad regular expression"),
        (("--ws-reply-timeout", "0"), "--ws-reply-timeout"),
        (("--ws-subprotocol", "graphql ws"), "--ws-subprotocol 'graphql ws': a subprotocol is one token"),
    ],
)
def test_wrong_option_is_refused_naming_it(args, error):
    """A wrong option is an OptionError that names it: what the locust process prints before exiting 2
    (tests/locust/test_users.py runs one for real)."""
    with pytest.raises(OptionError) as refused:
        parse("ws://127.0.0.1:9", *args)
    assert error in str(refused.value)


def test_a_class_subprotocol_that_is_not_a_token_is_refused_unless_the_option_replaces_it():
    """A user class's `subprotocols` are checked before any load, as its other attributes; the option's win."""

    class GraphqlUser(EchoUser):
        abstract = True
        subprotocols = ("graphql transport ws",)

    with pytest.raises(OptionError, match="GraphqlUser.subprotocols 'graphql transport ws'"):
        GraphqlUser.check(parse("ws://127.0.0.1:9"))
    GraphqlUser.check(parse("ws://127.0.0.1:9", "--ws-subprotocol", "graphql-transport-ws"))


def test_a_task_or_method_that_hides_a_session_attribute_is_refused_naming_it():
    """`@task def other(self)` would make the session's `other` a function: refused before any load, saying so.
    A predicate `expect` (a function of the frame) is a session attribute's own form, and stays allowed."""

    class Shadowing(EchoUser):
        abstract = True

        @task
        def other(self):
            pass

    class Method(EchoUser):
        abstract = True

        def route(self):
            return "room/1"

    class Predicate(EchoUser):
        abstract = True

        @staticmethod
        def expect(frame):
            return frame == "OK"

    settings = parse("ws://127.0.0.1:9")
    with pytest.raises(OptionError, match=r"^Shadowing.other is a task: it hides WsUser.other.*give the task another"):
        Shadowing.check(settings)
    with pytest.raises(OptionError, match=r"^Method.route is a method: it hides WsUser.route"):
        Method.check(settings)
    Predicate.check(settings)


@pytest.mark.timing  # the generator keeps a 100/s schedule; raw p90 under 50 ms
def test_corrected_latency_shows_a_stall_that_raw_latency_hides(misbehaving):
    """Open model at 100 msg/s; the endpoint stalls 1 s once: corrected p90 shows it, raw p90 does not."""
    run = run_users(misbehaving.ws_url, "--ws-path", "stall/{group}", "--ws-rate", "100", users=1, seconds=3.5)
    assert run.code == 0, run.output[-3000:]
    raw = run.row("WS message", "stall/[group]")
    corrected = run.row("WS message corrected", "stall/[group]")
    lag = run.row("WS send lag", "stall/[group]")
    assert raw["count"] == corrected["count"] == lag["count"] > 250
    assert lag["p50"] < 5_000, "the generator itself kept to its schedule"
    assert raw["max"] >= 900_000 and corrected["max"] >= 900_000  # the stalled reply itself
    assert raw["p90"] < 50_000, "raw latency: only one slow sample"
    assert corrected["p90"] > 200_000, "corrected latency: every send that waited behind the stall"


@pytest.mark.parametrize(
    ("arrivals", "low", "high"),
    [
        # A grid: each user sends 60 or 61 times in 3 s, a slot more or less as the stop falls.
        ("fixed", 225, 315),
        # Poisson: the count is Poisson with mean 300, deviation sqrt(300) = 17; five deviations either side
        # (a false failure about once in two million runs), still far from "as many as possible" (thousands).
        ("poisson", 210, 390),
    ],
)
def test_open_model_rate_is_held(target, arrivals, low, high):
    """--ws-rate 20 with 5 users for 3 s sends about 20 x 5 x 3 messages, not as many as possible."""
    run = run_users(target.ws_url, "--ws-rate", "20", "--ws-arrivals", arrivals, users=5, seconds=3)
    sent = run.summary["counters"]["sent"]
    assert low <= sent <= high, sent


def test_chat_user_reconnecting_is_not_counted_as_duplicates(target):
    """Each connection is a new sender: numbers restarting after a reconnect are not duplicates."""
    run = run_users(target.ws_url, "--ws-groups", "1", "--ws-messages", "5", *FAST, user_classes=(ChatUser,), users=4)
    assert run.code == 0, run.output[-3000:]
    total = run.summary["delivery"]["total"]
    assert run.row("WS connect", "chat/[group]")["count"] > 8  # users did reconnect
    assert total["duplicated"] == 0 and total["delivered"] > 0


@pytest.mark.timing  # the stop takes under 8 s where the stop timeout is 10
def test_a_graceful_stop_lets_each_user_finish_its_message(target):
    """A stop timeout (--stop-timeout): users stop after their current message, not at the timeout, none in flight."""
    run = run_users(target.ws_url, "--ws-think", "0.1-0.2", stop_timeout=10, seconds=2)
    assert run.code == 0, run.output[-3000:]
    assert_clean(run)
    counters = run.summary["counters"]
    assert counters["in_flight"] == 0 and counters["reconciles"] is True
    assert counters["ok"] > 20
    assert run.stop_seconds < 8, f"the stop waited for the stop timeout ({run.stop_seconds:.1f} s)"


class TwoTaskUser(EchoUser):
    """A user with converse() and a task of its own."""

    @task
    def second(self):
        self.environment.events.request.fire(
            request_type="OTHER", name="other", response_time=1.0, response_length=0, exception=None, context={}
        )
        gevent.sleep(0.02)


def test_a_subclass_with_another_task_runs_both(target):
    """converse() keeps its loop only when it is the user's one task: other tasks get their turns."""
    run = run_users(target.ws_url, "--ws-think", "0.02", user_classes=(TwoTaskUser,))
    assert run.code == 0, run.output[-3000:]
    assert run.stats[("WS message", "room/[group]")]["num_requests"] > 20
    assert run.stats[("OTHER", "other")]["num_requests"] > 20


def test_a_pushed_frame_taken_as_a_reply_is_never_a_negative_latency(misbehaving):
    """/double answers twice: the extra OK waits in the buffer and answers the next message at once."""
    run = run_users(misbehaving.ws_url, "--ws-path", "double/{group}", "--ws-think", "0.01", users=2)
    assert run.code == 0, run.output[-3000:]
    stats = run.stats[("WS message", "double/[group]")]
    assert stats["num_requests"] > 20
    assert stats["min_response_time"] >= 0, stats["min_response_time"]
    # ... and the run says how many such replies there were.
    early = run.summary["counters"]["early_replies"]
    assert early > 0
    assert f"{early} replies had arrived before their message was sent" in run.output


def test_a_class_json_payload_is_checked_with_the_rooms_in_effect():
    """`"room": {group}`: refused with the class's names (A,B), accepted once --ws-groups gives integers."""

    class JoinUser(EchoUser):
        abstract = True
        groups = "A,B"
        payload = '{"command": "join", "room": {group}}'
        expect = 'json:{"room": {group}}'

    with pytest.raises(OptionError, match=r"filled in with 'A' from JoinUser.groups A,B"):
        JoinUser.check(parse("ws://127.0.0.1:9"))
    JoinUser.check(parse("ws://127.0.0.1:9", "--ws-groups", "1-500"))
    with pytest.raises(OptionError, match=r"--ws-groups 1 gives the names g0..g0"):
        JoinUser.check(parse("ws://127.0.0.1:9", "--ws-groups", "1"))
