"""Broadcast accounting: what each receiver got of each sender's numbered messages.

Every sender numbers its messages 0, 1, 2, ... on a connection. A receiver tracks each sender it
hears from: the first sequence number it saw (nothing earlier is owed: it may have joined later),
the highest, and the set of gaps below the highest. A late arrival that fills a gap is reordered; a
number seen before is a duplicate; gaps still open at the end are missing. Losses after the last
message a receiver got from a sender cannot be seen by that receiver and are not counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# The Channels layer spec promises at-most-once delivery and at least 99.99% delivered.
CHANNELS_PROMISE = 0.9999


@dataclass
class Track:
    """One receiver's view of one sender."""

    first: int
    highest: int
    delivered: int = 1
    duplicated: int = 0
    reordered: int = 0
    gaps: set[int] = field(default_factory=set)

    def see(self, seq: int) -> None:
        if seq > self.highest:
            self.gaps.update(range(self.highest + 1, seq))
            self.highest = seq
            self.delivered += 1
        elif seq in self.gaps:
            self.gaps.discard(seq)
            self.reordered += 1
            self.delivered += 1
        elif seq >= self.first:
            self.duplicated += 1
        else:  # older than the first one seen: owed to nobody, but it did arrive late
            self.gaps.update(range(seq + 1, self.first))
            self.first = seq
            self.reordered += 1
            self.delivered += 1

    @property
    def expected(self) -> int:
        return self.highest - self.first + 1


@dataclass
class RoomTotals:
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    duplicated: int = 0
    reordered: int = 0

    @property
    def ratio(self) -> float | None:
        return self.delivered / self.expected if self.expected else None


class DeliveryBook:
    """All tracks of one process, keyed by (room, receiver, sender)."""

    def __init__(self) -> None:
        self._tracks: dict[tuple[str, str, str], Track] = {}

    def see(self, room: str, receiver: str, sender: str, seq: int) -> None:
        key = (room, receiver, sender)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = Track(first=seq, highest=seq)
        else:
            track.see(seq)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Totals per room, absolute: snapshots of several processes add up."""
        rooms: dict[str, RoomTotals] = defaultdict(RoomTotals)
        for (room, _, _), t in self._tracks.items():
            r = rooms[room]
            r.expected += t.expected
            r.delivered += t.delivered
            r.missing += len(t.gaps)
            r.duplicated += t.duplicated
            r.reordered += t.reordered
        return {room: vars(r).copy() for room, r in rooms.items()}


def merge_rooms(snapshots: list[dict[str, dict[str, int]]]) -> dict[str, RoomTotals]:
    rooms: dict[str, RoomTotals] = defaultdict(RoomTotals)
    for snap in snapshots:
        for room, counts in snap.items():
            r = rooms[room]
            for name, value in counts.items():
                setattr(r, name, getattr(r, name) + int(value))
    return dict(sorted(rooms.items()))
