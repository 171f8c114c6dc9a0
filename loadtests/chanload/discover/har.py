"""A HAR file read for its websocket entries: handshake, frames, the login before it, and the values to keep secret.

Two writers lay websocket entries out the same way, and both are read here:
- Chrome DevTools' "Save all as HAR (with content)" (since Chrome 76): `_resourceType: "websocket"`, the entry's
  `request.url` a `ws://` or `wss://` URL, `_webSocketMessages: [{type: "send"|"receive", time, opcode, data}]`
  with `time` in seconds since the epoch (a float) and `opcode` 1 (text) or 2 (binary, `data` in base64);
- mitmproxy's `hardump` (`mitmdump --set hardump=FILE`): the same `_webSocketMessages`, the entry's URL as the
  upgrade request's `http://` or `https://` URL.

Every cookie value, credential header, token in a query string and password (or CSRF token) of a form in the
file is collected in `Har.secrets`: what is written from a recording is checked against them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from chanload.exceptions import ChanloadError


class HarError(ChanloadError):
    """A HAR file that cannot be read or turned into a load; the message says what to do instead."""


TEXT, BINARY = 1, 2
# Names whose values are credentials: in a query string, a form, a JSON body, a header.
_SECRET_NAME = re.compile(r"token|pass|secret|key|auth|session|csrf|jwt|sig|cookie|credential", re.IGNORECASE)
_USER_FIELD = ("username", "user", "email", "login")
_MIN_SECRET = 4  # shorter values ("1", "on") are not searched for: they would mask ordinary text


@dataclass(frozen=True)
class Frame:
    sent: bool  # sent by the browser (True) or received from the server
    time: float  # seconds since the epoch
    opcode: int  # 1 text, 2 binary
    data: str  # the text; base64 for a binary frame


@dataclass(frozen=True)
class Login:
    """The POST before the websocket that gave what its upgrade carried: a cookie it set (a form login), or a
    token its JSON answer held (`field`), carried in the `header` (its `{token}` in place) or the `query`."""

    path: str
    cookie: str
    username: str | None
    field: str | None = None  # a token login: the answer's field holding the token
    header: str | None = None  # e.g. "Authorization: Token {token}"
    query: str | None = None  # the query-string name that carried the token instead
    form: bool = False  # the token login's POST was form-encoded (else JSON)
    fields: tuple[str, ...] = ("username", "password")  # the POST's fields for the account


@dataclass
class Socket:
    """One websocket entry: its handshake and frames, in the order recorded."""

    url: str  # ws:// or wss://
    started: float
    request_headers: list[tuple[str, str]]
    response_headers: list[tuple[str, str]]
    frames: list[Frame]
    index: int  # the entry's position in the file's log.entries
    login: Login | None = None

    def header(self, name: str, response: bool = False) -> str | None:
        headers = self.response_headers if response else self.request_headers
        values = [v for n, v in headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def shown(self) -> str:
        """The URL as messages show it: without its query string, where tokens go."""
        return urlsplit(self.url)._replace(query="").geturl() + ("?..." if urlsplit(self.url).query else "")

    @property
    def host(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    @property
    def cookie_names(self) -> list[str]:
        return [name for name, _ in _cookies(self.header("Cookie") or "")]

    @property
    def subprotocols(self) -> tuple[str, ...]:
        """The subprotocol the server accepted (Sec-WebSocket-Protocol of the 101); none: ()."""
        picked = (self.header("Sec-WebSocket-Protocol", response=True) or "").strip()
        return (picked,) if picked else ()

    @property
    def extensions(self) -> str:
        return (self.header("Sec-WebSocket-Extensions", response=True) or "").strip()


@dataclass
class Har:
    path: str
    sockets: list[Socket]
    entries: int
    secrets: set[str] = field(default_factory=set)

    def mask(self, text: str) -> str:
        """`text` with every secret value of the file replaced by FILL_IN (longest first)."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "FILL_IN")
        return text

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)


def read(path: str | Path) -> Har:
    """The websocket entries of a HAR file; HarError if it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HarError(f"{path}: not a HAR file (JSON): {exc}") from None
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise HarError(f"{path}: not a HAR file: no log.entries list")
    har = Har(str(path), [], len(entries))
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            har.secrets |= _secrets(entry)
            if _is_websocket(entry):
                har.sockets.append(_socket(entry, i))
    har.secrets = {s for s in har.secrets if len(s) >= _MIN_SECRET}
    for socket in har.sockets:
        socket.login = _login(entries, socket)
    return har


def _is_websocket(entry: dict) -> bool:
    if entry.get("_resourceType") == "websocket" or "_webSocketMessages" in entry:
        return True
    headers = _headers(entry.get("request", {}))
    return any(n.lower() == "upgrade" and v.lower() == "websocket" for n, v in headers)


def _socket(entry: dict, index: int) -> Socket:
    request, response = entry.get("request", {}), entry.get("response", {})
    url = str(request.get("url", ""))
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    frames = []
    for message in entry.get("_webSocketMessages") or []:
        kind = message.get("type")
        if kind not in ("send", "receive"):
            continue
        frames.append(
            Frame(kind == "send", float(message.get("time") or 0.0), int(message.get("opcode", 1)), message["data"])
        )
    return Socket(
        url=parts._replace(scheme=scheme).geturl(),
        started=_time(entry.get("startedDateTime")),
        request_headers=_headers(request),
        response_headers=_headers(response),
        frames=frames,
        index=index,
    )


def _time(text) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _headers(part: dict) -> list[tuple[str, str]]:
    return [(str(h.get("name", "")), str(h.get("value", ""))) for h in part.get("headers") or [] if isinstance(h, dict)]


def _cookies(header: str) -> list[tuple[str, str]]:
    pairs = []
    for piece in header.split(";"):
        name, sep, value = piece.strip().partition("=")
        if sep and name:
            pairs.append((name.strip(), value.strip()))
    return pairs


def _set_cookies(response: dict) -> list[tuple[str, str]]:
    pairs = [(str(c.get("name", "")), str(c.get("value", ""))) for c in response.get("cookies") or []]
    for name, value in _headers(response):
        if name.lower() == "set-cookie":
            for line in value.split("\n"):  # Chrome joins several Set-Cookie headers with newlines
                first = line.split(";", 1)[0]
                cookie, sep, val = first.partition("=")
                if sep:
                    pairs.append((cookie.strip(), val.strip()))
    return pairs


def _secrets(entry: dict) -> set[str]:
    """Every credential-like value of one entry: cookies, credential headers, query and form fields."""
    found: set[str] = set()
    request, response = entry.get("request", {}), entry.get("response", {})
    for part in (request, response):
        for cookie in part.get("cookies") or []:
            found.add(str(cookie.get("value", "")))
    for name, value in _headers(request) + _headers(response):
        low = name.lower()
        if low == "cookie":
            found |= {v for _, v in _cookies(value)}
        elif low == "set-cookie":
            found |= {v for _, v in _set_cookies({"headers": [{"name": name, "value": value}]})}
        elif low.startswith((":", "sec-websocket-")):  # HTTP/2 pseudo-headers (:authority), the handshake's own
            continue
        elif low in ("authorization", "proxy-authorization") or _SECRET_NAME.search(low):
            found.add(value)
            found |= set(value.split()[1:])  # "Token KEY", "Bearer JWT": the credential alone too
    for url in (request.get("url", ""), response.get("redirectURL", "")):
        found |= {v for n, v in parse_qsl(urlsplit(str(url)).query) if _SECRET_NAME.search(n)}
    post = request.get("postData") or {}
    params = [(str(p.get("name", "")), str(p.get("value", ""))) for p in post.get("params") or []]
    text = str(post.get("text") or "")
    params += parse_qsl(text) if "=" in text and not text.lstrip().startswith(("{", "[")) else []
    found |= {v for n, v in params if _SECRET_NAME.search(n)}
    found |= _json_secrets(text)
    if entry.get("_resourceType") != "websocket":  # tokens in a login's answer: {"token": "..."}
        found |= _json_secrets(str((response.get("content") or {}).get("text") or ""))
    return found


def _json_secrets(text: str) -> set[str]:
    if not text.lstrip().startswith(("{", "[")):
        return set()
    try:
        doc = json.loads(text)
    except ValueError:
        return set()
    found: set[str] = set()

    def walk(value, name: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, name)
        elif isinstance(value, str) and _SECRET_NAME.search(name):
            found.add(value)

    walk(doc)
    return found


def _login(entries: list, socket: Socket) -> Login | None:
    """The last POST before the socket's upgrade whose answer set a (non-CSRF) cookie the upgrade carried, or
    whose JSON answer held the token the upgrade carried (in a header or its query string)."""
    carried = {name for name in socket.cookie_names if "csrf" not in name.lower()}
    found = None
    for entry in entries[: socket.index]:
        request = entry.get("request", {}) if isinstance(entry, dict) else {}
        if str(request.get("method", "")).upper() != "POST":
            continue
        post = request.get("postData") or {}
        text = str(post.get("text") or "")
        params = [(str(p.get("name", "")), str(p.get("value", ""))) for p in post.get("params") or []]
        body = _json_object(text)
        params += [(str(k), str(v)) for k, v in body.items()] if body else parse_qsl(text)
        username = next((v for n, v in params if n.lower() in _USER_FIELD and v), None)
        path = urlsplit(str(request.get("url", ""))).path or "/"
        set_names = [name for name, _ in _set_cookies(entry.get("response", {})) if name in carried]
        if set_names:
            found = Login(path, set_names[0], username)
            continue
        answer = _json_object(str((entry.get("response", {}).get("content") or {}).get("text") or ""))
        for field_name, token in (answer or {}).items():
            if not isinstance(token, str) or len(token) < _MIN_SECRET:
                continue
            fields = tuple(n for n, _ in params if n.lower() in _USER_FIELD or "pass" in n.lower()) or None
            header = next(
                (f"{n}: {v.replace(token, '{token}')}" for n, v in socket.request_headers if token in v), None
            )
            query = next((n for n, v in socket.query if v == token), None)
            if header or query:
                form = body is None
                found = Login(path, "", username, str(field_name), None if query else header, query, form,
                              fields or ("username", "password"))  # fmt: skip
    return found


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text) if text.lstrip().startswith("{") else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
