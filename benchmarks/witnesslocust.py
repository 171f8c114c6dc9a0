"""The locustfile of benchmarks/witness.py: the same echo user five times, each to its own host and route.

    WITNESS_HOSTS='{"direct": "ws://127.0.0.1:P", "d0": "ws://127.0.0.1:Q", ...}' locust -f benchmarks/witnesslocust.py

One class per path to the target: `direct`, and one per delaying proxy (`d0` holds nothing, `d1`, `d5`, `d20`
hold each chunk that many ms). Each class's route is `room/<name>_{group}` (the target's `^room/(?P<group>\\w+)`
takes it), so each has rows of its own (`room/d5_[group]`), and all of them run in one process at once:
whatever the machine does meanwhile, every path meets it alike.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))

from chanload import EchoUser

HOSTS: dict[str, str] = json.loads(os.environ.get("WITNESS_HOSTS", "{}"))


def _user(class_name: str, path: str) -> type[EchoUser]:
    attributes = {"host": HOSTS.get(path), "route": f"room/{path}_{{group}}", "__module__": __name__}
    return type(class_name, (EchoUser,), attributes)


Direct, D0, D1, D5, D20 = (_user(c, p) for c, p in (("Direct", "direct"), ("D0", "d0"), ("D1", "d1"), ("D5", "d5"),
                                                     ("D20", "d20")))  # fmt: skip
