"""latency.hlog: the run's per-second histograms as an HdrHistogram interval log, written and read back.

The format is HdrHistogram's own (Java `HistogramLogWriter`, log format 1.3), so its `HistogramLogReader`,
the Python port's reader and HistogramLogAnalyzer all read it::

    #[Histogram log format version 1.3]
    #[StartTime: 1764684000.000 (seconds since epoch), 2026-12-02T14:00:00Z]
    #[BaseTime: 1764684000.000 (seconds since epoch)]
    #[chanload: run started 1764684000.217; values in microseconds; Interval_Max in milliseconds; Tag=...]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    Tag=message:room/[group],0.000,1.000,1.234,HISTFAAAA...

- One line per (second, key) that had samples: the histogram of that wall-clock second's samples of the
  key, merged across workers. StartTime and BaseTime are the wall-clock second the run started in (the
  exact start is in the chanload comment), and start timestamps are whole seconds from it, so each interval
  is one wall-clock second and none starts before StartTime (readers skip those). A worker's report that
  comes more than 10 s late (the master's hold) adds a second line for a second already written; readers
  add them up.
- The tag is the summary row's `metric`, a colon and its `name` (e.g. `message:room/[group]`). A tag may not
  hold a comma, a space or a line break (the format splits on them): those and `%` are percent-encoded.
- Values are whole microseconds, as everywhere in chanload; `Interval_Max` is in milliseconds (the
  writer's max-value unit ratio is 1000), as HistogramLogAnalyzer expects.

`IntervalLog` keeps the lines in a temporary file as seconds are sealed, so a long run's log costs disk,
not memory. `read` parses a log back into per-tag intervals.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hdrh.histogram import HdrHistogram

from chanload.recording.latency import new_histogram

NAME = "latency.hlog"
FORMAT_VERSION = "1.3"
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
MAX_VALUE_UNIT_RATIO = 1000.0  # us -> ms in Interval_Max

_ESCAPE = {"%": "%25", ",": "%2C", " ": "%20", "\t": "%09", "\r": "%0D", "\n": "%0A"}
_UNESCAPE = re.compile(r"%(25|2C|20|09|0D|0A)", re.IGNORECASE)
_INTERVAL = re.compile(r"(?:Tag=([^,]*),)?([\d.]+),([\d.]+),([\d.]+),(\S+)")
_START = re.compile(r"#\[StartTime: *([\d.]+)")
_BASE = re.compile(r"#\[BaseTime: *([\d.]+)")


def tag(metric: str, name: str) -> str:
    """The log's tag for a summary row: 'message:room/[group]' (commas, spaces, line breaks, % encoded)."""
    return "".join(_ESCAPE.get(ch, ch) for ch in f"{metric}:{name}")


def untag(text: str) -> tuple[str, str]:
    """(metric, name) back from a tag."""
    plain = _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    metric, _, name = plain.partition(":")
    return metric, name


def header(start: float) -> str:
    """The log's header lines for a run that started at `start` (seconds since the epoch)."""
    whole = int(start)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(whole))
    return (
        f"#[Histogram log format version {FORMAT_VERSION}]\n"
        f"#[StartTime: {whole}.000 (seconds since epoch), {stamp}]\n"
        f"#[BaseTime: {whole}.000 (seconds since epoch)]\n"
        f"#[chanload: run started {start:.3f}; values in microseconds; Interval_Max in milliseconds;"
        " Tag=METRIC:NAME, percent-encoded]\n"
        f"{LEGEND}\n"
    )


def line(start: float, second: int, metric: str, name: str, histogram: HdrHistogram) -> str:
    """One interval: the histogram of wall-clock `second`, stamped relative to BaseTime (the run's start second)."""
    payload = histogram.encode().decode()
    offset = max(second - int(start), 0)
    peak = histogram.get_max_value() / MAX_VALUE_UNIT_RATIO
    return f"Tag={tag(metric, name)},{offset}.000,1.000,{peak:.3f},{payload}\n"


class IntervalLog:
    """The run's interval lines, spooled to a temporary file as seconds are sealed (memory stays flat)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.intervals = 0
        self._spool: IO[str] | None = None

    def add(self, second: int, metric: str, name: str, histogram: HdrHistogram) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile("w+", encoding="ascii", prefix="chanload-hlog-")
        self._spool.write(line(self.start, second, metric, name, histogram))
        self.intervals += 1

    def text(self) -> str:
        """The whole log: header and every interval written so far."""
        return header(self.start) + "".join(self.lines())

    def lines(self) -> Iterator[str]:
        """The interval lines written so far, in the order they were sealed."""
        if self._spool is None:
            return
        self._spool.flush()
        self._spool.seek(0)
        yield from self._spool
        self._spool.seek(0, 2)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


@dataclass
class Interval:
    """One interval of a log: seconds from the run's start, its length, its sample count, its histogram encoded.

    The histogram is kept encoded (a few hundred bytes) and decoded on each use: a decoded one holds its
    ~16,000 buckets (128 KB), so an hour's intervals decoded at once would take gigabytes.
    """

    offset: float
    length: float
    payload: str
    count: int

    @property
    def histogram(self) -> HdrHistogram:
        return HdrHistogram.decode(self.payload)


@dataclass
class Log:
    """A parsed interval log: the run's start (epoch seconds, None if the log has none), intervals per tag."""

    start: float | None
    intervals: dict[tuple[str, str], list[Interval]]

    def total(self, key: tuple[str, str]) -> HdrHistogram:
        """All intervals of (metric, name) merged."""
        merged = new_histogram()
        for interval in self.intervals.get(key, []):
            merged.add(interval.histogram)
        return merged


class LogError(ValueError):
    """A file that is not an HdrHistogram interval log (the message says where it went wrong)."""


def read(source: str | Path) -> Log:
    """Parse an interval log file; raises LogError naming the file and line of a malformed interval."""
    path = Path(source)
    try:
        with open(path, encoding="ascii", errors="replace") as lines:
            return parse_lines(lines, str(path))
    except OSError as exc:
        raise LogError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse(text: str, where: str = "latency.hlog") -> Log:
    """Parse an interval log's text (see `read`)."""
    return parse_lines(text.splitlines(), where)


def parse_lines(lines: Iterable[str], where: str = "latency.hlog") -> Log:
    """Parse an interval log line by line (see `read`); each interval is decoded once, for its count."""
    start: float | None = None
    base: float | None = None
    intervals: dict[tuple[str, str], list[Interval]] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip() or raw.startswith('"StartTimestamp"'):
            continue
        if raw.startswith("#"):
            found = _START.match(raw)
            if found:
                start = float(found.group(1))
            found = _BASE.match(raw)
            if found:
                base = float(found.group(1))
            continue
        found = _INTERVAL.fullmatch(raw.strip())
        if found is None:
            raise LogError(f"{where}:{number}: not an interval line: {raw.strip()[:80]!r}")
        try:
            histogram = HdrHistogram.decode(found.group(5))
        except Exception as exc:  # hdrh raises several kinds for a corrupt payload
            raise LogError(f"{where}:{number}: the histogram does not decode ({type(exc).__name__})") from None
        offset = float(found.group(2))
        if base is not None and start is not None:
            offset += base - start  # stamps relative to BaseTime; offsets from StartTime
        key = untag(found.group(1) or "")
        payload = found.group(5)
        intervals.setdefault(key, []).append(
            Interval(offset, float(found.group(3)), payload, histogram.get_total_count())
        )
    for found_intervals in intervals.values():
        found_intervals.sort(key=lambda i: i.offset)
    return Log(start, intervals)
