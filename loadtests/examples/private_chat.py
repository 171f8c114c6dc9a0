"""An app behind AuthMiddlewareStack: each user logs in through Django's LoginView, then talks as itself.

    locust -f loadtests/examples/private_chat.py --host ws://127.0.0.1:8000 --credentials users.csv

`--credentials` names a CSV file of `username,password` lines (a header line `username,password`,
blank and `#` lines are skipped); users take them in turn. Before its first connect, each user GETs
the login form at `login_url` (`--login-url` overrides it), POSTs it with its CSRF token, and keeps
the session cookie the app sets on its 302: every handshake carries it. The login is a row of its
own (`HTTP login`, named by the path). Neither passwords nor cookies are logged or written to the
run's artifacts. A refused login (`login refused`: a wrong password, a CSRF failure) is recorded,
and the user tries again a second later; a handshake answered 403 later makes it log in again.
"""

from __future__ import annotations

from locust import between, task

from chanload import WsUser  # brings the --ws-* and --login-* options, recording, thresholds and artifacts


class PrivateUser(WsUser):
    route = "ws/private/{group}/"
    groups = "lobby,backroom"
    login_url = "/accounts/login/"  # django.contrib.auth.views.LoginView
    wait_time = between(0.05, 0.1)

    @task
    def talk(self) -> None:
        ws = self.ws
        if not ws.connected:
            ws.connect()  # logs in first, once; the session cookie goes with every handshake
        ws.request({"id": ws.seq, "text": "hi"}, {"ok": True, "user": ws.username, "id": ws.seq}, step="talk")
