"""Secrets written `***`: one `Masker` per observed session, fed by the session (`Session.masker`).

What is masked: the values of JSON keys and `key=value` pairs named like a password, token, secret,
authorization, cookie, csrf* or session id; every value in a URL's query string (`mask_url`); the values of
`Cookie`, `Authorization` and other credential headers, sent or received; and anywhere in a text, the
session's known secrets (a login's password, the cookies and token it obtained, those header values).
Secrets shorter than MIN_SECRET characters are not searched for (they would mask ordinary text).
The trace (`--ws-trace`) and a behaviour test's failure notes both show frames through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET = 4  # shorter known secrets are not searched for in text

_WORDS = r"passw(?:or)?d|passphrase|secret|token|authori[sz]ation|cookie|csrf|session_?id|api_?key"
_NAMES = r"[^\"'=&;,\s]*?(?:" + _WORDS + r")[^\"'=&;,\s]*"
_QUOTED_KEY = re.compile(
    r"""(?P<key>(?P<q>["'])""" + _NAMES + r"""(?P=q)\s*:\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^,}\]\s]+)""",
    re.IGNORECASE,
)
_PAIR = re.compile(r"(?P<key>(?<![\w-])" + _NAMES + r"=)(?P<value>[^&;,\s\"']+)", re.IGNORECASE)
SECRET_HEADER = re.compile(r"cookie|authori[sz]ation|token|secret|csrf|api[-_]?key|session|passw", re.IGNORECASE)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    end = quote if len(value) > 1 and value.endswith(quote) else ""  # a value cut short stays open
    return match.group("key") + quote + MASK + end


class Masker:
    """Writes secrets as `***` in a text: named values (JSON keys, key=value pairs) and the known secrets."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self._known: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: object) -> None:
        """A value to mask wherever it appears (ignored when shorter than MIN_SECRET characters)."""
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET:
            self.secrets.add(value.strip())

    def add_header(self, header: str) -> None:
        """The value of a credential header 'Name: value' (and each cookie's value, and a scheme's token)."""
        name, _, value = header.partition(":")
        if not SECRET_HEADER.search(name):
            return
        value = value.strip()
        self.add(value)
        if name.strip().lower() in ("cookie", "set-cookie"):
            for part in value.split(";"):
                self.add(part.partition("=")[2])
        else:
            self.add(value.partition(" ")[2])  # 'Token abc', 'Bearer abc'

    def __call__(self, text: str, extra: Iterable[str] = ()) -> str:
        for value in extra:
            self.add(value)
        if self.secrets:
            if self._known != self.secrets:
                self._known = frozenset(self.secrets)
                longest_first = sorted(self._known, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in longest_first))
            assert self._pattern is not None
            text = self._pattern.sub(MASK, text)
        text = _QUOTED_KEY.sub(_mask_value, text)
        return _PAIR.sub(_mask_value, text)

    def header(self, header: str) -> str:
        """'Name: ***' for a credential header, else the header with known secrets masked."""
        name, sep, value = header.partition(":")
        if sep and SECRET_HEADER.search(name):
            return f"{name.strip()}: {MASK}"
        return self(header)


def mask_url(url: str) -> str:
    """The URL with every query-string value written `***` (names kept); user info dropped."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    query = "&".join(f"{name}={MASK}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query or MASK, ""))
