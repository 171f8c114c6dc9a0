"""An app behind AuthMiddlewareStack: each user logs in over HTTP, then connects with its own session cookie.

    locust -f loadtests/examples/private_chat.py --host ws://127.0.0.1:8000 --credentials users.csv

`--credentials` names a CSV file of `username,password` lines (a header line `username,password` is
skipped); users take them in turn. The login is a Locust HTTP request of its own (`POST /login/`).
The cookie goes with this user's handshake only. Neither passwords nor cookies are logged or written
to the run's artifacts. Adapt `LOGIN_PATH` and the form fields to your app's login view.
"""

from __future__ import annotations

from locust import between, events, task
from locust.clients import HttpSession
from locust.runners import MasterRunner

import csv
import itertools
import sys

from chanload import WsUser  # brings the --ws-* options, recording, thresholds and artifacts

LOGIN_PATH = "/login/"
_accounts: itertools.cycle | None = None


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    parser.add_argument("--credentials", default="", include_in_web_ui=False, help="CSV file: username,password")


@events.init.add_listener
def _load_credentials(environment, **_kw) -> None:
    """Read --credentials before any load; a missing or empty file stops the run with exit code 2."""
    global _accounts
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, MasterRunner):
        return  # the master runs no users
    try:
        if not options.credentials:
            raise ValueError("give --credentials FILE (username,password lines)")
        with open(options.credentials, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if len(r) >= 2 and r[:2] != ["username", "password"]]
        if not rows:
            raise ValueError(f"no username,password lines in {options.credentials}")
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"chanload: error: --credentials: {getattr(exc, 'strerror', None) or exc}\n")
        sys.exit(2)
    _accounts = itertools.cycle([(r[0], r[1]) for r in rows])


class PrivateUser(WsUser):
    route = "ws/private/{group}/"
    groups = "lobby,backroom"
    wait_time = between(0.05, 0.1)

    def on_start(self) -> None:
        super().on_start()
        assert _accounts is not None  # _load_credentials ran at init
        self.username, password = next(_accounts)
        http_base = self.ws.host.replace("ws", "http", 1)
        http = HttpSession(base_url=http_base, request_event=self.environment.events.request, user=self)
        with http.post(LOGIN_PATH, data={"username": self.username, "password": password}, catch_response=True) as r:
            if r.status_code != 200 or "sessionid" not in r.cookies:
                r.failure(f"login refused: HTTP {r.status_code}")  # no credentials in the message
                self.cookies = {}
            else:
                self.cookies = {"sessionid": r.cookies["sessionid"]}

    @task
    def talk(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect(cookies=self.cookies)
        ws.request({"id": ws.seq, "text": "hi"}, {"ok": True, "user": self.username, "id": ws.seq}, step="talk")
