"""Churn (--ws-lifetime): connections close themselves with 1000 after a random lifetime and connect again; their
handshakes are the `WS connect` row named `ROUTE churn`. Against the reference target under Daphne."""

from __future__ import annotations

import pytest

from tests.locustrun import run_locust

USERS = 20


def churn_run(tmp_path, target, run_time: str = "4s", *extra: str):
    return run_locust(
        tmp_path, target.ws_url, "RoomUser", "--ws-think", "0.02-0.05", "--ws-lifetime", "1-3", *extra,
        run_time=run_time, users=USERS,
    )  # fmt: skip


def test_connections_close_themselves_and_their_handshakes_are_a_row_of_their_own(tmp_path, target):
    run = churn_run(tmp_path, target)
    assert run.code == 0, run.output[-3000:]
    counters = run.summary["counters"]
    churn = run.row("WS connect", "room/[group] churn")
    assert counters["churn_closes"] >= USERS // 2, counters  # lifetimes of 1-3 s in a 4 s run
    # Every churn close is followed by a churn handshake (those still in flight when the run stopped aside).
    assert counters["churn_closes"] - USERS <= churn["count"] <= counters["churn_closes"], (counters, churn)
    assert counters["drops"] == {} and counters["failed"] == 0, counters  # a churn close is not a drop
    assert run.row("WS connect", "room/[group]")["count"] == USERS  # the first connects keep the route's name
    assert run.summary["parameters"]["lifetime"] == [1.0, 3.0] and run.summary["parameters"]["reconnect"] == "now"


@pytest.mark.timing
def test_churn_holds_its_rate_of_new_connections_within_ten_percent(tmp_path, target):
    """20 users, lifetimes uniform in 1-3 s (mean 2 s): 10 new connections a second once the first lifetimes ran
    out (from 4 s on), within 10%."""
    run = churn_run(tmp_path, target, "14s")
    assert run.code == 0, run.output[-3000:]
    seconds = sorted(
        (p["second"], p["count"])
        for p in run.summary["timeline"]["latency"]
        if p["kind"] == "WS connect" and p["name"] == "room/[group] churn"
    )
    start = seconds[0][0] - 1  # ~ the first lifetime's earliest end (1 s)
    steady = [n for s, n in seconds if start + 4 <= s < seconds[-1][0]]  # the last second is cut by the stop
    rate = sum(steady) / len(steady)
    assert abs(rate - USERS / 2.0) <= 0.1 * USERS / 2.0, (rate, seconds)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [("--ws-reconnect", "backoff:5-1", "need 0 < MIN <= MAX"), ("--ws-lifetime", "3-", "expected MIN-MAX seconds")],
)
def test_a_wrong_value_fails_before_any_load_with_exit_code_2(tmp_path, target, option, value, says):
    run = run_locust(tmp_path, target.ws_url, "RoomUser", option, value, run_time="3s", users=1)
    assert run.code == 2, run.output[-2000:]
    assert f"{option} {value!r}: {says}" in run.output, run.output[-2000:]
    assert "WS connect" not in run.output
