"""--watch in a Locust runner in this process: a sample a second, in step with the run's timeline, in summary.json."""

from __future__ import annotations

import os
import socket

import gevent.socket
import pytest

from chanload.watch import proctree
from tests.locust.inprocess.locustenv import run_users
from tests.servers import dead_port


@pytest.mark.timing  # samples counted in a 3.2 s run
def test_a_watched_process_and_the_generator_are_sampled_each_second_of_the_run():
    """Watching this very process for 3 s: one sample per second, consecutive, inside the run's seconds, the
    same seconds as the generator's own CPU series; peaks and the latest second with them."""
    with dead_port() as port:
        run = run_users(f"ws://127.0.0.1:{port}", "--watch", f"me={os.getpid()}", "--ws-think", "0.1", seconds=3.2)
    resources = run.summary["resources"]
    me = resources["processes"]["me"]
    seconds = [s["second"] for s in me["series"]]
    assert len(seconds) >= 2 and seconds == list(range(seconds[0], seconds[0] + len(seconds))), seconds
    assert me["pid"] == os.getpid() and me["exited"] is None
    assert all(s["processes"] >= 1 and s["rss_bytes"] > 0 and s["threads"] >= 1 for s in me["series"])  # + servers
    assert any(s.get("tcp_established", -1) >= 0 for s in me["series"])  # sock_diag under gevent's sockets
    assert me["peak"]["rss_bytes"] == max(s["rss_bytes"] for s in me["series"])
    assert me["latest"] == me["series"][-1]
    # Both label a sample with the second it covers; the first may differ: the generator's ticker drops a first
    # window under half a second, the watch measures it from when it was opened.
    local = [s["second"] for s in resources["generator"]["local"]["series"]]
    assert len(set(seconds) & set(local)) >= 2 and abs(seconds[-1] - local[-1]) <= 1, (seconds, local)
    started = int(run.environment.runner.stats.total.start_time)  # within a second of the State's start
    assert started - 1 <= seconds[0] and seconds[-1] <= started + 4
    # The generator's series is what fingerprint's peak is made of.
    assert run.summary["fingerprint"]["generator_peak_cpu"] >= resources["generator"]["local"]["peak"]["cpu"]


def test_sock_diag_answers_through_gevents_sockets():
    """Under Locust's monkey-patching the netlink socket is gevent's: the dump still finds both ends of a connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        assert isinstance(client, gevent.socket.socket)
        mine = proctree._socket_inodes(os.getpid())
        assert len(proctree._established_inodes() & mine) == 2
    finally:
        for s in (client, server, listener):
            s.close()
