"""Delivery per room on the console (the worst few) and in report.html (every room), the tail apart."""

from __future__ import annotations

import re

from chanload.recording.counters import Ledger
from chanload.recording.delivery import RoomTotals
from chanload.recording.latency import Aggregate
from chanload.reporting.html import render_html
from chanload.reporting.summary import ROOM_LINES, build, render


def summary_with_rooms(count: int) -> dict:
    """Rooms r0..r{count-1}: room i misses i messages of 1000, i // 2 of them in the tail."""
    rooms = {
        f"r{i}": RoomTotals(expected=1000, delivered=1000 - i, missing=i, tail=i // 2, duplicated=1, reordered=2)
        for i in range(count)
    }
    return build(aggregate=Aggregate(), ledger=Ledger(), rooms=rooms, timeline={}, parameters={}, status="completed",
                 started=0.0)  # fmt: skip


def test_the_console_shows_the_total_then_the_worst_rooms_at_most_five():
    summary = summary_with_rooms(8)
    total = summary["delivery"]["total"]
    assert (total["expected"], total["missing"], total["tail"]) == (8000, 28, 12)
    lines = render(summary).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("broadcast delivery:"))
    assert lines[start] == (
        "broadcast delivery: 99.6500% (promise >= 99.99%), delivered 7972 of 8000, missing 28 (tail 12),"
        " duplicated 8, reordered 16 in 8 rooms"
    )
    shown = lines[start + 1 : start + 1 + ROOM_LINES]
    assert [line.split(":")[0] for line in shown] == ["  room r7", "  room r6", "  room r5", "  room r4", "  room r3"]
    assert shown[0] == "  room r7: 99.3000%, delivered 993 of 1000, missing 7 (tail 3), duplicated 1, reordered 2"
    assert lines[start + 1 + ROOM_LINES].startswith("  ... and 3 more rooms, none worse")


def test_one_room_is_the_total_line_alone():
    lines = render(summary_with_rooms(1)).splitlines()
    assert any(line.startswith("broadcast delivery:") and line.endswith(" in 1 room") for line in lines)
    assert not any(line.startswith("  room") for line in lines)


def test_the_report_has_a_row_per_room_worst_first_gaps_and_tail_apart():
    page = render_html(summary_with_rooms(8))
    body = re.search(r'<table class="rooms">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    assert [row[0] for row in rows] == [f"r{i}" for i in range(7, -1, -1)]
    assert rows[0] == ["r7", "1,000", "993", "7", "4", "3", "1", "2", "99.3000%"]
