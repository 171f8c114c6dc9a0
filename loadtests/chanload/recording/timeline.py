"""Per-second history of a run: latency percentiles, counts, failures and open connections."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from chanload.recording.hlog import IntervalLog
from chanload.recording.latency import Key, Slice, metric_name, new_histogram

# Workers report every 3 s (Locust's WORKER_REPORT_INTERVAL); a second is final once every worker
# has had the chance to report it.
HOLD_SECONDS = 10


@dataclass
class Point:
    """One key's samples in one second; latencies in microseconds."""

    second: int
    kind: str
    name: str
    count: int
    failures: int
    p50: int
    p90: int
    p99: int
    max: int


class Timeline:
    """Merges slices and gauge readings per second, then reduces each second to a `Point`.

    Each sealed second's merged histograms also go to `hlog` (latency.hlog, `chanload.recording.hlog`),
    the run's distributions kept whole for `compare` and `--baseline`.
    """

    def __init__(self, start: float | None = None) -> None:
        self.hlog = IntervalLog(time.time() if start is None else start)
        self._open: dict[int, dict[Key, Slice]] = {}
        self.points: list[Point] = []
        self._gauges: dict[int, dict[str, int]] = {}

    def add(self, piece: Slice) -> None:
        bucket = self._open.setdefault(piece.second, {})
        merged = bucket.get(piece.key)
        if merged is None:
            merged = bucket[piece.key] = Slice(piece.second, piece.key, new_histogram())
        merged.histogram.add(piece.histogram)
        merged.failures += piece.failures

    def gauge(self, second: int, source: str, open_connections: int) -> None:
        """The open connections one process (`source`) held at `second`; sources are summed."""
        self._gauges.setdefault(second, {})[source] = open_connections

    def seal(self, before: int | None = None) -> None:
        """Reduce every second older than `before` (all seconds if None) to points."""
        for second in sorted(s for s in self._open if before is None or s < before):
            for piece in self._open.pop(second).values():
                h = piece.histogram
                count = h.get_total_count()
                if count:
                    self.hlog.add(second, metric_name(piece.key[0]), piece.key[1], h)
                self.points.append(
                    Point(
                        second,
                        piece.key[0],
                        piece.key[1],
                        count,
                        piece.failures,
                        h.get_value_at_percentile(50) if count else 0,
                        h.get_value_at_percentile(90) if count else 0,
                        h.get_value_at_percentile(99) if count else 0,
                        h.get_max_value() if count else 0,
                    )
                )

    def latest_connections(self) -> int:
        """Open connections now: each source's latest reading, summed."""
        latest: dict[str, tuple[int, int]] = {}
        for second, by_source in self._gauges.items():
            for source, value in by_source.items():
                if source not in latest or second > latest[source][0]:
                    latest[source] = (second, value)
        return sum(value for _, value in latest.values())

    def connections(self) -> list[tuple[int, int]]:
        return [(second, sum(by_source.values())) for second, by_source in sorted(self._gauges.items())]

    def to_dict(self) -> dict:
        self.seal()
        return {
            "latency": [asdict(p) for p in sorted(self.points, key=lambda p: (p.second, p.kind, p.name))],
            "connections": [{"second": s, "open": n} for s, n in self.connections()],
        }
