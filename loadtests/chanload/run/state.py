"""What chanload keeps for one Locust environment: the recorders users write into, and the merged run.

Users (through `chanload.conversation.session`) write into a `State`; `chanload.locust.plugin` creates one per
environment and wires it to Locust's events. Nothing here imports Locust, so a `State` also serves
in-process unit tests.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chanload.conversation.recording import Fire
from chanload.exceptions import NotSetUp
from chanload.recording.archive import Run
from chanload.recording.counters import Ledger
from chanload.recording.delivery import DeliveryBook
from chanload.recording.latency import Aggregate, Recorder, Slice
from chanload.recording.resources import GENERATOR_BUSY, Resources
from chanload.recording.timeline import Timeline
from chanload.recording.workers import Roll
from chanload.run.settings import Settings

log = logging.getLogger("chanload")


@dataclass
class State:
    """Everything chanload keeps for one Locust environment."""

    settings: Settings
    recorder: Recorder = field(default_factory=Recorder)
    ledger: Ledger = field(default_factory=Ledger)
    delivery: DeliveryBook = field(default_factory=DeliveryBook)
    aggregate: Aggregate = field(default_factory=Aggregate)
    timeline: Timeline = field(default_factory=Timeline)
    open_connections: int = 0
    started: float = field(default_factory=time.time)
    # Master: the latest absolute snapshot from each worker.
    worker_ledgers: dict[str, dict] = field(default_factory=dict)
    worker_delivery: dict[str, dict] = field(default_factory=dict)
    gauges: list[tuple[int, int]] = field(default_factory=list)
    finished: dict | None = None
    aborted_by: str | None = None
    # How a logical action is reported. The plugin routes it through Locust's request event (whose
    # listener records into `recorder`); without Locust it goes straight into the recorder.
    fire: Fire = field(init=False, repr=False)
    # Master: which workers took part in the run, and whose final report came (chanload.recording.workers).
    workers: Roll = field(default_factory=Roll)
    # Called with every batch of slices merged into the run (the capacity finder judges its steps on them).
    taps: list[Callable[[list[Slice]], None]] = field(default_factory=list)
    # The highest share of one core this process used in any second since the run started (the 1 s ticker),
    # and on a master each worker's (shipped in its reports).
    peak_cpu: float = 0.0
    # --baseline, read before any load (None: none given, or a worker: the master judges thresholds)
    baseline: Run | None = None
    worker_cpu: dict[str, float] = field(default_factory=dict)
    # Extra top-level sections of summary.json from other modules (e.g. "capacity", "drills").
    sections: dict[str, Any] = field(default_factory=dict)
    # Per-second resources: watched processes and Redis (master or local), and every load process's CPU.
    resources: Resources = field(default_factory=Resources)
    # Worker: the last second of its CPU series shipped to the master.
    cpu_shipped: int = 0
    # When the run's load stopped (its users were stopped: Locust's test_stop), for the leak figures; None before.
    stopped: float | None = None

    def __post_init__(self) -> None:
        self.fire = self.record_request
        self.timeline = Timeline(self.started)

    def record_request(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        """A request's sample (or failure) into the HDR recorder: what the request listener does."""
        if exc is None:
            self.recorder.record(kind, name, seconds)
        else:
            self.recorder.fail(kind, name)

    def reset(self) -> None:
        self.recorder = Recorder()
        self.ledger = Ledger()
        self.delivery = DeliveryBook()
        self.aggregate = Aggregate()
        self.started = time.time()
        self.timeline.hlog.close()
        self.timeline = Timeline(self.started)
        self.worker_ledgers.clear()
        self.worker_delivery.clear()
        self.gauges.clear()
        self.finished = None
        self.aborted_by = None
        self.workers = Roll()
        self.sections.clear()
        self.peak_cpu = 0.0
        self.worker_cpu.clear()
        self.resources = Resources()
        self.cpu_shipped = 0
        self.stopped = None

    def cpu(self, share: float, second: int | None = None, source: str = "local") -> None:
        """One second's CPU of this process, as a share of one core (the ticker's reading); with `second`, also
        into its per-second series (`source`: "local" or "master")."""
        self.peak_cpu = max(self.peak_cpu, share)
        if second is not None:
            self.generator_cpu(source, second, share)

    def generator_cpu(self, source: str, second: int, share: float) -> None:
        """A load process's CPU in one second (this one's, or a worker's); a console warning the first time it
        passes GENERATOR_BUSY of a core."""
        if self.resources.generator(source, second, share):
            log.warning(
                "generator busy: %s used %.0f%% of a core in one second (over %.0f%%): the latency may then be the "
                "generator's own; add workers",
                source, share * 100, GENERATOR_BUSY * 100,
            )  # fmt: skip

    @property
    def generator_peak_cpu(self) -> float:
        """The busiest generator process's peak: this one's, or a worker's."""
        return max([self.peak_cpu, *self.worker_cpu.values()])

    def take(self, pieces: list[Slice]) -> None:
        for piece in pieces:
            self.aggregate.add(piece)
            self.timeline.add(piece)
        for tap in self.taps:
            tap(pieces)


_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def bind(environment, settings: Settings) -> tuple[State, bool]:
    """The State of `environment`, created if it has none (then True), with `settings` in force."""
    st = _states.get(environment)
    if st is not None:
        st.settings = settings
        return st, False
    st = _states[environment] = State(settings)
    return st, True


def state(environment) -> State:
    """The State chanload keeps for `environment`."""
    try:
        return _states[environment]
    except KeyError:
        raise NotSetUp() from None
