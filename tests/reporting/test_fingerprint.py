"""A run's fingerprint: what it records, where two differ, and when the generator was too busy to trust."""

from __future__ import annotations

import os
import platform
import socket
from types import SimpleNamespace

import pytest

from chanload.exceptions import OptionError
from chanload.reporting import fingerprint
from chanload.run.settings import settings_from

PARAMETERS = {"host": "ws://127.0.0.1:8000", "path": None, "users": 50, "spawn_rate": 25.0, "rate": 10.0,
              "arrivals": "fixed", "think": None, "run_time": 30, "user_classes": ["RoomUser"]}  # fmt: skip


def test_it_records_versions_machine_load_and_the_generators_peak():
    f = fingerprint.build(PARAMETERS, 0.4567)
    assert f["versions"]["python"] == platform.python_version() and f["versions"]["chanload"]
    assert f["versions"]["locust"] and "daphne" in f["versions"] and "channels-redis" in f["versions"]
    assert f["cpu"]["count"] == os.cpu_count() and f["cpu"]["usable"] == len(os.sched_getaffinity(0))
    assert f["host"] == socket.gethostname()
    assert f["load"] == {"target": "ws://127.0.0.1:8000", "users": 50, "spawn_rate": 25.0, "rate": 10.0,
                         "arrivals": "fixed", "think": None, "run_time": 30, "user_classes": ["RoomUser"]}  # fmt: skip
    assert f["generator_peak_cpu"] == 0.457
    assert fingerprint.build({**PARAMETERS, "path": "/room/x"}, None)["load"]["target"] == "ws://127.0.0.1:8000/room/x"


def test_differences_are_the_fields_that_could_make_runs_incomparable():
    a = fingerprint.build(PARAMETERS, 0.3)
    b = fingerprint.build({**PARAMETERS, "users": 60}, 0.95)
    b["versions"] = {**b["versions"], "daphne": "9.9"}
    assert fingerprint.differences(a, b) == [
        ("versions.daphne", a["versions"]["daphne"], "9.9"),
        ("load.users", 50, 60),
    ]  # the peak CPU is not a difference: it is warned of on its own
    assert fingerprint.differences(a, a) == []
    assert fingerprint.busy(b) and not fingerprint.busy(a) and not fingerprint.busy(None)


def test_arrivals_are_fixed_or_poisson():
    assert settings_from(SimpleNamespace(ws_arrivals="poisson"), "ws://127.0.0.1:1").arrivals == "poisson"
    with pytest.raises(OptionError, match="--ws-arrivals 'uniform': 'fixed' .* or 'poisson'"):
        settings_from(SimpleNamespace(ws_arrivals="uniform"), "ws://127.0.0.1:1")
