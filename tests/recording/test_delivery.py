"""Broadcast accounting: gaps, duplicates and reordering per (receiver, sender)."""

from __future__ import annotations

import json

from chanload.recording.delivery import DeliveryBook, SendLog, Track, merge_rooms


def test_in_order_delivery_is_complete():
    """0..9 in order: all delivered, nothing missing."""
    book = DeliveryBook()
    for seq in range(10):
        book.see("g0", "r1", "s1", seq)
    assert book.snapshot()["rooms"]["g0"] == {
        "expected": 10, "delivered": 10, "missing": 0, "tail": 0, "duplicated": 0, "reordered": 0, "away": 0,
        "in_drop": 0,
    }  # fmt: skip


def test_gap_counts_missing_and_late_arrival_counts_reordered():
    """A gap is missing until the late message fills it, then it is reordered instead."""
    t = Track(first=0, highest=0)
    for seq in (1, 2, 5, 6):
        t.see(seq)
    assert (t.expected, t.delivered, len(t.gaps)) == (7, 5, 2)
    t.see(3)
    assert (t.delivered, len(t.gaps), t.reordered) == (6, 1, 1)


def test_duplicates_are_counted_once():
    """A number seen twice is a duplicate and does not raise the delivered count."""
    t = Track(first=0, highest=0)
    t.see(1)
    t.see(1)
    t.see(0)
    assert (t.delivered, t.duplicated) == (2, 2)


def test_receiver_joining_late_owes_nothing_before_its_first_message():
    """First seen seq 40: numbers below it are not missing."""
    book = DeliveryBook()
    for seq in (40, 41, 42):
        book.see("g0", "r1", "s1", seq)
    assert book.snapshot()["rooms"]["g0"]["expected"] == 3
    assert book.snapshot()["rooms"]["g0"]["missing"] == 0


def test_older_than_first_extends_the_window():
    """A straggler older than the first number seen widens the window and counts as reordered."""
    t = Track(first=5, highest=5)
    t.see(3)
    assert (t.first, t.expected, t.delivered, t.gaps, t.reordered) == (3, 3, 2, {4}, 1)


def test_rooms_add_up_across_processes():
    """Snapshots from several workers sum per room; the ratio is delivered/expected."""
    a, b = DeliveryBook(), DeliveryBook()
    for seq in (0, 1, 3):
        a.see("g0", "r1", "s1", seq)
    for seq in (0, 1):
        b.see("g0", "r2", "s1", seq)
    rooms = merge_rooms([a.snapshot(), b.snapshot()])
    assert (rooms["g0"].expected, rooms["g0"].delivered, rooms["g0"].missing) == (6, 5, 1)
    assert rooms["g0"].ratio == 5 / 6


# The senders' side: the tail a receiver was owed after the last message it heard (issue 16)

S = 1_000_000_000  # ns per second
URL = "ws://127.0.0.1:8000/chat/g0"


def at(seconds: float) -> int:
    return round(seconds * S)


def send_100(book: DeliveryBook, sender: str = "s1", url: str = URL, room: str = "g0") -> None:
    """Sender `s1` sends 0..99, one every 100 ms from t = 1 s (the last at 10.9 s)."""
    for seq in range(100):
        book.sent(room, url, sender, seq, S + seq * 100_000_000)


def hear(book: DeliveryBook, receiver: str, seqs, start: float = 1.05, grace: float = 5.0, url: str = URL) -> None:
    book.listening("g0", url, receiver, grace)
    for seq in seqs:
        book.heard(receiver, at(start))
        book.see("g0", receiver, "s1", seq)


def test_a_tail_nobody_heard_is_missing():
    """Heard 0..49 of 0..99 and stayed: the 50 after its last one are missing, shown as the tail."""
    book = DeliveryBook()
    send_100(book)
    hear(book, "r1", range(50))
    book.left("r1", at(30))
    room = merge_rooms([book.snapshot(at(40))])["g0"]
    assert (room.expected, room.delivered, room.missing, room.tail) == (100, 50, 50, 50)
    assert room.ratio == 0.5


def test_nothing_sent_after_leaving_is_owed():
    """Left at 6 s with a 1 s grace: owed what was sent by 5 s (39 at 4.9 s; 40 at 5.0 s falls in the next 250 ms)."""
    book = DeliveryBook()
    send_100(book)
    hear(book, "r1", range(30), grace=1.0)
    book.left("r1", at(6))
    room = merge_rooms([book.snapshot(at(40))])["g0"]
    assert (room.tail, room.missing, room.expected) == (10, 10, 40)  # 30..39, never 41..99


def test_grace_before_the_end_of_the_run():
    """Still connected when the run stops at 12 s: with a 5 s grace, owed what was sent by 7 s; by 20 s, all."""
    book = DeliveryBook()
    send_100(book)
    hear(book, "r1", range(50))
    assert merge_rooms([book.snapshot(at(12))])["g0"].tail == 10  # 50..59 (sent 6.0-6.9 s)
    assert merge_rooms([book.snapshot(at(20))])["g0"].tail == 50


def test_a_receiver_that_joined_later_is_owed_only_what_came_after():
    """Heard nothing from s1, first heard anyone at 8 s: owed 73..99 (a bucket's worth fewer than 71..99), no more."""
    book = DeliveryBook()
    send_100(book)
    book.listening("g0", URL, "r2", 5.0)
    book.heard("r2", at(8))
    book.see("g0", "r2", "s2", 0)  # another sender's message: not s1's
    book.left("r2", at(30))
    room = merge_rooms([book.snapshot(at(40))])["g0"]
    assert (room.tail, room.expected, room.delivered) == (27, 28, 1)


def test_a_sender_that_heard_nothing_is_owed_what_others_sent_after_its_first_send():
    """A relay broken behind an acknowledgement: r1 sent marks from 4 s and heard none, not even its own copies.

    It is in the room from its first marked send (4.0 s): owed s1's 33..99, as 30..32 share the 250 ms of that
    send and rounding goes the way that owes less. A receiver that sent nothing and heard nothing is owed nothing.
    """
    book = DeliveryBook()
    send_100(book)
    book.listening("g0", URL, "r1", 5.0)
    for seq in range(3):
        book.sent("g0", URL, "r1", seq, at(4 + seq))
    book.listening("g0", URL, "mute", 5.0)  # listened, sent nothing, heard nothing
    book.left("r1", at(30))
    book.left("mute", at(30))
    room = merge_rooms([book.snapshot(at(40))])["g0"]
    assert (room.delivered, room.tail) == (0, 99 - 32)  # s1 did not listen: it is owed nothing of r1's
    assert room.expected == room.missing == room.tail and room.ratio == 0.0
    assert "mute" not in book.snapshot(at(40))["receivers"]


def test_no_tail_for_whom_was_not_there():
    """Joined after the last message, heard no mark at all, another room, another path, itself: nothing owed."""
    book = DeliveryBook()
    send_100(book)
    book.listening("g0", URL, "late", 5.0)
    book.heard("late", at(11))
    book.listening("g0", URL, "deaf", 5.0)  # listened, but never received a marked message
    book.listening("g1", "ws://127.0.0.1:8000/chat/g1", "elsewhere", 5.0)
    book.heard("elsewhere", at(1))
    book.listening("g0", "ws://127.0.0.1:8000/lobby/g0", "lobby", 5.0)  # same {group}, another route
    book.heard("lobby", at(1))
    book.listening("g0", URL, "s1", 5.0)  # the sender, hearing its own copies
    book.heard("s1", at(1))
    book.see("g0", "lobby", "x", 0)  # so that g0 has a row
    rooms = merge_rooms([book.snapshot(at(60))])
    assert rooms["g0"].tail == 0 and rooms["g0"].missing == 0
    assert "g1" not in rooms


def test_merged_workers_equal_one_process():
    """The same run split over three processes (senders and receivers apart, through JSON) = one process."""
    one, a, b, c = DeliveryBook(), DeliveryBook(), DeliveryBook(), DeliveryBook()
    for book, sender in ((one, "s1"), (a, "s1"), (one, "s9"), (c, "s9")):
        send_100(book, sender)
    for book, receiver, seqs in (
        (one, "r1", range(50)),
        (b, "r1", range(50)),
        (one, "r2", (0, 1, 5)),
        (c, "r2", (0, 1, 5)),
    ):
        hear(book, receiver, seqs)
    for book in (one, b, c):
        book.left("r1", at(30))
    snaps = [json.loads(json.dumps(book.snapshot(at(40)))) for book in (a, b, c)]
    merged, alone = merge_rooms(snaps), merge_rooms([one.snapshot(at(40))])
    assert merged == alone
    # Each of r1, r2 first heard a mark at 1.05 s, in s9's bucket 1.0-1.25 s (0, 1, 2): owed s9's 3..99.
    # r1: s1's 50..99 + s9's 97; r2: s1's gaps 2-4 and 6..99 + s9's 97.
    assert (alone["g0"].tail, alone["g0"].missing) == (50 + 97 + 94 + 97, 50 + 97 + 3 + 94 + 97)


def test_the_index_is_bounded_and_errs_towards_owing_less():
    """Two minutes of sending keep 240 entries; a receiver that left before the index's reach is owed no tail."""
    book = DeliveryBook()
    for seq in range(1200):  # 10 a second for 120 s
        book.sent("g0", URL, "s1", seq, S + seq * 100_000_000)
    log = SendLog.decode(book.snapshot(at(200))["senders"]["s1"])
    assert len(log.buckets) <= 241
    assert log.sent_by(at(200)) == 1199 and log.sent_by(at(0.5)) == -1
    assert log.sent_by(at(30)) == -1 < log.maybe_sent_by(at(30))  # before the index: unknown, so owed nothing
    hear(book, "r1", range(100))
    book.left("r1", at(30))
    assert merge_rooms([book.snapshot(at(200))])["g0"].tail == 0


def test_numbers_before_the_first_marked_message_are_owed_to_nobody():
    """A join at number 0 without a mark, marked 1..10: a receiver that never heard the sender is owed 10, not 11."""
    book = DeliveryBook()
    for seq in range(1, 11):
        book.sent("g0", URL, "s1", seq, at(5) + seq * 100_000_000)
    book.listening("g0", URL, "r1", 1.0)
    book.heard("r1", at(2))
    book.see("g0", "r1", "s2", 0)
    assert merge_rooms([book.snapshot(at(40))])["g0"].tail == 10


def test_a_member_back_after_a_drop_missed_what_the_room_said_while_it_was_away():
    """Sender s1 sends 0..29, one a second; r1 hears 0..9, drops at 10.5 s, comes back as r2 and hears 20..29.

    r1 is owed nothing after 10.5 s minus its 5 s grace, and heard up to 9: marks 10..19 were missed while away
    (up to what was surely sent when r2 was known in the room: 19 was sent at 19 s, r2 heard 20 at 20 s);
    they are not missing, and the ratio is untouched."""
    s = 1_000_000_000
    book = DeliveryBook()
    for seq in range(30):
        book.sent("g0", "ws://h/chat/g0", "s1", seq, (100 + seq) * s)
    book.listening("g0", "ws://h/chat/g0", "r1", 5.0)
    book.heard("r1", 100 * s)
    for seq in range(10):
        book.see("g0", "r1", "s1", seq)
    book.left("r1", int(110.5 * s))
    book.listening("g0", "ws://h/chat/g0", "r2", 5.0)
    book.rejoined("r2", "r1")
    book.heard("r2", 120 * s)
    for seq in range(20, 30):
        book.see("g0", "r2", "s1", seq)
    rooms = merge_rooms([book.snapshot(130 * s)])
    assert rooms["g0"].away == 10  # 10..19
    assert rooms["g0"].missing == 0 and rooms["g0"].delivered == rooms["g0"].expected == 20


def test_a_failed_last_mark_is_owed_to_nobody():
    s = 1_000_000_000
    book = DeliveryBook()
    for seq in range(3):
        book.sent("g0", "ws://h/chat/g0", "s1", seq, (100 + seq) * s)
    book.unsent("s1", 1)  # not its last: kept
    book.unsent("s1", 2)
    assert book.snapshot()["senders"]["s1"][4] == 1


def test_what_a_dropped_sender_sent_within_the_grace_before_its_drop_is_lost_with_it_not_missing():
    """s1 sends 0..19, one a second, and its connection drops at 19.5 s; r1, connected throughout, heard 0..15.

    16..19 were sent within r1's 5 s grace before s1's drop (14.5 s): lost with the sender, not missing."""
    s = 1_000_000_000
    book = DeliveryBook()
    for seq in range(20):
        book.sent("g0", "ws://h/chat/g0", "s1", seq, (100 + seq) * s)
    book.sender_dropped("s1", int(119.5 * s))
    book.listening("g0", "ws://h/chat/g0", "r1", 5.0)
    book.heard("r1", 100 * s)
    for seq in range(16):
        book.see("g0", "r1", "s1", seq)
    rooms = merge_rooms([book.snapshot(200 * s)])
    assert rooms["g0"].missing == 0 and rooms["g0"].in_drop == 4
