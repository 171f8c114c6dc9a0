"""The defaults a session's options take, written once: the client, the logins, `Session`, `Settings`, the options.

`DEFAULTS` is a frozen `SessionOptions`; each default argument and each option's default reads its field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionOptions:
    """A session's timeouts (seconds) and the cookie a form login takes (the app's SESSION_COOKIE_NAME)."""

    connect_timeout: float = 5.0
    reply_timeout: float = 5.0
    login_cookie: str = "sessionid"


DEFAULTS = SessionOptions()
