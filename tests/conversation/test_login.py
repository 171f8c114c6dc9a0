"""Logins before connecting, against Django's own LoginView under a real Daphne (tests/apps/foreign).

`ws.login` GETs the form, POSTs it with its CSRF token, keeps the cookies for every handshake, and is
one `HTTP login` row; every refusal is a `LoginRefused`, recorded and counted, its message free of secrets.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from chanload.conversation.session import Session
from chanload.exceptions import HandshakeRejected, LoginRefused, OptionError
from chanload.recording.types import CONNECT, LOGIN, MESSAGE
from chanload.wire import login as wire_login
from tests.servers import APPS_DIR, UNIT, daphne, dead_port, django_admin, foreign_app, free_port, wait_for_port

pytestmark = pytest.mark.e2e

PASSWORD = "pw-Secr3t-lobby"
LOGIN_PATH = "/accounts/login/"


@pytest.fixture(scope="module")
def foreign():
    with foreign_app() as server:
        django_admin(
            server.env, "shell", "-c",
            "from django.contrib.auth.models import User\n"
            f"User.objects.create_user('alice', password={PASSWORD!r})\n"
            f"User.objects.create_user('bob', password={PASSWORD!r})\n",
        )  # fmt: skip
        yield server


def rows(ws: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """(type, name) -> (samples, failures) as the HDR recorder holds them."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for piece in ws.recording.recorder.drain():
        count, failures = out.get(piece.key, (0, 0))
        out[piece.key] = (count + piece.histogram.get_total_count(), failures + piece.failures)
    return out


def lobby(host: str) -> Session:
    return Session(host, route="ws/lobby/", expect="json:{}", other="skip")


def test_a_form_login_gives_the_session_cookie_and_the_socket_talks_as_that_user(foreign):
    """GET the form, POST it with the CSRF token: Django's 302 sets sessionid; the handshake carries it."""
    ws = lobby(foreign.ws_url)
    ws.login(LOGIN_PATH, "alice", PASSWORD)
    assert set(ws.cookies) == {"sessionid", "csrftoken"} and ws.username == "alice"
    ws.connect()
    assert json.loads(ws.request({"command": "join", "room": 1}, {"join": "1"})) == {"join": "1"}
    reply = ws.request({"command": "send", "room": 1, "message": "hi"}, {"room": "1", "message": "hi"})
    assert json.loads(reply) == {"room": "1", "username": "alice", "message": "hi"}  # the app knows who we are
    assert rows(ws) == {(LOGIN, LOGIN_PATH): (1, 0), (CONNECT, "ws/lobby/"): (1, 0), (MESSAGE, "ws/lobby/"): (2, 0)}
    assert not ws.recording.ledger.failure_kinds
    ws.close()


def test_without_a_login_the_lobby_refuses_the_handshake(foreign):
    """The shape the login is for: AuthMiddlewareStack, and anonymous users closed before accept (403)."""
    ws = lobby(foreign.ws_url)
    with pytest.raises(HandshakeRejected) as info:
        ws.connect()
    assert info.value.status == 403


def test_a_wrong_password_is_a_refused_login_recorded_counted_and_never_shown(foreign):
    """Django shows the form again (200, no sessionid): login refused, one failed row, no cookie kept."""
    ws = lobby(foreign.ws_url)
    with pytest.raises(LoginRefused) as info:
        ws.login(LOGIN_PATH, "alice", "not-the-" + PASSWORD)
    message = str(info.value)
    assert message.startswith(f"login refused: POST {LOGIN_PATH} answered 200 without setting the sessionid cookie")
    assert "wrong username or password" in message and "--login-cookie" in message
    assert PASSWORD not in message and "alice" not in message
    assert info.value.status == 200 and info.value.kind == "login refused"
    assert "sessionid" not in ws.cookies and ws.login_failed
    assert rows(ws) == {(LOGIN, LOGIN_PATH): (0, 1)}
    assert ws.recording.ledger.failure_kinds == {"login refused": 1}
    assert ws.recording.ledger.connects == 0 and ws.recording.ledger.connect_failures == 0  # no handshake tried


def test_a_wrong_csrf_token_is_djangos_403_named_as_a_csrf_failure(foreign, monkeypatch):
    """The form's token replaced by a wrong one: Django's CSRF check refuses the POST, and the message says so."""
    monkeypatch.setattr(wire_login, "_hidden_fields", lambda html, field: {"csrfmiddlewaretoken": "x" * 64})
    ws = lobby(foreign.ws_url)
    with pytest.raises(LoginRefused, match=r"POST /accounts/login/ answered HTTP 403, CSRF verification failed"):
        ws.login(LOGIN_PATH, "alice", PASSWORD)


def test_the_form_token_and_cookie_are_what_django_checks(foreign):
    """Without the form's field the cookie's value stands in (Django accepts its secret); with neither, 403."""
    target = wire_login.HttpTarget(foreign.ws_url)
    page = wire_login._request(target, "GET", LOGIN_PATH, headers={}, timeout=5)
    fields = wire_login._hidden_fields(page.body.decode(), "password")
    assert page.status == 200 and len(fields["csrfmiddlewaretoken"]) == 64 and "csrftoken" in page.cookies
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": target.origin}
    posted = wire_login._request(target, "POST", LOGIN_PATH, body="username=alice", headers=headers, timeout=5)
    assert posted.status == 403 and b"CSRF" in posted.body


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/nowhere/", "login refused: GET /nowhere/ answered HTTP 404: give the path of the page with the login form"),
        ("/accounts/login", "login refused: GET /accounts/login answered HTTP 404"),
    ],
)
def test_a_path_that_is_not_the_form_is_refused_before_posting_anything(foreign, path, expected):
    ws = lobby(foreign.ws_url)
    with pytest.raises(LoginRefused) as info:
        ws.login(path, "alice", PASSWORD)
    assert str(info.value).startswith(expected) and info.value.status == 404


def test_an_api_login_that_takes_post_only_is_posted_without_a_form(foreign):
    """The app's csrf_exempt `login/` answers GET with 405 and the POST with 200 and the cookie: accepted."""
    ws = lobby(foreign.ws_url)
    ws.login("login/", "bob", PASSWORD)  # a leading / is added
    assert "sessionid" in ws.cookies
    ws.connect()
    ws.request({"command": "join", "room": 7}, {"join": "7"})
    ws.close()
    with pytest.raises(LoginRefused, match=r"answered HTTP 403 \(a wrong username or password\?\)"):
        ws.login("/login/", "bob", "nope")


def test_nothing_listening_is_a_refused_login_that_marks_the_target_unreachable():
    with dead_port() as port:
        ws = lobby(f"ws://127.0.0.1:{port}")
        with pytest.raises(LoginRefused, match=rf"GET /accounts/login/: nothing listens at 127.0.0.1:{port}") as info:
            ws.login(LOGIN_PATH, "alice", PASSWORD)
    assert info.value.unreachable and info.value.status is None
    assert ws.recording.ledger.last_refused_at > 0  # the run's status can say target_unreachable


def test_a_deferred_login_runs_in_the_first_connect_and_again_after_a_403(foreign):
    """defer=True: nothing before connect(); when the app forgets the session (403), the next connect logs in again."""
    ws = lobby(foreign.ws_url)
    ws.login(LOGIN_PATH, "alice", PASSWORD, defer=True)
    assert ws.username == "alice" and not ws.cookies and rows(ws) == {}
    ws.connect()
    ws.request({"command": "join", "room": 2}, {"join": "2"})
    ws.close()
    django_admin(
        foreign.env, "shell", "-c", "from django.contrib.sessions.models import Session; Session.objects.all().delete()"
    )
    with pytest.raises(HandshakeRejected):
        ws.connect()  # the old cookie: the app answers 403
    ws.connect()  # logs in again first
    ws.request({"command": "join", "room": 2}, {"join": "2"})
    ws.close()
    assert rows(ws) == {(LOGIN, LOGIN_PATH): (2, 0), (CONNECT, "ws/lobby/"): (2, 1), (MESSAGE, "ws/lobby/"): (2, 0)}


def test_a_refused_deferred_login_fails_the_connect_before_any_handshake(foreign):
    ws = lobby(foreign.ws_url)
    ws.login(LOGIN_PATH, "alice", "wrong", defer=True)
    with pytest.raises(LoginRefused):
        ws.connect()
    assert not ws.connected and ws.login_failed
    assert rows(ws) == {(LOGIN, LOGIN_PATH): (0, 1)}  # no WS connect row: no handshake was tried


def test_the_session_cookie_goes_with_per_call_cookies_and_a_login_row_can_be_named(foreign):
    ws = lobby(foreign.ws_url)
    ws.login(LOGIN_PATH, "bob", PASSWORD, step="sign in")
    ws.connect(cookies={"theme": "dark"})  # added to the login's cookies, not instead of them
    ws.request({"command": "join", "room": 3}, {"join": "3"})
    ws.close()
    assert (LOGIN, "sign in") in rows(ws)


# Tokens: DRF's obtain_auth_token, and a lobby that takes the token from a header or the query string


def api_lobby(host: str) -> Session:
    return Session(host, route="ws/api/lobby/", expect="json:{}", other="skip")


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_a_token_login_puts_the_token_in_a_header_of_every_handshake(foreign, form):
    ws = api_lobby(foreign.ws_url)
    token = ws.login_token("/api-token-auth/", {"username": "alice", "password": PASSWORD}, form=form)
    assert token and len(token) == 40 and ws.auth_headers == [f"Authorization: Token {token}"] and not ws.auth_query
    assert ws.username == "alice"
    ws.connect()
    ws.request({"command": "join", "room": 4}, {"join": "4"})
    reply = ws.request({"command": "send", "room": 4, "message": "m"}, {"room": "4"})
    assert json.loads(reply)["username"] == "alice"
    ws.close()
    assert rows(ws)[(LOGIN, "/api-token-auth/")] == (1, 0)


def test_a_token_login_can_put_the_token_in_the_query_string_instead(foreign):
    ws = api_lobby(foreign.ws_url)
    token = ws.login_token("/api-token-auth/", {"username": "bob", "password": PASSWORD}, query="token")
    assert ws.auth_query == {"token": token} and not ws.auth_headers
    ws.connect()
    assert json.loads(ws.request({"command": "join", "room": 5}, {"join": "5"})) == {"join": "5"}
    ws.close()


def test_without_a_token_the_api_lobby_refuses_the_handshake(foreign):
    with pytest.raises(HandshakeRejected):
        api_lobby(foreign.ws_url).connect()


def test_a_refused_token_login_names_the_status_not_the_password(foreign):
    ws = api_lobby(foreign.ws_url)
    with pytest.raises(LoginRefused) as info:
        ws.login_token("/api-token-auth/", {"username": "alice", "password": "wrong-" + PASSWORD})
    assert str(info.value) == "login refused: POST /api-token-auth/ answered HTTP 400 (a wrong username or password?)"
    assert ws.recording.ledger.failure_kinds == {"login refused": 1} and not ws.auth_headers
    with pytest.raises(LoginRefused, match=r"answered 200 without a 'access' string in a JSON object: give field="):
        ws.login_token("/api-token-auth/", {"username": "alice", "password": PASSWORD}, field="access")


def test_a_token_header_must_say_where_the_token_goes():
    ws = api_lobby("ws://127.0.0.1:9")
    with pytest.raises(OptionError, match=r"header='Token': expected 'Name: \.\.\.\{token\}\.\.\.'"):
        ws.login_token("/api-token-auth/", {}, header="Token")


def test_a_403_right_after_a_fresh_login_does_not_log_in_again(foreign):
    """Logging in again helps only when a session that worked has ended: a route that refuses this user anyway
    (here: the token lobby, which ignores the session cookie) is not answered by a login per handshake."""
    ws = api_lobby(foreign.ws_url)
    ws.login(LOGIN_PATH, "alice", PASSWORD)
    for _ in range(3):
        with pytest.raises(HandshakeRejected):
            ws.connect()
    assert rows(ws) == {(LOGIN, LOGIN_PATH): (1, 0), (CONNECT, "ws/api/lobby/"): (0, 3)}


# Over https: Django's CSRF check wants a Referer of the same origin there


@pytest.fixture(scope="module")
def tls_foreign(foreign, tmp_path_factory):
    """The same app and database, served by Daphne over TLS too (a self-signed certificate this test trusts)."""
    tmp = tmp_path_factory.mktemp("tls")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    endpoint = f"ssl:{port}:privateKey={key}:certKey={cert}:interface=127.0.0.1"
    with daphne("foreign.asgi:application", cwd=APPS_DIR, env=foreign.env, args=("-e", endpoint)) as server:
        wait_for_port(port, server.proc, 20 * UNIT)
        yield f"wss://127.0.0.1:{port}", str(cert)


def test_over_https_the_login_sends_the_referer_django_checks(tls_foreign, monkeypatch):
    """wss:// -> https://: the login passes Django's https Referer check, and the wss handshake carries the cookie."""
    host, cert = tls_foreign
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # ssl.create_default_context() reads it
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", cert)  # websocket-client's own
    ws = lobby(host)
    ws.login(LOGIN_PATH, "alice", PASSWORD)
    ws.connect()
    reply = ws.request({"command": "send", "room": 9, "message": "x"}, "re:.*")
    assert json.loads(reply) == {"error": "ROOM_ACCESS_DENIED"}  # logged in (an anonymous handshake is refused)
    ws.close()
    # The same POST without the Referer: what Django does over https, and why the login sends one.
    target = wire_login.HttpTarget(host)
    page = wire_login._request(target, "GET", LOGIN_PATH, headers={}, timeout=5)
    token = wire_login._hidden_fields(page.body.decode(), "password")["csrfmiddlewaretoken"]
    body = f"username=alice&password={PASSWORD}&csrfmiddlewaretoken={token}"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={page.cookies['csrftoken']}"}
    bare = wire_login._request(target, "POST", LOGIN_PATH, body=body, headers=headers, timeout=5)
    assert bare.status == 403 and b"Referer" in bare.body


def test_an_untrusted_certificate_is_a_refused_login_saying_tls(tls_foreign):
    host, _cert = tls_foreign
    with pytest.raises(LoginRefused, match=r"GET /accounts/login/: TLS failed \(CERTIFICATE_VERIFY_FAILED\)"):
        lobby(host).login(LOGIN_PATH, "alice", PASSWORD)
