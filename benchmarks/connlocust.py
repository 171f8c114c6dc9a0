"""The locustfile of `make bench-connections`: loadtests/ws.py's IdleUser, plus a record of every sample.

Each process writes CHANLOAD_BENCH_OUT/<pid>.json when it quits: every `WS connect` and `WS message`
request event it fired, in the order they completed, as [wall time, seconds, ok]. These are the
same values the suite records; the benchmark needs them per thousand connections, which the
suite's per-second timeline cannot give.
"""

from __future__ import annotations

from locust import events
from locust.runners import MasterRunner

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))

from ws import IdleUser  # noqa: F401 - the user class this benchmark runs

from chanload.recording import types

_samples: dict[str, list[tuple[float, float, bool]]] = {types.CONNECT: [], types.MESSAGE: []}


@events.request.add_listener
def _record(request_type, name, response_time, exception=None, **_kw) -> None:
    rows = _samples.get(request_type)
    if rows is not None:
        rows.append((time.time(), response_time / 1000.0, exception is None))


@events.quitting.add_listener
def _write(environment, **_kw) -> None:
    folder = os.environ.get("CHANLOAD_BENCH_OUT")
    if folder and not isinstance(environment.runner, MasterRunner):
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(_samples))
