"""Two Locust environments fed the same samples: one through chanload's fast path, one through request events.

Run by tests/locust/inprocess/test_tally.py (`twins()`, in the in-process Locust tier: this module imports
locust). Each environment has a local runner (Locust's statistics listener), chanload attached, and a web UI;
the second also has one more request listener, which sends every sample through Locust's `request`
event as before. Both see the same samples at the same (fake) wall-clock times, over several
seconds, with failures among them. For each, as JSON data: what the web UI's /stats/requests
answers, the stats and failures CSV, the --json-file content, the --html report, the HDR slices.
"""

from __future__ import annotations

from locust import User, constant, stats
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.html import get_html_report

import csv
import io
import json
import random
import sys
import time

from chanload.exceptions import ConnectionLost, WrongReply
from chanload.locust import plugin
from chanload.recording.latency import Recorder
from chanload.run.settings import settings_from

START = 1_700_000_000.25


class Quiet(User):
    wait_time = constant(1)

    def task(self) -> None:  # never run
        pass


def samples(seed: int = 7) -> list[tuple[float, str, str, float, int, Exception | None]]:
    """(wall-clock time, type, name, seconds, length, exception): 6 s of mixed requests."""
    rng = random.Random(seed)
    out = []
    now = START
    while now < START + 6:
        now += rng.expovariate(800)
        roll = rng.random()
        if roll < 0.85:
            # Round trips from 80 us to ~200 ms, many below 1 ms (Locust's finer buckets matter there).
            seconds = rng.lognormvariate(-7.3, 1.2)
            out.append((now, "WS message", "room/[group]", seconds, 2, None))
        elif roll < 0.93:
            out.append((now, "WS connect", "room/[group]", rng.uniform(0.001, 0.004), 0, None))
        elif roll < 0.97:
            out.append((now, "WS delivery", "chat/[group]", rng.uniform(0.0002, 0.03), 40, None))
        elif roll < 0.99:
            out.append((now, "WS message", "room/[group]", rng.uniform(0.0001, 0.002), 0, WrongReply("'OK'", "nope")))
        else:
            out.append((now, "WS message", "room/[group]", 5.0, 0, ConnectionLost("connection lost: reset")))
    return out


def twins() -> dict:
    """{"fast": ..., "events": ...}: each environment's outputs. The wall clock is faked meanwhile."""
    real_time, real_argv = time.time, sys.argv
    clock = [START]
    time.time = lambda: clock[0]  # Locust's stats, its web UI and chanload read the wall clock through it
    sys.argv = ["locust"]  # Locust's web UI parses the command line for its form (not pytest's)
    try:
        return json.loads(json.dumps(_run(clock)))
    finally:
        time.time, sys.argv = real_time, real_argv


def _run(clock: list[float]) -> dict:
    options = get_parser().parse_args(["--host", "ws://127.0.0.1:9"])
    results = {}
    for mode in ("fast", "events"):
        clock[0] = START - 1
        env = Environment(user_classes=[Quiet], host="ws://127.0.0.1:9", parsed_options=options)
        env.stats = stats.RequestStats(use_response_times_cache=True)  # as the master's and local web UI's
        env.create_local_runner()
        web = env.create_web_ui("127.0.0.1", 0)
        st = plugin.attach(env, settings_from(options, env.host))
        st.recorder = Recorder(clock=lambda: clock[0])
        st.fire.tally._clock = lambda: clock[0]
        if mode == "events":
            env.events.request.add_listener(lambda **_kw: None)  # another listener: events for every sample
        taken = []
        for when, kind, name, seconds, length, exc in samples():
            clock[0] = when
            st.fire(kind, name, seconds, length, exc)
            taken.append(st.fire.fast and exc is None)  # failures always go to Locust at once
        clock[0] = START + 6.5
        env.events.test_stop.fire(environment=env)  # what Locust fires once the users are stopped
        stats.update_stats_history(env.runner)
        client = web.app.test_client()
        csv_out = {}
        writer = stats.StatsCSV(env, stats.PERCENTILES_TO_REPORT)
        for table in ("requests_csv", "failures_csv"):
            buffer = io.StringIO()
            getattr(writer, table)(csv.writer(buffer))
            csv_out[table] = buffer.getvalue()
        results[mode] = {
            "fast_path_taken": sum(taken),
            "samples": len(taken),
            "web_ui": client.get("/stats/requests").get_json(),
            "csv": csv_out,
            "json_file": json.loads(json.dumps(env.stats.serialize_stats())),
            "html": get_html_report(env),
            "hdr": sorted(piece.encode() for piece in st.recorder.drain()),
        }
    return results
