"""Users for tests/test_hostile.py: hostile ones against tests/apps/hostile.py, good ones against the target, one run.

    HOSTILE_HOST=ws://127.0.0.1:PORT HOSTILE_CASES='[{"id": "fragbomb"}, {"id": "silent", "reply_timeout": 2}]' \
        locust -f tests/apps/hostile_users.py --host ws://127.0.0.1:TARGET_PORT --headless -u 4 -r 4 -t 6s

`GoodUser` (2 of them) holds the seed's `room/{group}` on --host: send, expect `OK`, repeat. Each case in
HOSTILE_CASES (a JSON list) gets a class of its own, `Hostile_<case>`, that does the same on
`bad/<case>/{group}` at HOSTILE_HOST, so that one Locust process serves many cases and each case's rows
(`bad/<case>/[group]`) stand apart. A case's keys: `id`; `users` (its fixed_count, default 1); `subprotocols`
(offered in every handshake); `other` ("skip": frames that are not the reply are skipped); `connect_timeout` and
`reply_timeout` (seconds, over the command line's for this class only). Locust overwrites a class's `host` with
--host, and chanload's sessions take --host, so the hostile classes name their own in make_session.

HOSTILE_UNTIL (JSON: `{"outcomes": N}`) ends the run once it has what the test looks at, as -t would
(`runner.quit()`): once every case's rows have N outcomes (N failures, or N messages answered
for a case served with none; a case's own `outcomes` key overrides N) and the good users N answered messages. -t
stays the safety net. A run on a busy machine then lasts as long as its cases take to show, instead of ending
before a slow one has.
"""

from __future__ import annotations

from locust import events

import json
import os

import gevent

from chanload import EchoUser

HOSTILE_HOST = os.environ.get("HOSTILE_HOST", "ws://127.0.0.1:9")
CASES: list[dict] = json.loads(os.environ.get("HOSTILE_CASES", '[{"id": "ok"}]'))
UNTIL: dict | None = json.loads(os.environ["HOSTILE_UNTIL"]) if os.environ.get("HOSTILE_UNTIL") else None


class GoodUser(EchoUser):
    route = "room/{group}"
    fixed_count = 2


class HostileUser(EchoUser):
    abstract = True
    host = HOSTILE_HOST  # what it talks to; Locust replaces it with --host, hence make_session below
    timeouts: dict[str, float] = {}

    def make_session(self, st):
        session = super().make_session(st)
        session.host = HOSTILE_HOST.rstrip("/")
        for name, seconds in self.timeouts.items():
            setattr(session, name, float(seconds))
        return session


for _case in CASES:
    _name = f"Hostile_{_case['id']}"
    globals()[_name] = type(
        _name,
        (HostileUser,),
        {
            "__module__": __name__,
            "route": f"bad/{_case['id']}/{{group}}",
            "fixed_count": int(_case.get("users", 1)),
            "subprotocols": tuple(_case.get("subprotocols", ())),
            "other": _case.get("other", "fail"),
            "timeouts": {k: _case[k] for k in ("connect_timeout", "reply_timeout") if k in _case},
        },
    )


def _outcomes(stats, name: str) -> int:
    """The failures on `name`'s rows, or, with none, its messages answered."""
    rows = [e for (n, _method), e in stats.entries.items() if n == name]
    failed = sum(e.num_failures for e in rows)
    answered = sum(e.num_requests - e.num_failures for (n, method), e in stats.entries.items()
                   if n == name and method == "WS message")  # fmt: skip
    return failed or answered


@events.test_start.add_listener
def _until_seen(environment, **_kw) -> None:
    if UNTIL is None:
        return
    wanted = {"room/[group]": UNTIL["outcomes"]}
    wanted |= {f"bad/{case['id']}/[group]": case.get("outcomes", UNTIL["outcomes"]) for case in CASES}

    def watch() -> None:
        while True:
            gevent.sleep(0.25)
            if all(_outcomes(environment.stats, name) >= n for name, n in wanted.items()):
                environment.runner.quit()  # as -t's end does
                return

    gevent.spawn(watch)
