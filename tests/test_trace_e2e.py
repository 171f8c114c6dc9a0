"""`--ws-trace` in a headless locust run against real Daphne servers: what a user debugging a script sees."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.locustrun import run_locust
from tests.servers import django_admin, foreign_app

pytestmark = pytest.mark.e2e

GOLDEN = Path(__file__).parent / "data" / "trace"  # the trace of the same runs before the observer (README.md there)
LINE = re.compile(r"^trace \+\s*(\d+\.\d{3}) ms  (\S+)\s+(.*)$", re.M)


def trace_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("trace")]


def test_one_user_is_traced_frame_by_frame_with_the_times_it_recorded(tmp_path, target):
    run = run_locust(tmp_path, target.ws_url, "--ws-trace", "--ws-think", "0.2", users=1, run_time="2s")
    assert run.code == 0, run.output[-3000:]
    lines = trace_lines(run.output)
    assert lines[0].startswith("trace: one session, frame by frame, at most 200 lines")
    assert len([line for line in lines if line.startswith("trace: ")]) == 1
    events = LINE.findall(run.output)
    assert events[0][1] == "handshake" and re.fullmatch(
        rf"{re.escape(target.ws_url)}/room/g\d -> 101 accepted in \d+\.\d{{3}} ms", events[0][2]
    ), events[0]
    assert "              < sec-websocket-accept: " in run.output
    sends = [text for _t, event, text in events if event == "send"]
    replies = [text for _t, event, text in events if event == "received"]
    # A message still awaiting its reply when the run stopped is shown sent, and counted in flight.
    assert replies and len(sends) == len(replies) + run.summary["counters"]["in_flight"], lines
    for n, (sent, reply) in enumerate(zip(sends, replies, strict=False)):
        assert sent == f"room/[group] #{n} 'hello'"
        assert re.fullmatch(rf"'OK'  reply to room/\[group\] #{n} in \d+\.\d{{3}} ms", reply)
    # The round trips shown are the ones recorded: the summary's count, and its p50 among them.
    row = run.row("WS message", "room/[group]")
    assert row["count"] == len(replies)
    shown_us = sorted(float(r.rsplit(" in ", 1)[1].split()[0]) * 1000 for r in replies)
    assert shown_us[0] - 1 <= row["p50"] <= shown_us[-1] * 1.001 + 1
    times = [float(t) for t, _e, _x in events]
    assert times == sorted(times)
    assert events[-1][1:] == ("close", "by the script (close frame, code 1000)")


def normalize(text: str) -> str:
    """A trace with what changes from run to run written as placeholders: times, ports, rooms, pids, keys, ids."""
    text = re.sub(r"^trace \+\s*\d+\.\d{3} ms", "trace +T ms", text, flags=re.M)
    text = re.sub(r"\d+\.\d{3} ms", "N ms", text)
    text = re.sub(r"\(pid \d+\)", "(pid P)", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"/g\d+\b", "/gN", text)
    text = re.sub(r"(sec-websocket-accept: )\S+", r"\1KEY", text)
    text = re.sub(r"cl1\.[0-9a-f]+-(\d+)-(\d+)\.(\d+)\.\d+", r"cl1.ID-\1-\2.\3.NS", text)
    return re.sub(r"\b[0-9a-f]{6,12}-(\d+)-(\d+)\b", r"ID-\1-\2", text)  # the process id: hex, its length varies


def shapes(text: str) -> set[str]:
    """The different lines of a normalized trace, message numbers left out."""
    return set(re.sub(r"\.\d+\.NS", ".K.NS", re.sub(r"#\d+", "#K", text)).splitlines())


def traced(run) -> str:
    return normalize("\n".join(trace_lines(run.output)) + "\n")


def test_the_trace_is_as_it_was(tmp_path, target, misbehaving):
    """The same runs print the same trace as before the trace became an observer of the session (issue 28); it is
    bounded, one session per process; closes and timeouts are traced with their code."""
    # Two users, one traced; long enough for 200 lines on a loaded machine (about 80 round trips; hundreds a second
    # when idle): 200 lines, then the line saying it stopped, and the run goes on untraced.
    run = run_locust(tmp_path / "1", target.ws_url, "--ws-trace", "--ws-think", "0", users=2, run_time="6s")
    assert run.code == 0, run.output[-3000:]
    lines = trace_lines(run.output)
    assert lines[-1] == "trace stopped after 200 lines (--ws-trace prints at most 200); the run goes on untraced"
    assert len([line for line in lines if line.startswith("trace: one session")]) == 1
    assert run.summary["counters"]["ok"] > 200
    assert traced(run) == (GOLDEN / "bounded.txt").read_text()
    closing = ("--ws-path", "close/{group}", "--ws-think", "0")
    run = run_locust(tmp_path / "2", misbehaving.ws_url, "--ws-trace", *closing, users=1, run_time="2s")
    closed = "closed    close/[group]: closed by server: code 4001 (the connection is dropped)"
    assert closed in run.output and traced(run) == (GOLDEN / "closing.txt").read_text(), run.output[-3000:]
    silent = ("--ws-path", "silent/{group}", "--ws-reply-timeout", "0.3", "--ws-think", "0")
    run = run_locust(tmp_path / "3", misbehaving.ws_url, "--ws-trace", *silent, users=1, run_time="2s")
    timeout = "timeout   silent/[group]: reply timeout: no reply within 0.3s (the connection is dropped)"
    assert timeout in run.output, run.output[-3000:]
    text, before = traced(run), (GOLDEN / "silent.txt").read_text()
    # How many timeouts fit in the run depends on the machine: the first ones, and every kind of line, as before.
    assert text.splitlines()[:12] == before.splitlines()[:12] and shapes(text) == shapes(before), text


def test_a_login_chat_is_traced_as_it_was_with_its_secrets_masked(tmp_path):
    """Django's LoginView, a join step, a relay: the login's cookie names, deliveries, own copies, the lines as before
    (their order is timing); no secret shown."""
    password = f"pw-{os.getpid()}-Very-Secret"
    with foreign_app() as app:
        django_admin(
            app.env, "shell", "-c",
            "from django.contrib.auth.models import User\n"
            "".join(f"User.objects.create_user({name!r}, password={password!r})\n" for name in ("ann", "bob")),
        )  # fmt: skip
        accounts = tmp_path / "users.csv"
        accounts.write_text(f"ann,{password}\nbob,{password}\n")
        run = run_locust(
            tmp_path, app.ws_url, "--ws-trace", "--login-url", "/accounts/login/", "--credentials", str(accounts),
            "--ws-path", "ws/lobby/", "--ws-open", '[join] {"command": "join", "room": 1} => json:{"join": "1"}',
            "--ws-payload", '{"command": "send", "room": 1, "message": "{mark}"}', "--ws-expect", "own",
            "--ws-other", "skip", "--ws-think", "0.05-0.1", users=2, run_time="2s",
        )  # fmt: skip
    assert run.code == 0, run.output[-3000:]
    raw = "\n".join(trace_lines(run.output))
    assert re.search(
        r"login     /accounts/login/ accepted in \d+\.\d{3} ms: cookies csrftoken, sessionid \(values \*\*\*\)", raw
    )
    assert "              > Cookie: ***" in raw
    assert re.search(r"opening step join reply in \d+\.\d{3} ms", raw)
    assert (
        "own copy (this connection's mark)" in raw and "taken     the own copy above as the reply to ws/lobby/ #" in raw
    )
    assert re.search(r"delivery from \S+ #\d+ in \d+\.\d{3} ms", raw)
    assert password not in run.output
    assert not re.search(r"(sessionid|csrftoken)=(?!\*\*\*)", raw)
    text, before = traced(run), (GOLDEN / "login.txt").read_text()
    assert text.splitlines()[:8] == before.splitlines()[:8], text  # the heading, the login, the handshake
    assert shapes(text) <= shapes(before), sorted(shapes(text) - shapes(before))
