"""Broadcast accounting: gaps, duplicates and reordering per (receiver, sender)."""

from __future__ import annotations

from chanload.recording.delivery import DeliveryBook, Track, merge_rooms


def test_in_order_delivery_is_complete():
    """0..9 in order: all delivered, nothing missing."""
    book = DeliveryBook()
    for seq in range(10):
        book.see("g0", "r1", "s1", seq)
    assert book.snapshot()["g0"] == {"expected": 10, "delivered": 10, "missing": 0, "duplicated": 0, "reordered": 0}


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
    assert book.snapshot()["g0"]["expected"] == 3
    assert book.snapshot()["g0"]["missing"] == 0


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
