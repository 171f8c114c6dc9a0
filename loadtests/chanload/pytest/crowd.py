"""Many sessions at once (`ws_factory`): `SessionFactory` makes `BehaviourSession`s and runs N conversations.

`ws_factory.run(n, conversation)` returns what each member saw with the delivery accounting (`Crowd`: gaps,
duplicates and reordering per sender, per room and per member), taken from every session's own records.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chanload.conversation.messages import Frame
from chanload.pytest.session import BehaviourSession
from chanload.recording.delivery import merge_rooms


@dataclass
class Member:
    """One member of `SessionFactory.run`: its session, its index, and `together()` to wait for the others."""

    index: int
    count: int
    session: BehaviourSession
    _barrier: threading.Barrier = field(repr=False)
    _timeout: float = field(repr=False, default=60.0)

    def together(self) -> None:
        """Wait until every member has called it as often (e.g. all connected before anyone talks)."""
        self._barrier.wait(self._timeout)


@dataclass
class MemberResult:
    """What one member saw: the conversation's return value or error, and every frame it received."""

    index: int
    session: BehaviourSession
    value: Any = None
    error: BaseException | None = None
    # sender connection id -> the mark numbers received from it, in arrival order (another member's marked messages)
    heard: dict[str, list[int]] = field(default_factory=dict)
    # other members' marked messages owed to it (sent to its room while it was connected), missing, out of order
    missing: dict[str, list[int]] = field(default_factory=dict)
    duplicated: dict[str, list[int]] = field(default_factory=dict)
    reordered: dict[str, list[int]] = field(default_factory=dict)

    @property
    def received(self) -> list[Frame]:
        return self.session.received

    @property
    def complete(self) -> bool:
        """Every marked message owed to it, once each, in each sender's order."""
        return not (self.missing or self.duplicated or self.reordered)


@dataclass
class Crowd:
    """What `SessionFactory.run` saw: one `MemberResult` per member, and the delivery account.

    `delivery`: per room path, the merged `DeliveryBook` counts (expected, delivered, missing, duplicated,
    reordered, tail: `chanload.recording.delivery`); `total`: the same summed. `check()` raises an
    AssertionError naming each member that missed, repeated or reordered another member's message.
    """

    members: list[MemberResult]
    delivery: dict[str, dict[str, int]]
    total: dict[str, int]
    # how long `run` waited, after the last conversation returned, for messages still owed (its `settle`)
    settled: float = 0.0

    def __iter__(self) -> Iterator[MemberResult]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int) -> MemberResult:
        return self.members[index]

    @property
    def values(self) -> list[Any]:
        return [m.value for m in self.members]

    @property
    def complete(self) -> bool:
        """Every member got every marked message owed to it, once, in per-sender order."""
        return all(m.complete for m in self.members)

    def check(self) -> None:
        """Raise AssertionError if a member missed, repeated or reordered a message (each named), else nothing."""
        problems = []
        for m in self.members:
            for what, found in (("missed", m.missing), ("got twice", m.duplicated), ("got out of order", m.reordered)):
                for sender, seqs in found.items():
                    shown = ", ".join(f"#{s}" for s in seqs[:10]) + (
                        f" and {len(seqs) - 10} more" if len(seqs) > 10 else ""
                    )
                    problems.append(f"member {m.index} {what} {sender}'s {shown}")
        if problems:
            head = (
                f"{len(problems)} delivery problem{'s' if len(problems) > 1 else ''} among {len(self.members)} members"
            )
            why = ""
            if any(m.missing for m in self.members):
                why = (
                    f"\n(missed = not received {self.settled:.1f} s after the last conversation returned; a server "
                    "slow to relay may need a longer ws_factory.run(..., settle=SECONDS))"
                )
            raise AssertionError(f"{head} (totals {self.total}):\n  " + "\n  ".join(problems[:40]) + why)


class SessionFactory:
    """`ws_factory`: makes `BehaviourSession`s on one host (`factory(**kwargs)`), closes them all at `close()`.

    Thread-safe: sessions may be made from any thread (each then used by one thread at a time).
    """

    def __init__(self, host: str, **defaults: Any) -> None:
        self.host = host
        self.defaults = defaults
        self.sessions: list[BehaviourSession] = []
        self._lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> BehaviourSession:
        """A new session: `Session`'s arguments (host defaulted to the live server's), closed at teardown."""
        options = {**self.defaults, **kwargs}
        host = options.pop("host", self.host)
        session = BehaviourSession(host, **options)
        with self._lock:
            self.sessions.append(session)
        return session

    def close(self) -> None:
        """Close every session made (each politely; one that fails to close does not stop the others)."""
        with self._lock:
            sessions, self.sessions = self.sessions, []
        for session in sessions:
            try:
                session.close()
            except Exception:  # closing never raises in Session.close; a reader that will not stop is dropped
                pass

    def run(
        self,
        n: int,
        conversation: Callable[[BehaviourSession, Member], Any],
        *,
        timeout: float = 60.0,
        settle: float | None = None,
        **kwargs: Any,
    ) -> Crowd:
        """Run `conversation(session, member)` for n members at once, each in a thread with a session of its own.

        `kwargs` go to each session (`Session`'s arguments). `member.together()` waits for all members (e.g.
        after connecting, so that nobody talks before everyone listens). When every conversation has returned,
        waits up to `settle` seconds (default: the sessions' reply timeout) for each member to have received
        every other member's marked messages owed to it, then takes the account and closes the sessions.
        Raises the first member's error (a note names the member) if a conversation raised; `timeout` bounds
        each conversation (a member still running after it is an error too).

        Members whose connections have the same URL path are taken to be in one room: each is owed every marked
        message (`{mark}` in what it sends) that another sent after it connected. `MemberResult.missing`,
        `.duplicated` and `.reordered` say what each missed, got twice or got out of a sender's order;
        `Crowd.check()` raises an AssertionError naming them.
        """
        if n < 1:
            raise ValueError(f"n={n!r}: at least one member")
        sessions = [self(**kwargs) for _ in range(n)]
        barrier = threading.Barrier(n)
        results = [MemberResult(i, s) for i, s in enumerate(sessions)]

        def play(result: MemberResult) -> None:
            member = Member(result.index, n, result.session, barrier, timeout)
            try:
                result.value = conversation(result.session, member)
            except BaseException as exc:
                result.error = exc
                barrier.abort()  # the others must not wait for this one

        threads = [threading.Thread(target=play, args=(r,), name=f"chanload-member-{r.index}") for r in results]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        late = [r.index for r, t in zip(results, threads, strict=True) if t.is_alive()]
        try:
            failed = [r for r in results if r.error is not None]
            if late or failed:
                raise first_error(failed, late, n, timeout)
            wait = max(s.reply_timeout for s in sessions) if settle is None else settle
            began = time.monotonic()
            end = began + wait
            while True:
                account(results)
                if all(not r.missing for r in results) or time.monotonic() >= end:
                    break
                time.sleep(0.02)
            now = time.time_ns() + int(max(s.reply_timeout for s in sessions) * 1e9)  # all sent so far is owed
            snapshots = []
            for s in sessions:
                with s.lock:
                    snapshots.append(s.recording.delivery.snapshot(now))
            rooms = {room: dict(vars(totals)) for room, totals in merge_rooms(snapshots).items()}
            total: dict[str, int] = {}
            for counts in rooms.values():
                for key, value in counts.items():
                    total[key] = total.get(key, 0) + int(value)
            return Crowd(results, rooms, total, time.monotonic() - began)
        finally:
            for s in sessions:
                s.close()


def account(results: list[MemberResult]) -> None:
    """Each member's heard / missing / duplicated / reordered, from every session's own records."""
    sent: dict[str, list[tuple[int, int]]] = {}  # sender -> (mark, sent_ns)
    room_of: dict[str, str] = {}  # connection id -> room path
    joined_at: dict[str, int] = {}
    for r in results:
        s = r.session
        with s.lock:
            for user, mark, sent_ns in s.sent_marks:
                sent.setdefault(user, []).append((mark, sent_ns))
            for user, where, at in s.joined:
                room_of[user] = where
                joined_at[user] = at
    for r in results:
        s = r.session
        with s.lock:
            deliveries = list(s.deliveries)
            mine = {user for user, _where, _at in s.joined}
        heard: dict[str, list[int]] = {}
        for _receiver, sender, seq in deliveries:
            heard.setdefault(sender, []).append(seq)
        r.heard = heard
        r.missing, r.duplicated, r.reordered = {}, {}, {}
        for receiver in mine:
            room = room_of.get(receiver)
            since = joined_at.get(receiver, 0)
            for sender, log in sent.items():
                if sender in mine or room_of.get(sender) != room:
                    continue
                owed = [mark for mark, sent_ns in log if sent_ns >= since]
                got = heard.get(sender, [])
                seen = set(got)
                gone = [mark for mark in owed if mark not in seen]
                twice = sorted({mark for mark in got if got.count(mark) > 1})
                late = [b for a, b in zip(got, got[1:], strict=False) if b < a]
                if gone:
                    r.missing[sender] = gone
                if twice:
                    r.duplicated[sender] = twice
                if late:
                    r.reordered[sender] = late


def first_error(failed: list[MemberResult], late: list[int], n: int, timeout: float) -> BaseException:
    if failed:
        # A member whose barrier broke because another failed is not the cause: show the cause first.
        causes = [r for r in failed if not isinstance(r.error, threading.BrokenBarrierError)] or failed
        first = causes[0]
        error = first.error
        assert error is not None
        others = [f"member {r.index}: {type(r.error).__name__}: {r.error}" for r in failed if r is not first]
        note = f"in member {first.index} of {n} (ws_factory.run)"
        if others:
            note += f"; {len(others)} other member(s) failed too:\n  " + "\n  ".join(others[:10])
        if late:
            note += f"\nstill running after {timeout:g}s: members {late}"
        error.add_note(note)
        return error
    return TimeoutError(f"ws_factory.run: members {late} of {n} still running after {timeout:g}s")
