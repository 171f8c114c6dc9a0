"""HDR recording: exact counts through slicing, encoding and merging; no sample dropped or rounded away."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from chanload.recording.latency import HIGHEST_US, Aggregate, Counts, Recorder, Slice, new_histogram


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_sub_millisecond_values_keep_microsecond_resolution():
    """0.000452 s is recorded as 452 us, not 0 ms."""
    rec = Recorder()
    for _ in range(10):
        rec.record("WS message", "room/[group]", 0.000452)
    agg = Aggregate()
    for piece in rec.drain():
        agg.add(piece)
    h = agg.histogram(("WS message", "room/[group]"))
    assert h.get_value_at_percentile(50) == 452
    assert h.get_total_count() == 10


def test_slices_follow_wall_clock_seconds():
    """Samples land in the slice of the second they were recorded in."""
    clock = FakeClock(1000.2)
    rec = Recorder(clock)
    rec.record("WS message", "a", 0.001)
    clock.t = 1001.5
    rec.record("WS message", "a", 0.002)
    rec.record("WS message", "a", 0.003)
    rec.fail("WS message", "a")
    pieces = sorted(rec.drain(), key=lambda s: s.second)
    assert [(p.second, p.histogram.get_total_count(), p.failures) for p in pieces] == [(1000, 1, 0), (1001, 2, 1)]
    assert rec.drain() == []


def test_merge_of_encoded_worker_slices_is_exact():
    """Merged count equals the sum of every worker's count, and percentiles equal a single histogram's."""
    rng = random.Random(7)
    reference = new_histogram()
    master = Aggregate()
    total = 0
    for _worker in range(3):
        clock = FakeClock(2000.0)
        rec = Recorder(clock)
        n = rng.randrange(1000, 3000)
        total += n
        for i in range(n):
            clock.t = 2000.0 + i / 500
            value = rng.lognormvariate(-7.5, 0.6)  # around 0.5 ms
            rec.record("WS message", "room/[group]", value)
            reference.record_value(round(value * 1_000_000))
        for row in [piece.encode() for piece in rec.drain()]:  # what a worker ships
            master.add(Slice.decode(row))
    merged = master.histogram(("WS message", "room/[group]"))
    assert merged.get_total_count() == total == reference.get_total_count()
    for pct in (50, 90, 99, 99.9, 100):
        assert merged.get_value_at_percentile(pct) == reference.get_value_at_percentile(pct)


def test_values_above_range_are_clamped_and_counted_not_dropped():
    """A 90 s sample counts as 60 s and is reported in `clamped`."""
    rec = Recorder()
    rec.record("WS message", "a", 90.0)
    agg = Aggregate()
    for piece in rec.drain():
        agg.add(piece)
    assert agg.histogram(("WS message", "a")).get_total_count() == 1
    assert agg.histogram(("WS message", "a")).get_max_value() >= HIGHEST_US * 0.999
    assert rec.clamped == 1


def test_negative_delivery_latency_is_kept_as_zero():
    """A clock step backwards must not lose the sample."""
    rec = Recorder()
    rec.record("WS delivery", "chat/[group]", -0.0001)
    assert sum(p.histogram.get_total_count() for p in rec.drain()) == 1


def test_counts_match_hdr_percentiles_mean_and_buckets_exactly():
    """Counts (numpy) gives HdrHistogram's own percentiles and mean, also after encode/decode and merging."""
    rng = random.Random(9)
    for spread in (0.3, 1.0, 3.0):
        h = new_histogram()
        for _ in range(3000):
            h.record_value(max(1, min(60_000_000, int(rng.lognormvariate(7, spread)))))
        merged = new_histogram()
        merged.add(HdrHistogram.decode(h.encode()))
        for hist in (h, merged, HdrHistogram.decode(h.encode())):
            fast = Counts(hist)
            for pct in (0, 1, 50, 90, 99, 99.9, 100):
                assert fast.percentile(pct) == hist.get_value_at_percentile(pct), (spread, pct)
            assert abs(fast.mean() - hist.get_mean_value()) < 1e-6 * hist.get_mean_value()
            bounds = [100, 1000, 2000, 4000, 100_000, 60_000_000]
            tops = [
                i.value_iterated_to for i in hist.get_recorded_iterator() for _ in range(i.count_at_value_iterated_to)
            ]
            assert fast.at_most(bounds) == [sum(t <= b for t in tops) for b in bounds]
    empty = Counts(new_histogram())
    assert (empty.percentile(50), empty.mean(), empty.at_most([10])) == (0, 0.0, [0])
