"""Broadcast accounting: what each receiver got of each sender's numbered messages, and what it was owed.

Every sender numbers its messages 0, 1, 2, ... on a connection, and each message carries its send
time in its mark (`chanload.conversation.marks`). Two sides are recorded:

- **Receivers' side.** A receiver tracks each sender it hears from (a `Track`): the first sequence
  number it saw (nothing earlier is owed: it may have joined later), the highest, and the gaps below
  the highest. A late arrival that fills a gap is reordered; a number seen before is a duplicate;
  gaps still open at the end are missing.
- **Senders' side.** Each sending connection logs its marked messages (a `SendLog`): the last number
  sent and when, with a coarse index of send times (the highest number sent in each 250 ms, over the
  last 60 s of the connection's sending). A message counts as sent once the socket took it.

The two are joined where both are known (`merge_rooms`: the master, or the one process of a local run),
which gives the **tail**: messages a receiver was owed after the last one it heard from a sender,
and every message of a sender it never heard from although both were in the room. A message of sender
S is owed to receiver R, beyond R's highest number seen from S, only when all of this holds:

- R and S were in the same room: the same `{group}` and the same URL path;
- R was listening (a session with a reader, `listen`, looking for marks), and had already received a
  marked message (anyone's, its own copies included) when S sent it. That first arrival is when R is
  known to be in the room; for a sender R heard from, the numbers after one R received were sent
  later still. A receiver that heard no marked message at all but sent some (a relay that is broken
  behind an acknowledgement: its own copies never come back either) is known to be in the room from
  its first marked send;
- S sent it at least `grace` before R left the room: R's connection closed (or ended under its
  reader), or the snapshot was taken while R was still connected (the end of the run, or a report
  mid-run). `grace` is R's reply timeout (`--ws-reply-timeout`, 5 s by default): a message sent later
  than that may still have been in flight, and is owed to nobody.

Send times are known to 250 ms; every rounding goes the way that owes less. A receiver's leave time
that falls more than 60 s before the sender's last message is older than the index: such a receiver is
owed no tail from that sender (its gaps still count). A receiver that neither received nor sent any
marked message, or that reads frames only inside its steps (no `listen`: frames after its last step stay
unread), is owed no tail at all. Marks are numbered over a connection's marked messages only
(`Session.mark_seq`, apart from `{seq}`), so messages without a mark, before or between marked ones (an
opening step, a join, a typing notice), are neither gaps nor tail. Clocks
are CLOCK_REALTIME, as for delivery latency: one machine, or clocks kept in step.

So `expected` = what receivers saw between the first and the highest number, plus the tail;
`missing` = the gaps plus the tail (`tail` says how much of it is tail); `delivered` / `expected` is
the ratio.

Memory, per process: one `Track` per (receiver, sender) pair heard (as before), one `Presence` per
listening connection that heard a marked message (or is still open), and one `SendLog` per sending
connection, of at most `WINDOW_NS / RES_NS` (240) index entries. All of it lives as long as the run,
closed connections' too. A snapshot ships the same: per listening connection the highest number heard
from each sender, per sending connection its log. The master keeps each worker's latest snapshot, and
joins them (`merge_rooms`) in time proportional to the senders' logs plus, per room, receivers times
senders.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# The Channels layer spec promises at-most-once delivery and at least 99.99% delivered.
CHANNELS_PROMISE = 0.9999
RES_NS = 250_000_000  # the send-time index's resolution: 250 ms
WINDOW_NS = 60_000_000_000  # how far back from a connection's last send the index reaches: 60 s


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


class SendLog:
    """One sending connection's marked messages: the last number and time, and a coarse index of send times.

    `buckets` holds [time // RES_NS, highest number sent in it] for the last WINDOW_NS of sending;
    what fell out of it is summed up as `base_seq` (the highest number evicted) and `base_end` (the
    end of its bucket). Numbers rise with time on a connection, so both bounds below are one lookup.
    """

    __slots__ = ("room", "where", "first_ns", "first_seq", "last_ns", "last_seq", "base_seq", "base_end", "buckets",
                 "dropped_ns")  # fmt: skip

    def __init__(self, room: str, where: str, first_ns: int, first_seq: int = 0) -> None:
        self.room = room
        self.where = where
        self.first_ns = first_ns
        self.first_seq = first_seq  # numbers before it carried no mark (an opening step, a join): never owed
        self.last_ns = first_ns
        self.last_seq = -1
        self.base_seq = -1
        self.base_end = 0
        self.buckets: deque[list[int]] = deque()
        self.dropped_ns = 0  # when its connection dropped under it (not closed by its user); 0: it did not

    def add(self, seq: int, sent_ns: int) -> None:
        if sent_ns < self.last_ns:  # the wall clock stepped back: the last bucket takes it
            sent_ns = self.last_ns
        b = sent_ns // RES_NS
        buckets = self.buckets
        if buckets and buckets[-1][0] == b:
            if seq > buckets[-1][1]:
                buckets[-1][1] = seq
        else:
            buckets.append([b, seq])
            oldest = (sent_ns - WINDOW_NS) // RES_NS
            while buckets[0][0] < oldest:
                evicted = buckets.popleft()
                self.base_seq = max(self.base_seq, evicted[1])
                self.base_end = (evicted[0] + 1) * RES_NS
        self.last_ns = sent_ns
        self.last_seq = max(self.last_seq, seq)

    def sent_by(self, t_ns: int) -> int:
        """The highest number surely sent at or before `t_ns`; -1 when none is sure to have been."""
        if t_ns >= self.last_ns:
            return self.last_seq
        for b, seq in reversed(self.buckets):
            if (b + 1) * RES_NS <= t_ns:
                return seq
        return self.base_seq if self.base_seq >= 0 and t_ns >= self.base_end else -1

    def maybe_sent_by(self, t_ns: int) -> int:
        """The highest number that may have been sent at or before `t_ns`, or any number before the first marked one."""
        if t_ns >= self.last_ns:
            return self.last_seq
        if t_ns < self.first_ns:
            return self.first_seq - 1
        for b, seq in reversed(self.buckets):
            if b * RES_NS <= t_ns:
                return seq
        return max(self.base_seq, self.first_seq - 1)

    def encode(self) -> list:
        return [self.room, self.where, self.first_ns, self.last_ns, self.last_seq, self.base_seq, self.base_end,
                [x for pair in self.buckets for x in pair], self.first_seq, self.dropped_ns]  # fmt: skip

    @classmethod
    def decode(cls, row: list) -> SendLog:
        log = cls(str(row[0]), str(row[1]), int(row[2]), int(row[8]))
        log.last_ns, log.last_seq, log.base_seq, log.base_end = (int(v) for v in row[3:7])
        flat = row[7]
        log.buckets = deque([int(flat[i]), int(flat[i + 1])] for i in range(0, len(flat), 2))
        log.dropped_ns = int(row[9]) if len(row) > 9 else 0
        return log


@dataclass
class Presence:
    """One listening receiver connection: its room, since when it is known to be in it, when it left."""

    room: str
    where: str
    grace_ns: int
    start_ns: int | None = None  # the arrival of the first marked message it received
    left_ns: int | None = None  # its connection closed; None while connected
    after: str | None = None  # the connection of the same member before a drop (`rejoined`): it was away between


@dataclass
class RoomTotals:
    expected: int = 0
    delivered: int = 0
    missing: int = 0  # gaps and tail
    tail: int = 0  # of `missing`: owed after the last number heard from a sender, or from a sender never heard
    away: int = 0  # missed while away: sent to the room while a member was reconnecting; not in expected/missing
    # Lost with their sender's connection: sent within the receiver's grace before the sender's connection dropped,
    # never heard (e.g. acknowledged, then never relayed by a server that stopped); not in expected/missing.
    in_drop: int = 0
    duplicated: int = 0
    reordered: int = 0

    @property
    def ratio(self) -> float | None:
        return self.delivered / self.expected if self.expected else None


def _where(url: str) -> str:
    """The room's part of a connection's URL: its path (never the query string, which may carry a token)."""
    return urlsplit(url).path if "://" in url else url


class DeliveryBook:
    """All tracks of one process, keyed by (room, receiver, sender), and its senders' logs and receivers' presence."""

    def __init__(self) -> None:
        self._tracks: dict[tuple[str, str, str], Track] = {}
        self._sends: dict[str, SendLog] = {}
        self._present: dict[str, Presence] = {}

    def see(self, room: str, receiver: str, sender: str, seq: int) -> None:
        key = (room, receiver, sender)
        track = self._tracks.get(key)
        if track is None:
            self._tracks[key] = Track(first=seq, highest=seq)
        else:
            track.see(seq)

    # The senders' and receivers' sides (see the module's docstring)

    def sent(self, room: str, url: str, sender: str, seq: int, sent_ns: int) -> None:
        """Connection `sender` (in `room`, at `url`) sent its marked message `seq` at `sent_ns` (the mark's time)."""
        log = self._sends.get(sender)
        if log is None:
            log = self._sends[sender] = SendLog(room, _where(url), sent_ns, seq)
        log.add(seq, sent_ns)

    def unsent(self, sender: str, seq: int) -> None:
        """`sender`'s marked message `seq`, its last, failed as its connection dropped: owed to nobody (the sender
        counted it failed; whether the server relayed it is unknown). Only the last number can be taken back."""
        log = self._sends.get(sender)
        if log is None or log.last_seq != seq:
            return
        log.last_seq = seq - 1
        if log.buckets and log.buckets[-1][1] == seq:
            log.buckets[-1][1] = seq - 1

    def sender_dropped(self, sender: str, at_ns: int) -> None:
        """`sender`'s connection dropped under it at `at_ns`: what it sent within a receiver's grace before then went
        with it (`RoomTotals.in_drop`), not missing while the receiver was connected."""
        log = self._sends.get(sender)
        if log is not None and not log.dropped_ns:
            log.dropped_ns = at_ns

    def listening(self, room: str, url: str, receiver: str, grace: float) -> None:
        """Connection `receiver` reads every frame as it arrives; `grace` (s): its reply timeout."""
        self._present[receiver] = Presence(room, _where(url), int(grace * 1e9))

    def rejoined(self, receiver: str, previous: str) -> None:
        """`receiver` is the same member as `previous`, back after a drop: what the room said between the two
        connections (after `previous` left, minus its grace, until `receiver` is known in the room) is counted
        as missed while away (`RoomTotals.away`), apart from what is missing while connected."""
        p = self._present.get(receiver)
        if p is not None and previous:
            p.after = previous

    def heard(self, receiver: str, arrival_ns: int) -> None:
        """`receiver` got a marked message (anyone's): from then on it is known to be in its room."""
        p = self._present.get(receiver)
        if p is not None and p.start_ns is None and p.left_ns is None:
            p.start_ns = arrival_ns if arrival_ns > 0 else time.time_ns()

    def left(self, receiver: str, at_ns: int) -> None:
        """`receiver`'s connection closed: nothing sent later than `at_ns` - grace is owed to it."""
        p = self._present.get(receiver)
        if p is None or p.left_ns is not None:
            return
        if p.start_ns is None and receiver not in self._sends:  # heard no mark, sent none: owed nothing
            del self._present[receiver]
        else:
            p.left_ns = at_ns

    def _since(self, receiver: str, p: Presence) -> int | None:
        """Since when `receiver` is known to be in its room: its first marked arrival, else its first marked send.

        A receiver that sent marked messages and heard none, not even its own copies (an app whose relay is
        broken, behind an acknowledgement), is owed what others sent after its first: nothing it heard
        would otherwise ever count it.
        """
        if p.start_ns is not None:
            return p.start_ns
        log = self._sends.get(receiver)
        return None if log is None else log.first_ns

    def snapshot(self, now_ns: int | None = None) -> dict:
        """Absolute, so that several processes' snapshots can be merged (`merge_rooms`).

        rooms: the receivers' counts per room; senders: each sending connection's log; receivers: each
        listening connection that heard a marked message, with the highest number it heard per sender;
        at: when it was taken (receivers still connected are in their rooms until then).
        """
        rooms: dict[str, RoomTotals] = defaultdict(RoomTotals)
        heard: dict[str, dict[str, int]] = defaultdict(dict)
        present = self._present
        for (room, receiver, sender), t in self._tracks.items():
            r = rooms[room]
            r.expected += t.expected
            r.delivered += t.delivered
            r.missing += len(t.gaps)
            r.duplicated += t.duplicated
            r.reordered += t.reordered
            if receiver in present:
                heard[receiver][sender] = t.highest
        return {
            "at": time.time_ns() if now_ns is None else now_ns,
            "rooms": {room: vars(r).copy() for room, r in rooms.items()},
            "senders": {sender: log.encode() for sender, log in self._sends.items()},
            "receivers": {
                receiver: [p.room, p.where, p.grace_ns, since, p.left_ns, heard.get(receiver, {}), p.after]
                for receiver, p in present.items()
                if (since := self._since(receiver, p)) is not None
            },
        }


def merge_rooms(snapshots: list[dict]) -> dict[str, RoomTotals]:
    """Several processes' snapshots summed per room, with the tails the senders' logs show (module docstring)."""
    rooms: dict[str, RoomTotals] = defaultdict(RoomTotals)
    senders: dict[tuple[str, str], list[tuple[str, SendLog]]] = defaultdict(list)
    for snap in snapshots:
        for room, counts in snap.get("rooms", {}).items():
            r = rooms[room]
            for name, value in counts.items():
                setattr(r, name, getattr(r, name) + int(value))
        for sender, row in snap.get("senders", {}).items():
            log = SendLog.decode(row)
            senders[(log.room, log.where)].append((sender, log))
    away_rows = {r: row for snap in snapshots for r, row in snap.get("receivers", {}).items()}
    for snap in snapshots:
        at = int(snap.get("at", 0))
        for receiver, (room, where, grace_ns, start_ns, left_ns, heard, *rest) in snap.get("receivers", {}).items():
            before = away_rows.get(rest[0]) if rest and rest[0] else None
            if before is not None:
                _away(rooms[room], senders.get((room, where), ()), receiver, rest[0], before, room, where, start_ns)
            until = (at if left_ns is None else int(left_ns)) - int(grace_ns)
            owed = 0
            for sender, log in senders.get((room, where), ()):
                if sender == receiver:
                    continue
                last_owed = log.sent_by(until)
                highest = heard.get(sender)
                seen = log.maybe_sent_by(int(start_ns)) if highest is None else int(highest)
                if log.dropped_ns:  # the last grace of the sender's sending went with its connection
                    cut = log.sent_by(log.dropped_ns - int(grace_ns))
                    if last_owed > cut:
                        rooms[room].in_drop += max(0, last_owed - max(cut, seen))
                        last_owed = cut
                owed += max(0, last_owed - seen)
            if owed:
                r = rooms[room]
                r.expected += owed
                r.missing += owed
                r.tail += owed
    return dict(sorted(rooms.items()))


def _away(totals: RoomTotals, logs, receiver: str, previous: str, before: list, room: str, where: str, back_ns) -> None:
    """Marks sent to the room while a member was away: after the last its previous connection heard from each
    sender, or was owed (up to its leave minus its grace: its tail), until its new connection is known in the
    room. Rounded the way that counts less, as the tail is."""
    b_room, b_where, b_grace, _, b_left, b_heard = before[:6]
    if b_left is None or (b_room, b_where) != (room, where):
        return
    gone = int(b_left) - int(b_grace)  # the previous connection was owed up to here (its tail)
    for sender, log in logs:
        if sender in (receiver, previous):
            continue
        had = max(int(b_heard.get(sender, -1)), log.sent_by(gone), log.first_seq - 1)  # heard, or owed
        totals.away += max(0, log.sent_by(int(back_ns)) - had)
