"""Per-second resource samples: the watched target processes, Redis and its channel layer, the generator's CPU.

Pure bookkeeping (the samplers are in `chanload.watch.resources`). A sample is a flat dict whose `second` is the
epoch second it covers, the same second as the timeline's latency slices: figures averaged over an interval
(CPU, Redis ops/s) cover [second, second + 1); gauges (RSS, file descriptors, queued messages) are read at its
end. A source's series keeps one sample per second, in order; a second never sampled is a gap, not a zero.

Three groups of sources, each by name: `processes` (--watch NAME=PID), `redis` (--watch-redis) and `generator`
(`local`, `master`, or a worker's id: the load processes' own CPU). A process sample `{"second": S, "exited":
true}` ends its series (`exited` names S); a Redis sample `{"second": S, "available": false, "error": ...}` is a
second Redis did not answer. Peaks are the largest value of each numeric figure over the samples that have it.
"""

from __future__ import annotations

from collections.abc import Iterator

GENERATOR_BUSY = 0.9  # share of one core above which a generator process may be what is measured
GROUPS = ("processes", "redis", "generator")


class Source:
    """One watched thing's series: static facts (`info`), its samples by second, its peaks, when it exited."""

    def __init__(self, info: dict | None = None) -> None:
        self.info = dict(info or {})
        self.samples: list[dict] = []
        self.peak: dict[str, float] = {}
        self.exited: int | None = None

    def add(self, sample: dict) -> None:
        second = int(sample["second"])
        if self.exited is not None:
            return  # nothing follows an exit: a later PID of that number is another process
        if sample.get("exited"):
            self.exited = second
        if self.samples and self.samples[-1]["second"] >= second:
            if self.samples[-1]["second"] > second:
                return  # late: the series stays in order
            self.samples.pop()  # the same second again: the later reading stands
        self.samples.append(sample)
        for key, value in sample.items():
            if key != "second" and isinstance(value, int | float) and not isinstance(value, bool):
                self.peak[key] = max(self.peak.get(key, value), value)

    @property
    def latest(self) -> dict | None:
        return self.samples[-1] if self.samples else None

    def since(self, second: int) -> list[dict]:
        """The samples after `second`, oldest first."""
        newer: list[dict] = []
        for sample in reversed(self.samples):
            if sample["second"] <= second:
                break
            newer.append(sample)
        return newer[::-1]

    def to_dict(self, series: bool) -> dict:
        out = {**self.info, "exited": self.exited, "peak": dict(self.peak), "latest": self.latest}
        if series:
            out["series"] = list(self.samples)
        return out


class Resources:
    """Every watched source's per-second series for one run (`State.resources`)."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Source]] = {group: {} for group in GROUPS}
        self._busy: set[str] = set()

    def declare(self, group: str, name: str, info: dict) -> None:
        """A source's static facts (a PID, a URL, a capacity), shown beside its series."""
        self.source(group, name).info.update(info)

    def source(self, group: str, name: str) -> Source:
        sources = self.groups[group]
        if name not in sources:
            sources[name] = Source()
        return sources[name]

    def add(self, group: str, name: str, sample: dict) -> None:
        self.source(group, name).add(sample)

    def generator(self, name: str, second: int, share: float) -> bool:
        """One second's CPU of a load process (share of one core); True the first time it passes GENERATOR_BUSY."""
        self.add("generator", name, {"second": second, "cpu": round(share, 3)})
        if share > GENERATOR_BUSY and name not in self._busy:
            self._busy.add(name)
            return True
        return False

    def items(self, group: str) -> Iterator[tuple[str, Source]]:
        yield from sorted(self.groups[group].items())

    def to_dict(self, series: bool = True) -> dict:
        """summary.json's `resources`: per source its facts, `peak`, `latest`, `exited` and (`series`) every second.

        `generator.busy` names the load processes that passed GENERATOR_BUSY of a core in some second.
        """
        out: dict = {"interval_s": 1}
        for group in GROUPS:
            out[group] = {name: source.to_dict(series) for name, source in self.items(group)}
        out["generator_busy"] = {"limit": GENERATOR_BUSY, "processes": sorted(self._busy)}
        return out
