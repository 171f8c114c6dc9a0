"""Counters that reconcile: every message sent is answered OK, failed, or still in flight at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

_COUNTERS = ("failure_kinds", "drops", "attempts_failed")  # Counter fields: by kind or cause


@dataclass
class Ledger:
    """One process's message and connection counts (absolute, so snapshots from workers just add)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    in_flight: int = 0  # sent and not yet answered or failed (at the end: cut off by the stop)
    connects: int = 0
    connect_failures: int = 0
    # Replies read before their message was sent: a frame the server pushed unasked, read ahead with
    # an earlier reply, that matched the expected reply. Their latency is recorded as 0.
    early_replies: int = 0
    # Frames that arrived while a reply was awaited and did not match, skipped (--ws-other skip).
    other_frames: int = 0
    failure_kinds: Counter = field(default_factory=Counter)
    # Wall-clock times (time.time()) of the last OK reply and the last refused connection: a target
    # that refused connections after its last OK went down during the run. Only a refusal counts:
    # a handshake that times out may be a live target that is overloaded.
    last_ok_at: float = 0.0
    last_refused_at: float = 0.0
    # Reconnects (chanload.conversation.reconnect): connections that dropped, by cause (chanload.recording.drops),
    # and attempts to come back that failed, by cause; outages ended, and the attempts they took; users that
    # stayed down (--ws-reconnect off); connections closed by their lifetime (--ws-lifetime).
    drops: Counter = field(default_factory=Counter)
    attempts_failed: Counter = field(default_factory=Counter)
    reconnects: int = 0
    reconnect_attempts: int = 0
    stayed_down: int = 0
    churn_closes: int = 0

    def snapshot(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _COUNTERS}
        for name in _COUNTERS:
            data[name] = dict(getattr(self, name))
        return data

    @classmethod
    def total(cls, snapshots: list[dict]) -> Ledger:
        out = cls()
        for snap in snapshots:
            for f in fields(cls):
                if f.name in _COUNTERS:
                    getattr(out, f.name).update(snap.get(f.name, {}))
                elif f.name.endswith("_at"):
                    setattr(out, f.name, max(getattr(out, f.name), float(snap.get(f.name, 0.0))))
                else:
                    setattr(out, f.name, getattr(out, f.name) + int(snap.get(f.name, 0)))
        return out

    @property
    def target_down(self) -> bool:
        """A connection was refused after the last OK reply: nothing listens there any more."""
        return self.last_refused_at > self.last_ok_at

    @property
    def reconciles(self) -> bool:
        return self.sent == self.ok + self.failed + self.in_flight

    def line(self) -> str:
        verdict = "reconciles" if self.reconciles else "DOES NOT RECONCILE"
        early = (
            f"; {self.early_replies} replies had arrived before their message was sent (server pushes"
            " matching the expected reply), recorded as 0 latency"
            if self.early_replies
            else ""
        )
        other = f"; {self.other_frames} other frames skipped" if self.other_frames else ""
        if self.drops or self.churn_closes:
            causes = ", ".join(f"{k} {n}" for k, n in sorted(self.drops.items())) or "none"
            other += f"; drops: {causes}; reconnects {self.reconnects} in {self.reconnect_attempts} attempts"
            other += f", {self.stayed_down} stayed down" if self.stayed_down else ""
            other += f", {self.churn_closes} churn closes" if self.churn_closes else ""
        return (
            f"messages: sent {self.sent} = ok {self.ok} + failed {self.failed} + in flight {self.in_flight}"
            f" ({verdict}); connects: {self.connects} ok, {self.connect_failures} failed{other}{early}"
        )
