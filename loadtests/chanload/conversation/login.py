"""Logging a session in over HTTP before it connects: timed, recorded and counted like any step.

A `Session`'s `login` (a Django form login) and `login_token` (a token endpoint, DRF's
`obtain_auth_token` shape) are made here. The whole login (the form's GET and the POST) is one
`HTTP login` row, named by its path. What it gives goes with every later handshake of the session:
the cookies (`Cookie:`), or the token in a header or the query string. Once a handshake has succeeded
with them, one answered 401 or 403 makes the next `connect()` log in again first (a session the app
has ended); right after a fresh login it does not (logging in again would not help).

A `Login` returns what it obtained (`Obtained`: cookies, a header or a query): the session applies it.

`Accounts` reads a `--credentials` file and hands its `username,password` lines out in turn.
Passwords, cookies and tokens are kept in memory only: no repr, message or log line here shows one.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chanload.conversation.masking import SECRET_HEADER, Masker
from chanload.conversation.recording import Recording
from chanload.exceptions import LoginRefused, OptionError, StepError, WsError
from chanload.recording.types import LOGIN
from chanload.wire.defaults import DEFAULTS
from chanload.wire.login import HttpTarget, form_login, token_login


class Accounts:
    """`username,password` pairs, handed out in turn (`next()`): the first user gets the first line, and so on.

    With more users than lines, the lines are taken again from the first. Each process hands them out
    on its own (with Locust workers, every worker starts at the first line).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]], source: str = "") -> None:
        self._pairs = list(pairs)
        if not self._pairs:
            raise OptionError(f"--credentials {source}: no username,password lines".replace("  ", " "))
        self.source = source
        self._turn = itertools.cycle(self._pairs)

    @classmethod
    def read(cls, path: str, option: str = "--credentials") -> Accounts:
        """Read a CSV file of `username,password` lines (quoting as CSV; blank and `#` lines, and a first
        line `username,password`, skipped); an OptionError says what is wrong, never with a password in it."""
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                lines = list(f)
        except OSError as exc:
            raise OptionError(f"{option} {path!r}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        except UnicodeDecodeError:
            raise OptionError(f"{option} {path!r}: not UTF-8 text") from None
        pairs: list[tuple[str, str]] = []
        for number, row in _rows(lines):
            if not pairs and [cell.strip().lower() for cell in row] == ["username", "password"]:
                continue  # a header line
            if len(row) != 2 or not row[0].strip() or not row[1]:
                raise OptionError(
                    f"{option} {path!r} line {number}: expected 'username,password' (two non-empty CSV fields), "
                    f"got {len(row)} field{'s' if len(row) != 1 else ''}{' with an empty one' if len(row) == 2 else ''}"
                )
            pairs.append((row[0].strip(), row[1]))
        if not pairs:
            raise OptionError(f"{option} {path!r}: no username,password lines in it")
        return cls(pairs, path)

    def next(self) -> tuple[str, str]:
        """The next (username, password), in turn."""
        return next(self._turn)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"Accounts({len(self._pairs)} from {self.source!r})"  # never the passwords


def _rows(lines: list[str]) -> Iterable[tuple[int, list[str]]]:
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        (row,) = list(csv.reader([line], skipinitialspace=True)) or [[]]
        yield number, row


@dataclass(frozen=True, repr=False)
class Obtained:
    """What a login obtained, for every later handshake; None: what the session had stays.

    `cookies` replace the session's cookies (a form login); `headers` and `query` its token's header or
    query parameters (a token login), `token` the token itself. Never shown: no repr.
    """

    cookies: Mapping[str, str] | None = None
    headers: tuple[str, ...] | None = None
    query: Mapping[str, str] | None = None
    token: str | None = None

    def secrets(self) -> list[str]:
        """The values a trace or a failure note must never show."""
        found = [*(self.cookies or {}).values(), *(self.query or {}).values()]
        return [*found, *([self.token] if self.token else [])]

    def __repr__(self) -> str:
        return "Obtained(...)"


class Login:
    """A login a session runs before connecting (now, or at the next `connect()`), and again after a 401/403.

    `username` is the account's (None: not known); `secrets` what the caller gave that is secret (the password).
    """

    def __init__(
        self,
        path: str,
        run: Callable[[HttpTarget, float], Obtained],
        name: str | None = None,
        *,
        username: str | None = None,
        secrets: Iterable[object] = (),
    ) -> None:
        self.path = path
        self.name = name or path
        self.username = username
        self.secrets = [value for value in secrets if isinstance(value, str)]
        self._run = run  # holds the secrets in its closure
        self.due = True  # to run before the next connect
        self.worked = False  # a handshake has succeeded since: a later 401/403 means the session ended

    def __call__(self, recording: Recording, host: str, timeout: float) -> Obtained:
        """Log in: one `HTTP login` row; a `LoginRefused` is recorded, counted, then raised."""
        start = time.perf_counter()
        try:
            result = self._run(HttpTarget(host), timeout)
        except Exception as exc:
            # Anything else raised in a login is a failure of it too, named by its class alone (its message
            # might hold what was posted).
            error = exc if isinstance(exc, WsError) else StepError("login", exc, "")
            recording.ledger.failure_kinds[error.kind] += 1
            if isinstance(error, LoginRefused) and error.unreachable:
                recording.ledger.last_refused_at = time.time()
            recording.fire(LOGIN, self.name, time.perf_counter() - start, 0, error)
            if error is exc:
                raise
            raise error from exc
        recording.fire(LOGIN, self.name, time.perf_counter() - start, 0, None)
        self.due = self.worked = False
        return result

    def __repr__(self) -> str:
        return f"Login({self.path!r})"


def form(
    path: str,
    username: str,
    password: str,
    cookie: str,
    fields: tuple[str, str],
    step: str | None,
) -> Login:
    """A form login: it obtains the cookies the app sets."""
    path = login_path(path, "path")

    def run(target: HttpTarget, timeout: float) -> Obtained:
        return Obtained(cookies=form_login(target, path, username, password, cookie=cookie, timeout=timeout,
                                           fields=fields))  # fmt: skip

    return Login(path, run, step, username=username, secrets=[password])


def token(
    path: str,
    data: Mapping[str, object],
    field: str,
    header: str | None,
    query: str | None,
    form_encoded: bool,
    step: str | None,
) -> Login:
    """A token login whose token goes into a header or the query string of every later handshake."""
    path = login_path(path, "path")
    if query is None and (header is None or "{token}" not in header or ":" not in header.split("{token}")[0]):
        raise OptionError(f"header={header!r}: expected 'Name: ...{{token}}...', e.g. 'Authorization: Token {{token}}'")
    if query is not None and not query:
        raise OptionError("query='': give the query parameter's name, e.g. query='token'")
    data = dict(data)

    def run(target: HttpTarget, timeout: float) -> Obtained:
        value = token_login(target, path, data, field=field, form=form_encoded, timeout=timeout)
        if query is not None:
            return Obtained(headers=(), query={query: value}, token=value)
        assert header is not None
        return Obtained(headers=(header.replace("{token}", value),), query={}, token=value)

    username = data.get("username")
    secret = [value for key, value in data.items() if SECRET_HEADER.search(str(key))]
    return Login(path, run, step, username=username if isinstance(username, str) else None, secrets=secret)


class LoggingIn:
    """A `Session`'s logins: `login`, `login_token`, and what they obtained applied. A part of `Session`."""

    # The session's, set in Session.__init__.
    recording: Recording
    observers: tuple[Any, ...]
    host: str
    connect_timeout: float
    cookies: dict[str, str]
    auth_headers: list[str]
    auth_query: dict[str, str]
    username: str
    login_failed: bool
    _login: Login | None

    @property
    def masker(self) -> Masker:
        raise NotImplementedError

    def login(
        self,
        path: str,
        username: str,
        password: str,
        *,
        cookie: str = DEFAULTS.login_cookie,
        fields: tuple[str, str] = ("username", "password"),
        defer: bool = False,
        step: str | None = None,
    ) -> None:
        """Log in through a login form (Django's `LoginView`) at `path` on the host's http twin (ws -> http).

        GETs the form, POSTs it with its CSRF token, and takes the cookies the app sets: every later
        handshake carries them. One `HTTP login` row (named `step`, default the path); a refusal is
        recorded, counted and raised as `LoginRefused`. `defer`: at the next `connect()` instead of now.
        A handshake answered 401 or 403 after the login's cookies have worked makes the next `connect()` log
        in again first (not right after a fresh login: logging in again would not help).
        """
        self._login = login = form(path, username, password, cookie, fields, step)
        self.username = username
        if self.observers:
            for secret in login.secrets:
                self.masker.add(secret)
        if not defer:
            self._log_in(login)

    def login_token(
        self,
        path: str,
        data: Mapping[str, object],
        *,
        field: str = "token",
        header: str | None = "Authorization: Token {token}",
        query: str | None = None,
        form: bool = False,
        defer: bool = False,
        step: str | None = None,
    ) -> str | None:
        """Log in at a token endpoint (DRF's `obtain_auth_token`): POST `data` (JSON; `form`: form-encoded).

        The token is `field` of the JSON reply. Every later handshake carries it in `header` (its
        `{token}` filled), or, with `query`, in the query string under that name instead. Recorded as
        `login` does; returns the token (None with `defer`).
        """
        self._login = login = token(path, data, field, header, query, form, step)
        if login.username is not None:
            self.username = login.username
        if self.observers:
            for secret in login.secrets:
                self.masker.add(secret)
        if defer:
            return None
        return self._log_in(login).token

    def _log_in(self, login: Login) -> Obtained:
        """Run `login` (recorded as `HTTP login`) and apply what it obtained to every later handshake."""
        start = time.perf_counter()
        try:
            got = login(self.recording, self.host, self.connect_timeout)
        except Exception as exc:
            self.login_failed = True
            for observer in self.observers:
                observer.logged_in(self, login, time.perf_counter() - start, None, exc)
            raise
        self.login_failed = False
        if got.cookies is not None:
            self.cookies.clear()
            self.cookies.update(got.cookies)
        if got.headers is not None:
            self.auth_headers = list(got.headers)
        if got.query is not None:
            self.auth_query = dict(got.query)
        if self.observers:
            masker = self.masker
            for secret in got.secrets():
                masker.add(secret)
            for header in self.auth_headers:
                masker.add_header(header)
            for observer in self.observers:
                observer.logged_in(self, login, time.perf_counter() - start, got, None)
        return got


def login_path(path: str, option: str) -> str:
    """A login path on the target's server: '/accounts/login/' (a leading '/' is added)."""
    if not isinstance(path, str) or not path.strip() or "://" in path or any(c.isspace() for c in path):
        raise OptionError(
            f"{option} {path!r}: expected the login page's path on the target's server, e.g. /accounts/login/"
        )
    return "/" + path.lstrip("/")
