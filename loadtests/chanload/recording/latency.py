"""Latency recording: an HDR histogram per (request type, name) at 1 us resolution, sliced per second.

The hot path (`Recorder.record`) writes one value into the histogram of the current wall-clock
second. Slices leave the recorder through `drain()`: a worker encodes and ships them to the master,
the local or master process feeds them to an `Aggregate`, which merges them into run totals and the
per-second timeline. Nothing is sampled or rounded beyond HDR's 3 significant digits (<= 0.1%).
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000  # 60 s: longer samples are clamped to it and counted in `clamped`
SIGNIFICANT_DIGITS = 3

Key = tuple[str, str]  # (request type, name), e.g. ("WS message", "room/[group]")


def metric_name(kind: str) -> str:
    """The short metric name thresholds use: 'WS message corrected' -> 'message_corrected', 'HTTP login' -> 'login'."""
    for prefix in ("WS ", "HTTP "):
        if kind.startswith(prefix):
            kind = kind[len(prefix) :]
    return kind.strip().lower().replace(" ", "_")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class Slice:
    """Samples of one key in one wall-clock second (or the part of it seen before a drain)."""

    second: int
    key: Key
    histogram: HdrHistogram
    failures: int = 0

    def encode(self) -> list:
        return [self.second, self.key[0], self.key[1], self.histogram.encode().decode(), self.failures]

    @classmethod
    def decode(cls, row: list) -> Slice:
        second, kind, name, blob, failures = row
        return cls(int(second), (kind, name), HdrHistogram.decode(blob), int(failures))


class _Open:
    """One key's samples in the current second: a count per whole microsecond, made a histogram on drain."""

    __slots__ = ("counts", "failures", "key", "second")

    def __init__(self, second: int, key: Key) -> None:
        self.second, self.key = second, key
        self.counts: dict[int, int] = {}
        self.failures = 0

    def close(self) -> Slice:
        histogram = new_histogram()
        for us, n in self.counts.items():
            histogram.record_value(us, n)
        return Slice(self.second, self.key, histogram, self.failures)


class Recorder:
    """Per-process sample sink; cheap enough to call for every message.

    `record` adds one to a dict entry (the sample's whole microseconds) of the current second; the
    HDR histogram is filled from those counts when the second is drained, with exactly the values it
    would have been given one by one (`record_value` alone costs ~4 us a sample in Python).
    """

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._second = int(clock())
        self._open: dict[Key, _Open] = {}
        self._closed: list[_Open] = []
        self.clamped = 0

    def record(self, kind: str, name: str, seconds: float) -> None:
        """One successful sample of `seconds` (float) for (kind, name)."""
        self.record_us(kind, name, round(seconds * 1_000_000))

    def record_us(self, kind: str, name: str, us: int) -> None:
        """One successful sample of `us` whole microseconds for (kind, name)."""
        current = self._slice(kind, name)
        if us > HIGHEST_US:
            us = HIGHEST_US
            self.clamped += 1
        elif us < 0:  # a clock step backwards between two processes; never drop the sample
            us = 0
        counts = current.counts
        counts[us] = counts.get(us, 0) + 1

    def fail(self, kind: str, name: str) -> None:
        self._slice(kind, name).failures += 1

    def drain(self) -> list[Slice]:
        """Every slice recorded so far, the current partial second included; the recorder starts empty."""
        pending = self._closed
        pending.extend(self._open.values())
        self._closed = []
        self._open = {}
        return [piece.close() for piece in pending if piece.failures or piece.counts]

    def _slice(self, kind: str, name: str) -> _Open:
        second = int(self._clock())
        if second != self._second:
            self._closed.extend(self._open.values())
            self._open = {}
            self._second = second
        key = (kind, name)
        current = self._open.get(key)
        if current is None:
            current = self._open[key] = _Open(second, key)
        return current


@dataclass
class Aggregate:
    """Run totals per key, merged exactly from slices of any number of processes."""

    totals: dict[Key, HdrHistogram] = field(default_factory=dict)
    failures: dict[Key, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, piece: Slice) -> None:
        total = self.totals.get(piece.key)
        if total is None:
            total = self.totals[piece.key] = new_histogram()
        total.add(piece.histogram)
        self.failures[piece.key] += piece.failures

    def keys(self) -> list[Key]:
        return sorted(set(self.totals) | {k for k, v in self.failures.items() if v})

    def histogram(self, key: Key) -> HdrHistogram:
        return self.totals.get(key) or new_histogram()


@functools.cache
def _layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each counts index of our histograms: its lowest, highest and median equivalent value, in us."""
    h = new_histogram()
    lowest = [h.get_value_from_index(i) for i in range(h.counts_len)]
    highest = [h.get_highest_equivalent_value(v) for v in lowest]
    median = [h._hdr_median_equiv_value(v) for v in lowest]
    return np.array(lowest, np.int64), np.array(highest, np.int64), np.array(median, np.float64)


class Counts:
    """One histogram's counts as an array: the same percentiles, mean and cumulative counts as HdrHistogram's
    own methods, each in one vectorised pass instead of a Python loop over its ~17,000 buckets."""

    def __init__(self, h: HdrHistogram) -> None:
        counts = np.ctypeslib.as_array(h.counts)
        self._n = n = min(len(counts), h.counts_len)  # a decoded histogram may hold a truncated array
        self._counts = counts[:n].astype(np.int64)
        self._cumulative = np.cumsum(self._counts)
        self._h = h
        self.total = h.get_total_count()

    def percentile(self, pct: float) -> int:
        """As `HdrHistogram.get_value_at_percentile`: the top of the bucket where the rank falls."""
        if not self.total:
            return 0
        target = self._h.get_target_count_at_percentile(pct)
        index = int(np.searchsorted(self._cumulative, target, side="left"))
        if index >= self._n:
            return 0
        lowest, highest, _ = _layout()
        return int(highest[index] if pct else lowest[index])

    def mean(self) -> float:
        """As `HdrHistogram.get_mean_value`: each bucket at its median equivalent value."""
        if not self.total:
            return 0.0
        return float((self._counts * _layout()[2][: self._n]).sum()) / self.total  # no BLAS: no thread pool

    def at_most(self, bounds_us: Sequence[int]) -> list[int]:
        """Samples whose bucket's highest equivalent value (what percentiles report) is <= each bound."""
        highest = _layout()[1][: self._n]
        ends = np.searchsorted(highest, np.asarray(bounds_us, np.int64), side="right")
        return [int(self._cumulative[end - 1]) if end else 0 for end in ends]
