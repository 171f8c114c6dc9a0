"""Users for tests/test_hostile.py: hostile ones against tests/apps/hostile.py, good ones against the target, one run.

    HOSTILE_HOST=ws://127.0.0.1:PORT HOSTILE_CASE=fragbomb locust -f tests/apps/hostile_users.py \
        --host ws://127.0.0.1:TARGET_PORT --headless -u 6 -r 6 -t 6s

`GoodUser` (2 of them) holds the seed's `room/{group}` on --host: send, expect `OK`, repeat. `HostileUser` (4)
does the same on `bad/<HOSTILE_CASE>/{group}` at HOSTILE_HOST, offering the subprotocols in HOSTILE_SUBPROTOCOLS
(comma-separated) if set, so that its rows (`bad/<case>/[group]`) stand apart from the good ones. Locust
overwrites a class's `host` with --host, and chanload's sessions take --host, so the hostile class names its
own in make_session.
"""

from __future__ import annotations

import os

from chanload import EchoUser

HOSTILE_HOST = os.environ.get("HOSTILE_HOST", "ws://127.0.0.1:9")
HOSTILE_CASE = os.environ.get("HOSTILE_CASE", "ok")


class GoodUser(EchoUser):
    route = "room/{group}"
    fixed_count = 2


class HostileUser(EchoUser):
    route = f"bad/{HOSTILE_CASE}/{{group}}"
    subprotocols = tuple(name for name in os.environ.get("HOSTILE_SUBPROTOCOLS", "").split(",") if name)
    fixed_count = 4
    host = HOSTILE_HOST  # what it talks to; Locust replaces it with --host, hence make_session below

    def make_session(self, st):
        session = super().make_session(st)
        session.host = HOSTILE_HOST.rstrip("/")
        return session
