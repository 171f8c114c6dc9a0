"""What a user does when its connection drops: the policy (`--ws-reconnect`), churn (`--ws-lifetime`), the count.

Policies:

- `now` (the default, and the behaviour before the option): connect again on the user's next turn; after a
  failed attempt the user pauses 0.2 s (`chanload.locust.users.RECONNECT_PAUSE`) and tries again.
- `backoff:MIN-MAX`: exponential backoff with full jitter. Before attempt n (n = 1 for the first attempt after
  a drop) the user waits

      delay(n) = MIN + U(0, 1) * (min(MAX, MIN * 2**n) - MIN)

  seconds: uniform between MIN and the cap MIN * 2**n, the cap never over MAX (so every delay lies in
  [MIN, MAX]). n goes up with each failed attempt and starts at 1 again after a connection that **lived**: one
  that ran at least one message round trip, or stayed up MAX seconds or more. A connection that dies as soon
  as it is open (a server that accepts, then drops) keeps the backoff growing.
- `off`: a user whose connection dropped stays down until the run ends; it is counted (`stayed_down`).

A **drop** is a connection that ended without the user closing it; it is counted by cause
(`chanload.recording.drops`), and so is each failed attempt to come back. The time from the drop to the
conversation being ready again (backoff waits, handshakes and opening steps included, every attempt) is one
sample of the `WS reconnect` row; the attempts it took are counted (`reconnect_attempts`, `reconnects`).

Churn: with `--ws-lifetime MIN-MAX`, each connection closes itself (close code 1000) after a lifetime drawn
uniformly between MIN and MAX seconds, and connects again at once, under every policy (a churn close is not a
drop, and the connection lived: backoff starts over). The handshakes after a churn close are the `WS connect`
row under the name `ROUTE churn` (e.g. `room/[group] churn`): handshake latency under churn is its own figure.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass

from chanload.exceptions import OptionError, WsError
from chanload.recording import drops
from chanload.recording.types import RECONNECT

_RANGE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+)\s*")
_EXAMPLE = "now, off, or backoff:MIN-MAX in seconds, e.g. backoff:0.5-30"


@dataclass(frozen=True)
class Policy:
    """A reconnect policy: `mode` now | backoff | off; `low`, `high`: backoff's MIN and MAX seconds."""

    mode: str = "now"
    low: float = 0.0
    high: float = 0.0

    @classmethod
    def parse(cls, value: object, option: str = "--ws-reconnect") -> Policy:
        text = str(value if value is not None else "").strip().lower()
        if text in ("", "now"):
            return cls()
        if text == "off":
            return cls("off")
        kind, colon, rest = text.partition(":")
        if kind != "backoff":
            raise OptionError(f"{option} {value!r}: expected {_EXAMPLE}")
        found = _RANGE.fullmatch(rest) if colon else None
        if found is None:
            raise OptionError(f"{option} {value!r}: backoff takes MIN-MAX seconds, e.g. backoff:0.5-30")
        low, high = float(found.group(1)), float(found.group(2))
        if low <= 0 or high < low:
            raise OptionError(f"{option} {value!r}: need 0 < MIN <= MAX, e.g. backoff:0.5-30")
        return cls("backoff", low, high)

    @property
    def spec(self) -> str:
        return f"backoff:{self.low:g}-{self.high:g}" if self.mode == "backoff" else self.mode

    def delay(self, attempt: int, draw: float | None = None) -> float:
        """Seconds to wait before attempt `attempt` (1, 2, ...) after a drop; 0 unless backoff (module docstring)."""
        if self.mode != "backoff":
            return 0.0
        cap = min(self.high, self.low * 2.0 ** min(attempt, 64))
        u = random.random() if draw is None else draw
        return self.low + u * (cap - self.low)


def lifetime(value: object, option: str = "--ws-lifetime") -> tuple[float, float] | None:
    """--ws-lifetime MIN-MAX (seconds, MIN > 0), or None for '' / 0 (connections live as long as they can)."""
    text = str(value if value is not None else "").strip()
    if text in ("", "0"):
        return None
    found = _RANGE.fullmatch(text)
    if found is None:
        try:
            single = float(text)
        except ValueError:
            single = -1.0
        if single <= 0:
            raise OptionError(f"{option} {value!r}: expected MIN-MAX seconds, e.g. 5-15 (or X, or 0 for off)")
        return single, single
    low, high = float(found.group(1)), float(found.group(2))
    if low <= 0 or high < low:
        raise OptionError(f"{option} {value!r}: need 0 < MIN <= MAX seconds, e.g. 5-15")
    return low, high


class Reconnector:
    """One user's side of the policy: when its connection dropped, the attempts since, the churn deadline.

    The user calls `dropped(exc)` when a step's failure left its session without a connection, `before()` to
    learn how long to wait before the next attempt, `failed(exc)` after an attempt failed, `ready(recording)`
    once connected and through the opening steps, `closed_by_churn()` when its lifetime closed the connection,
    and `message_ok()` after a round trip (the connection lived).
    """

    def __init__(self, policy: Policy, lifetime: tuple[float, float] | None = None) -> None:
        self.policy = policy
        self.lifetime = lifetime
        self.down_since: float | None = None  # perf_counter of the drop; None: connected, or never connected yet
        self.attempt = 0  # attempts since the last connection that lived
        self.tries = 0  # attempts in this outage
        self.churned = False  # the connection was closed by its lifetime: the next connect is a churn one
        self.deadline = 0.0  # perf_counter when this connection's lifetime ends (0: none)
        self._connected_at = 0.0
        self._lived = False
        self.stays_down = False  # `off` and dropped: the user stays down

    def dropped(self, exc: WsError, recording, at: float | None = None) -> None:
        """The connection ended (`exc` ended it): counted by cause. The outage starts `at` (perf_counter), when
        a listening session's reader saw the end, which may be a think time before a step noticed; else now."""
        now = time.perf_counter()
        ledger = recording.ledger
        ledger.drops[drops.cause(exc)] += 1
        if self._lived or (self.policy.mode == "backoff" and now - self._connected_at >= self.policy.high):
            self.attempt = 0
        self.down_since = min(at, now) if at is not None else now
        self.tries = 0
        self.deadline = 0.0
        if self.policy.mode == "off":
            self.stays_down = True
            ledger.stayed_down += 1

    def before(self) -> float:
        """Seconds to wait before the next attempt (backoff after a drop or a failed attempt; else 0)."""
        self.attempt += 1
        self.tries += 1
        if self.down_since is None and self.attempt == 1:
            return 0.0  # the first connect of a user, or after churn or --ws-messages: at once
        return self.policy.delay(self.attempt)

    def failed(self, exc: WsError, recording) -> None:
        """An attempt failed: counted by cause (a refused connect, a refused handshake with its status...)."""
        recording.ledger.attempts_failed[drops.cause(exc)] += 1

    def ready(self, recording, name: str) -> None:
        """Connected and through the opening steps: a `WS reconnect` sample if this ends an outage."""
        now = time.perf_counter()
        if self.down_since is not None:
            recording.fire(RECONNECT, name, now - self.down_since, 0, None)
            recording.ledger.reconnects += 1
            recording.ledger.reconnect_attempts += self.tries
        self.down_since = None
        self.tries = 0
        self.churned = False
        self._connected_at = now
        self._lived = False
        if self.lifetime is not None:
            low, high = self.lifetime
            self.deadline = now + random.uniform(low, high)
        if self.policy.mode != "backoff":
            self.attempt = 0

    def message_ok(self) -> None:
        if not self._lived:
            self._lived = True
            self.attempt = 0 if self.policy.mode == "backoff" else self.attempt

    def expired(self) -> bool:
        """This connection's lifetime is over (--ws-lifetime)."""
        return bool(self.deadline) and time.perf_counter() >= self.deadline

    def closed_by_churn(self, recording) -> None:
        recording.ledger.churn_closes += 1
        self.churned = True
        self.deadline = 0.0
        self.attempt = 0
