"""latency.hlog: written in HdrHistogram's interval log format, read back by hdrh's own reader and by ours."""

from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from chanload.recording import hlog
from chanload.recording.latency import new_histogram
from chanload.recording.timeline import Timeline

START = 1_796_220_434.361  # a run that started mid-second


def histogram(values: list[int]) -> HdrHistogram:
    h = new_histogram()
    for v in values:
        h.record_value(v)
    return h


@pytest.mark.parametrize(
    ("metric", "name"),
    [("message", "room/[group]"), ("connect", "chat, lobby"), ("delivery", "a b\tc%2C\nd"), ("login", "")],
)
def test_tags_hold_no_comma_space_or_line_break_and_come_back_whole(metric, name):
    text = hlog.tag(metric, name)
    assert not set(text) & {",", " ", "\t", "\n", "\r"}
    assert hlog.untag(text) == (metric, name)


def test_hdrhistograms_own_reader_reads_every_interval_with_its_tag_and_counts(tmp_path):
    rng = random.Random(7)
    log = hlog.IntervalLog(START)
    expected: dict[str, int] = {}
    written = []
    for second in range(int(START), int(START) + 6):
        for metric, name in (("message", "room/[group]"), ("connect", "room, the [group]")):
            values = [rng.randint(50, 5000) for _ in range(rng.randint(1, 300))]
            log.add(second, metric, name, histogram(values))
            tag = hlog.tag(metric, name)
            expected[tag] = expected.get(tag, 0) + len(values)
            written.append((second - int(START), tag, len(values), max(values)))
    path = tmp_path / hlog.NAME
    path.write_text(log.text())
    reader = HistogramLogReader(str(path), new_histogram())
    seen = []
    while (h := reader.get_next_interval_histogram()) is not None:
        seen.append((round(h.get_start_time_stamp() / 1000 - int(START)), h.get_tag(), h.get_total_count()))
    assert [(s, t, n) for s, t, n, _ in written] == seen  # none skipped: no interval starts before StartTime
    # Interval_Max is in milliseconds; the payload keeps microseconds.
    first = path.read_text().splitlines()[5].split(",")
    assert first[0].startswith("Tag=") and first[1:3] == ["0.000", "1.000"]
    top = new_histogram().get_highest_equivalent_value(written[0][3])
    assert float(first[3]) == pytest.approx(top / 1000, abs=1e-3)
    ours = hlog.read(path)
    assert ours.start == int(START)
    assert {hlog.tag(*k): sum(i.histogram.get_total_count() for i in v) for k, v in ours.intervals.items()} == expected
    assert [i.offset for i in ours.intervals[("message", "room/[group]")]] == [0, 1, 2, 3, 4, 5]


def test_the_header_is_hdrhistograms(tmp_path):
    text = hlog.header(START)
    lines = text.splitlines()
    assert lines[0] == "#[Histogram log format version 1.3]"
    assert lines[1].startswith(f"#[StartTime: {int(START)}.000 (seconds since epoch), ")
    assert lines[2] == f"#[BaseTime: {int(START)}.000 (seconds since epoch)]"
    assert f"run started {START:.3f}" in lines[3] and "microseconds" in lines[3]
    assert lines[4] == hlog.LEGEND


def test_a_malformed_line_is_refused_with_its_line_number(tmp_path):
    path = tmp_path / hlog.NAME
    path.write_text(hlog.header(START) + "Tag=a:b,0.000,1.000,0.1,HISTFAAAAnotbase64!!\n")
    with pytest.raises(hlog.LogError, match=r"latency.hlog:6: the histogram does not decode"):
        hlog.read(path)
    path.write_text(hlog.header(START) + "hello\n")
    with pytest.raises(hlog.LogError, match=r":6: not an interval line: 'hello'"):
        hlog.read(path)
    with pytest.raises(hlog.LogError, match="cannot read"):
        hlog.read(tmp_path / "missing.hlog")


def test_the_log_is_spooled_to_disk_and_can_be_read_while_it_grows():
    log = hlog.IntervalLog(START)
    assert log.text() == hlog.header(START) and list(log.lines()) == []
    log.add(int(START), "message", "x", histogram([100]))
    assert len(list(log.lines())) == 1
    log.add(int(START) + 1, "message", "x", histogram([200, 300]))
    assert len(list(log.lines())) == 2 and log.intervals == 2  # reading does not lose the write position
    parsed = hlog.parse(log.text())
    assert parsed.total(("message", "x")).get_total_count() == 3
    log.close()


def test_the_timeline_writes_each_sealed_second_merged_across_sources():
    from chanload.recording.latency import Slice

    timeline = Timeline(START)
    second = int(START) + 2
    for values in ([100, 200], [300], [400, 500, 600]):  # three workers' slices of the same second
        timeline.add(Slice(second, ("WS message", "room/[group]"), histogram(values)))
    timeline.add(Slice(second + 1, ("WS connect", "room/[group]"), histogram([1000])))
    timeline.seal()
    parsed = hlog.parse(timeline.hlog.text())
    intervals = parsed.intervals[("message", "room/[group]")]
    assert len(intervals) == 1 and intervals[0].offset == 2 and intervals[0].histogram.get_total_count() == 6
    assert parsed.intervals[("connect", "room/[group]")][0].offset == 3
