"""The chatroom target behind real servers: Daphne, manage.py runserver, and two Daphnes over Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.servers import TARGET_DIR, UNIT, Server, daphne, free_port, redis_server, stop, wait_for_port

pytestmark = pytest.mark.e2e


def ws_connect(server: Server | str, path: str) -> ClientConnection:
    """Open a websocket with the Origin a browser on that page would send (the validator needs it)."""
    base = server.http_url if isinstance(server, Server) else server
    url = base.replace("http://", "ws://", 1) + path
    return connect(url, origin=base, open_timeout=5 * UNIT, close_timeout=2 * UNIT)


def get_json(url: str) -> tuple[int, dict]:
    """Status and decoded JSON body of a GET."""
    with urllib.request.urlopen(url, timeout=5 * UNIT) as resp:
        return resp.status, json.loads(resp.read())


def wait_for_text(server: Server, text: str, timeout: float) -> str:
    """The server's log once it contains `text`."""
    deadline = time.monotonic() + timeout
    while text not in (out := server.output()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the server log:\n{out}")
        time.sleep(0.05)
    return out


def test_daphne_serves_health() -> None:
    """GET /health on Daphne answers 200 with the status and the channel layer's class."""
    with daphne() as server:
        status, body = get_json(f"{server.http_url}/health")
    assert status == 200
    assert body == {"status": "ok", "channel_layer": "InMemoryChannelLayer"}


def test_room_round_trip_over_daphne() -> None:
    """A websocket to room/x over a real Daphne gets OK for each message."""
    with daphne() as server, ws_connect(server, "/room/x") as ws:
        for text in ("hello", "again"):
            ws.send(text)
            assert ws.recv(timeout=5 * UNIT) == "OK"


def test_unknown_path_is_a_403_with_one_warning_and_no_traceback() -> None:
    """An unrouted websocket path gets HTTP 403 at the handshake and one warning line in the log."""
    with daphne() as server:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(server, "/nowhere")
        # Daphne logs WSREJECT after the consumer's warning, so the log is complete once it shows.
        out = wait_for_text(server, '"WSREJECT /nowhere"', 5 * UNIT)
    assert refused.value.response.status_code == 403
    warnings = [line for line in out.splitlines() if "rejected websocket to unknown path /nowhere" in line]
    assert len(warnings) == 1, out
    assert "WARNING" in warnings[0]
    assert "Traceback" not in out


def test_manage_py_migrate_then_runserver(tmp_path: Path) -> None:
    """`manage.py migrate` then `manage.py runserver PORT` (Daphne's) serve /health and websockets."""
    tmp = tmp_path
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_DB_PATH": str(tmp / "db.sqlite3")}
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=TARGET_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=60 * UNIT,
    )
    assert (tmp / "db.sqlite3").exists()

    port = free_port()
    log = tmp / "runserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", str(port), "--noreload"],
            cwd=TARGET_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, 20 * UNIT)
        status, body = get_json(f"http://127.0.0.1:{port}/health")
        assert status == 200 and body["status"] == "ok"
        with ws_connect(f"http://127.0.0.1:{port}", "/room/x") as ws:
            ws.send("hello")
            assert ws.recv(timeout=5 * UNIT) == "OK"
    finally:
        stop(proc)
    output = log.read_text(errors="replace")
    assert "ASGI/Daphne" in output, output
    assert "Traceback" not in output


@pytest.mark.redis
def test_broadcast_crosses_daphne_processes_through_redis() -> None:
    """With a shared REDIS_URL, a chat/ message sent via one Daphne reaches a member on another."""
    with redis_server() as url:
        env = {"REDIS_URL": url}
        with daphne(env=env) as one, daphne(env=env) as two:
            assert get_json(f"{two.http_url}/health")[1]["channel_layer"] == "RedisChannelLayer"
            with ws_connect(one, "/chat/lobby") as sender, ws_connect(two, "/chat/lobby") as member:
                sent = {"sender": "u1", "seq": 1, "sent_ns": time.time_ns(), "text": "hi"}
                sender.send(json.dumps(sent))
                assert sender.recv(timeout=5 * UNIT) == "OK"
                assert json.loads(sender.recv(timeout=5 * UNIT)) == {**sent, "group": "lobby"}
                received = json.loads(member.recv(timeout=5 * UNIT))
                assert received == {**sent, "group": "lobby"}


@pytest.mark.redis
def test_async_broadcast_crosses_daphne_processes_and_shares_the_sync_route_s_room() -> None:
    """achat/ (AsyncBroadcastConsumer) over two Daphnes on Redis: OK, then the message with group to every
    member, one on the other process and one on the sync chat/ route of the same room; a member that
    left first does not stop the others' broadcasts."""
    with redis_server() as url:
        env = {"REDIS_URL": url}
        with daphne(env=env) as one, daphne(env=env) as two:
            with (
                ws_connect(one, "/achat/lobby") as sender,
                ws_connect(two, "/achat/lobby") as member,
                ws_connect(two, "/chat/lobby") as sync_member,
            ):
                with ws_connect(one, "/achat/lobby"):
                    pass  # joined, then left
                for seq in range(3):
                    sent = {"sender": "u1", "seq": seq, "sent_ns": time.time_ns(), "text": "hi"}
                    sender.send(json.dumps(sent))
                    assert sender.recv(timeout=5 * UNIT) == "OK"
                    assert json.loads(sender.recv(timeout=5 * UNIT)) == {**sent, "group": "lobby"}
                    assert json.loads(member.recv(timeout=5 * UNIT)) == {**sent, "group": "lobby"}
                    assert json.loads(sync_member.recv(timeout=5 * UNIT)) == {**sent, "group": "lobby"}
            assert "Traceback" not in one.output() + two.output()


def test_public_key_warning_is_one_line_in_daphnes_log() -> None:
    """Daphne with hosts beyond loopback and no DJANGO_SECRET_KEY logs the warning once and still serves."""
    env = {"DJANGO_ALLOWED_HOSTS": "127.0.0.1,chat.example.com", "DJANGO_SECRET_KEY": ""}
    with daphne(env=env) as server, ws_connect(server, "/room/x") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5 * UNIT) == "OK"
        out = server.output()
    lines = [line for line in out.splitlines() if "DJANGO_SECRET_KEY is unset" in line]
    assert len(lines) == 1, out
    assert "WARNING" in lines[0] and "Traceback" not in out


@pytest.mark.parametrize("route", ["room", "aroom"])
def test_clients_leaving_with_messages_unanswered_leave_no_traceback(route: str) -> None:
    """A client that sends a burst and resets at once: the consumer's late OK meets a closed socket quietly."""
    from tests.apps import rawclient

    with daphne() as server:
        for _ in range(20):
            sock, status = rawclient.handshake(server.port, f"/{route}/g1", timeout=5 * UNIT)
            assert status == 101
            sock.sendall(rawclient.client_frame(0x1, b"hello") * 200)
            rawclient.reset(sock)
        time.sleep(1.0 * UNIT)  # the consumers finish the messages they had
        with ws_connect(server, f"/{route}/g2") as ws:  # and the server still answers
            ws.send("hi")
            assert ws.recv(timeout=5 * UNIT) == "OK"
        output = server.output()
    assert "Traceback" not in output, output[-3000:]
