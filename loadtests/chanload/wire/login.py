"""HTTP logins before connecting: a Django form login (`LoginView`'s shape) and a token endpoint (DRF's shape).

The login goes to the http twin of the websocket host (ws -> http, wss -> https), over plain
`http.client`: under Locust, gevent has patched the sockets, so a wait yields to the other users.
No redirect is followed: a login answers with its cookie on the 302 itself.

Every failure is a `LoginRefused` whose message names the request (`POST /accounts/login/`), the
status and what to fix. It never holds a password, a cookie, a token or a username: Locust groups
failures by message, and a message is shown on the console and written to the reports.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

from chanload.exceptions import LoginRefused
from chanload.wire.defaults import DEFAULTS

MAX_BODY = 1 << 20  # bytes of an answer read: a login page or a token reply is far smaller
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpTarget:
    """The http twin of a websocket host: `ws://h:p` -> `http://h:p`, `wss://h:p` -> `https://h:p`."""

    def __init__(self, ws_host: str) -> None:
        parts = urlsplit(ws_host)
        self.tls = parts.scheme in ("wss", "https")
        self.hostname = parts.hostname or ""
        default = 443 if self.tls else 80
        self.port = parts.port or default
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.server = f"{host}:{self.port}"
        # As http.client writes the Host header (no default port): Django compares Origin and Referer with it.
        self.origin = f"{'https' if self.tls else 'http'}://{host}{'' if self.port == default else f':{self.port}'}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(
                self.hostname, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)


class _Answer:
    def __init__(self, status: int, cookies: dict[str, str | None], body: bytes) -> None:
        self.status = status
        self.cookies = cookies  # name -> value, None for a cookie the answer deletes
        self.body = body


def form_login(
    target: HttpTarget,
    path: str,
    username: str,
    password: str,
    *,
    cookie: str = DEFAULTS.login_cookie,
    timeout: float = DEFAULTS.connect_timeout,
    fields: tuple[str, str] = ("username", "password"),
) -> dict[str, str]:
    """Log in through a login form page; returns the cookies the app set (the session cookie, `csrftoken`).

    GET `path`: keep its cookies, and the hidden fields of the form with the password field (Django's
    `csrfmiddlewaretoken`; where the page has no such field, the `csrftoken` cookie's value). A page
    that answers 405 takes POST only (an API login): it is posted without a form. Then POST the fields
    with the username and password, the cookies, a `Referer` (Django checks it over https) and an
    `Origin`, and accept an answer (200 or a redirect, not followed) that sets the `cookie`.
    """
    jar: dict[str, str] = {}
    page = _request(target, "GET", path, headers={"Accept": "text/html,*/*"}, timeout=timeout)
    _keep(jar, page.cookies)
    if page.status == 200:
        form = _hidden_fields(page.body.decode("utf-8", "replace"), fields[1])
    elif page.status == 405:
        form = {}
    else:
        raise LoginRefused(
            f"GET {path}",
            f"answered HTTP {page.status}",
            page.status,
            hint="a redirect" if page.status in _REDIRECTS else "",
            fix="give the path of the page with the login form",
        )
    if "csrfmiddlewaretoken" not in form and "csrftoken" in jar:
        form["csrfmiddlewaretoken"] = jar["csrftoken"]
    body = urlencode({**form, fields[0]: username, fields[1]: password})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "text/html,*/*",
        "Referer": f"{target.origin}{path}",
        "Origin": target.origin,
    }
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    answer = _request(target, "POST", path, body=body, headers=headers, timeout=timeout)
    _keep(jar, answer.cookies)
    took = bool(answer.cookies.get(cookie))
    if answer.status in (200, *_REDIRECTS) and took:
        return jar
    if answer.status == 200:
        raise LoginRefused(
            f"POST {path}",
            f"answered 200 without setting the {cookie} cookie",
            200,
            fix="the form came back (a wrong username or password?); if the app's SESSION_COOKIE_NAME is another, "
            "give it as --login-cookie",
        )
    if answer.status in _REDIRECTS:
        raise LoginRefused(
            f"POST {path}",
            f"answered {answer.status} without setting the {cookie} cookie",
            answer.status,
            hint="a redirect back to the form?",
            fix="check the credentials, and --login-cookie against the app's SESSION_COOKIE_NAME",
        )
    if answer.status == 403 and b"CSRF" in answer.body:
        raise LoginRefused(
            f"POST {path}",
            "answered HTTP 403, CSRF verification failed",
            403,
            fix="give the path of the page that shows the form (it sets the csrftoken cookie and the "
            "csrfmiddlewaretoken field); over https, the app's CSRF_TRUSTED_ORIGINS must hold the host",
        )
    raise LoginRefused(
        f"POST {path}", f"answered HTTP {answer.status}", answer.status, hint=_credentials(answer.status)
    )


def token_login(
    target: HttpTarget,
    path: str,
    data: Mapping[str, object],
    *,
    field: str = "token",
    form: bool = False,
    timeout: float = DEFAULTS.connect_timeout,
) -> str:
    """POST `data` (JSON, or form-encoded with `form`) and return the token under `field` of the JSON answer.

    DRF's `obtain_auth_token` answers `{"token": "..."}` with 200, and 400 to wrong credentials.
    """
    if form:
        body = urlencode({k: str(v) for k, v in data.items()})
        kind = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(dict(data))
        kind = "application/json"
    headers = {"Content-Type": kind, "Accept": "application/json", "Origin": target.origin}
    answer = _request(target, "POST", path, body=body, headers=headers, timeout=timeout)
    if answer.status not in (200, 201):
        raise LoginRefused(
            f"POST {path}", f"answered HTTP {answer.status}", answer.status, hint=_credentials(answer.status)
        )
    try:
        reply = json.loads(answer.body)
    except ValueError:
        reply = None
    token = reply.get(field) if isinstance(reply, dict) else None
    if not isinstance(token, str) or not token:
        raise LoginRefused(
            f"POST {path}",
            f"answered {answer.status} without a {field!r} string in a JSON object",
            answer.status,
            fix="give field= the key the token is under",
        )
    return token


def _credentials(status: int) -> str:
    """The likely cause of a refused POST: the credentials, for the statuses an app answers wrong ones with."""
    return "a wrong username or password?" if status in (400, 401, 403) else ""


def _request(
    target: HttpTarget, method: str, path: str, *, headers: dict[str, str], timeout: float, body: str | None = None
) -> _Answer:
    conn = target.connection(timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read(MAX_BODY)
        cookies = _set_cookies(resp.headers.get_all("Set-Cookie") or [])
        return _Answer(resp.status, cookies, data)
    except ConnectionRefusedError:
        raise LoginRefused(f"{method} {path}", f"nothing listens at {target.server}", unreachable=True) from None
    except TimeoutError:
        raise LoginRefused(f"{method} {path}", f"no answer within {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise LoginRefused(f"{method} {path}", "TLS failed", hint=exc.reason or type(exc).__name__) from None
    except (OSError, http.client.HTTPException) as exc:
        raise LoginRefused(f"{method} {path}", "the connection failed", hint=type(exc).__name__) from None
    finally:
        conn.close()


def _keep(jar: dict[str, str], cookies: Mapping[str, str | None]) -> None:
    for name, value in cookies.items():
        if value is None:
            jar.pop(name, None)
        else:
            jar[name] = value


_MAX_AGE_0 = re.compile(r";\s*max-age\s*=\s*0\s*(?:;|$)", re.I)


def _set_cookies(headers: list[str]) -> dict[str, str | None]:
    """name -> value of each Set-Cookie header; None for a cookie it deletes (empty, or Max-Age=0)."""
    out: dict[str, str | None] = {}
    for header in headers:
        first, _, _attrs = header.partition(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[name] = None if not value or _MAX_AGE_0.search(header) else value
    return out


class _Forms(HTMLParser):
    """The hidden inputs of each <form>, and whether it holds the password field."""

    def __init__(self, password_field: str) -> None:
        super().__init__()
        self.password_field = password_field
        self.forms: list[tuple[dict[str, str], bool]] = []
        self.loose: dict[str, str] = {}  # hidden inputs outside any form
        self._current: dict[str, str] | None = None
        self._password = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self._current, self._password = {}, False
            return
        if tag != "input":
            return
        a = {k: v or "" for k, v in attrs}
        if a.get("name") == self.password_field:
            self._password = True
        if a.get("type", "").lower() == "hidden" and a.get("name"):
            (self.loose if self._current is None else self._current)[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append((self._current, self._password))
            self._current = None


def _hidden_fields(html: str, password_field: str) -> dict[str, str]:
    """The hidden fields to post: those of the form with the password field, else of the first form."""
    parser = _Forms(password_field)
    parser.feed(html)
    parser.close()
    if parser._current is not None:  # a form left open
        parser.forms.append((parser._current, parser._password))
    for hidden, has_password in parser.forms:
        if has_password:
            return dict(hidden)
    return dict(parser.forms[0][0]) if parser.forms else dict(parser.loose)
