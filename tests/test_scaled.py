"""The scaled target: two Daphne processes sharing Debian's redis-server, behind Debian's nginx.

Members are pinned to a process by connecting to its own port; nginx is checked separately. Run A's
users talk to process 0, run B's to process 1, all in one room (--ws-groups 1).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from websockets.sync.client import connect

from scripts import launch
from tests.locustrun import LocustRun, run_locust
from tests.servers import UNIT

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

ROOM = "chat/g0"  # --ws-groups 1: every ChatUser joins g0
DAPHNE_PING_INTERVAL = 20  # daphne's --ping-interval default, seconds


def payload(tag: str) -> str:
    return '{"text": "TAG", "mark": "{mark}"}'.replace("TAG", tag)


def member(url: str, path: str = ROOM):
    """A raw websocket (python-websockets, no chanload code) to `path`; use it in a with block."""
    return connect(f"{url}/{path}", origin="http://127.0.0.1", open_timeout=5 * UNIT)


class Witness:
    """A raw websocket member of the room on one process: counts every broadcast by its `text`."""

    def __init__(self, url: str) -> None:
        self._exit = contextlib.ExitStack()
        self.ws = self._exit.enter_context(member(url))
        self.seen: Counter[str] = Counter()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                data = json.loads(message)
                self.seen[data.get("text", "")] += 1
        except Exception:
            pass  # closed

    def close(self) -> Counter[str]:
        time.sleep(0.5 * UNIT)  # the last broadcasts of a run that just ended
        self._exit.close()
        self.thread.join(5 * UNIT)
        return self.seen


def chat_runs(tmp_path: Path, hosts: dict[str, str], run_time: str, users: int = 3) -> dict[str, LocustRun]:
    """One ChatUser run per host, at the same time, each tagging its messages with its name."""
    results: dict[str, LocustRun] = {}

    def one(tag: str, host: str) -> None:
        work = tmp_path / tag
        work.mkdir()
        results[tag] = run_locust(
            work, host, "ChatUser", "--ws-groups", "1", "--ws-think", "0.05-0.15", "--ws-payload", payload(tag),
            run_time=run_time, users=users,
        )  # fmt: skip

    threads = [threading.Thread(target=one, args=item) for item in hosts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def delivery_count(run: LocustRun) -> int:
    return run.row("WS delivery", "chat/[group]")["count"]


def test_nginx_template_fills_every_placeholder_and_nginx_accepts_it(tmp_path):
    """deploy/nginx.conf renders with no placeholder left, `nginx -t` accepts it, and a missing value is named."""
    values = {
        "CHANLOAD_LISTEN": "127.0.0.1:1",
        "CHANLOAD_UPSTREAMS": "server 127.0.0.1:2; server 127.0.0.1:3;",
        "CHANLOAD_PID": str(tmp_path / "nginx.pid"),
        "CHANLOAD_CLIENT_TIMEOUT": "10",
    }
    conf = tmp_path / "nginx.conf"
    conf.write_text(launch.render_nginx(values))
    assert "${" not in conf.read_text()
    check = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    with pytest.raises(ValueError, match="CHANLOAD_PID"):
        launch.render_nginx({k: v for k, v in values.items() if k != "CHANLOAD_PID"})


def test_nginx_read_timeouts_outlast_daphnes_ping_interval():
    """An idle websocket carries only Daphne's pings (every 20 s): nginx must not time it out first."""
    text = launch.NGINX_TEMPLATE.read_text()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        seconds = int(re.search(rf"^\s*{directive}\s+(\d+)s;", text, re.M).group(1))
        assert seconds > DAPHNE_PING_INTERVAL, directive
    assert re.search(r"proxy_set_header Upgrade \$http_upgrade;", text)
    assert re.search(r"proxy_set_header Connection \$connection_upgrade;", text)


def test_nginx_spreads_websockets_over_both_processes_and_cuts_off_a_slow_handshake():
    """Through nginx: connections land on both Daphne processes; a half-sent handshake is closed in time."""
    psutil = pytest.importorskip("psutil")
    with launch.scaled(2, client_timeout=1) as stack:
        with contextlib.ExitStack() as sockets:
            for _ in range(6):
                ws = sockets.enter_context(member(stack.host, "room/g0"))
                ws.send("hi")
                assert ws.recv(timeout=5 * UNIT) == "OK"
            held = [
                sum(
                    c.status == "ESTABLISHED" and c.laddr.port == d.port  # not its Redis connections
                    for c in psutil.Process(d.proc.pid).net_connections("tcp")
                )
                for d in stack.daphnes
            ]
            assert all(n >= 1 for n in held) and sum(held) == 6, held
        with socket.create_connection(("127.0.0.1", stack.proxy.port), timeout=10 * UNIT) as slow:
            slow.sendall(b"GET /chat/g0 HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            assert slow.recv(4096) == b""  # nginx closes it (client_header_timeout 1 s; the socket waits 10)


def test_nginx_runs_the_workers_asked_each_with_its_own_listening_socket():
    """proxy_workers=3 (bench-connections: one per 8,000 sockets): three nginx workers, all taking connections."""
    psutil = pytest.importorskip("psutil")
    with launch.scaled(1, proxy_workers=3) as stack:
        workers = psutil.Process(stack.proxy.proc.pid).children()
        assert len(workers) == 3, workers
        assert "reuseport" in (stack.workdir / "nginx.conf").read_text()
        with contextlib.ExitStack() as sockets:
            for _ in range(30):  # the kernel hashes each connection to one worker's socket: 30 reach all three
                ws = sockets.enter_context(member(stack.host, "room/g0"))
                ws.send("hi")
                assert ws.recv(timeout=5 * UNIT) == "OK"
            held = [sum(c.status == "ESTABLISHED" for c in w.net_connections("tcp")) for w in workers]
            assert all(n >= 2 for n in held) and sum(held) == 60, held  # each a client and an upstream socket


@pytest.mark.timing
def test_members_on_two_processes_receive_each_others_broadcasts_and_the_suite_counts_them(tmp_path):
    """Runs pinned to process 0 and 1 each receive the other's broadcasts; a raw member counts both exactly."""
    with launch.scaled(2) as stack:
        witness = Witness(stack.direct(1))
        runs = chat_runs(tmp_path, {"run-a": stack.direct(0), "run-b": stack.direct(1)}, run_time="4s")
        seen = witness.close()
    for tag, run in runs.items():
        assert "Traceback" not in run.output, run.output[-3000:]
        counters = run.summary["counters"]
        assert counters["ok"] > 0 and counters["failed"] == 0, (tag, counters)
        # Every message the run's users sent and got OK for reached the member on process 1, at most once.
        assert counters["ok"] <= seen[tag] <= counters["sent"], (tag, seen, counters)
        delivery = run.summary["delivery"]["total"]
        assert delivery["missing"] == 0 and delivery["duplicated"] == 0, (tag, delivery)
        # 3 receivers hearing only their own process could count at most 3 x their own sends.
        assert delivery_count(run) > 3 * counters["sent"], (tag, delivery_count(run), counters)
    for tag, run in runs.items():
        # ...and they heard much of what the other run sent. A member records no delivery of its own
        # messages, so its run's messages account for at most 2 x the run's sends (2 other members);
        # the rest came from the other process. The two runs start a little apart on a busy machine
        # (one Locust process each), so only the overlap can be heard: ask for half.
        (other,) = (t for t in runs if t != tag)
        from_other = delivery_count(run) - 2 * run.summary["counters"]["sent"]
        assert from_other >= 0.5 * 3 * seen[other], (tag, from_other, seen)


def test_a_killed_process_fails_its_members_while_the_other_process_keeps_delivering(tmp_path):
    """SIGKILL process 0 mid-run: run A reports connection failures (target down); run B keeps receiving."""
    with launch.scaled(2) as stack:
        witness = Witness(stack.direct(1))
        killed_at: list[float] = []

        def kill_when_both_run() -> None:
            deadline = time.monotonic() + 30 * UNIT
            while time.monotonic() < deadline and not (witness.seen["run-a"] and witness.seen["run-b"]):
                time.sleep(0.05)
            time.sleep(1.0)
            stack.daphnes[0].proc.kill()
            killed_at.append(time.time())

        killer = threading.Thread(target=kill_when_both_run)
        killer.start()
        runs = chat_runs(tmp_path, {"run-a": stack.direct(0), "run-b": stack.direct(1)}, run_time="8s")
        killer.join()
        # nginx routes new members round the dead process.
        for _ in range(4):
            with member(stack.host, "room/g0") as ws:
                ws.send("hi")
                assert ws.recv(timeout=5 * UNIT) == "OK"
        witness.close()
    assert killed_at, "the runs never both reached process 1"
    a, b = runs["run-a"], runs["run-b"]
    assert a.summary["status"] == "target_down" and a.code == 5, (a.summary["status"], a.code)
    kinds = a.summary["counters"]["failure_kinds"]
    assert kinds.get("connection lost", 0) + kinds.get("connection refused", 0) > 0, kinds
    assert b.summary["status"] == "completed" and b.code == 0, b.output[-2000:]
    assert b.summary["counters"]["failed"] == 0
    after = [
        p["count"]
        for p in b.summary["timeline"]["latency"]
        if p["kind"] == "WS delivery" and p["second"] > killed_at[0] + 1
    ]
    assert sum(after) > 0 and len(after) >= 2, after


def test_an_idle_consumer_on_the_redis_layer_outlives_its_blocking_read():
    """A consumer that gets no layer messages waits in 5 s blocking reads; its socket must not die of them."""
    with launch.scaled(1) as stack, member(stack.direct(0), "room/g0") as ws:
        for _ in range(2):
            ws.send("hi")
            assert ws.recv(timeout=5 * UNIT) == "OK"
            time.sleep(7)  # more than channels_redis's 5 s BZPOPMIN and redis-py 8's 5 s socket_timeout
        assert "Traceback" not in stack.daphnes[0].output()
