"""What a `Session` reports into: a small interface, and the plain implementation it uses on its own.

In a Locust run the run's `State` (`chanload.run.state`) is the recording: its `fire` goes through
Locust's request event. Anywhere else (a script, a unit test, a pytest test) a `LocalRecording` keeps
the same counters and HDR samples with no Locust at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chanload.recording.counters import Ledger
from chanload.recording.delivery import DeliveryBook
from chanload.recording.latency import Recorder

# fire(request_type, name, seconds, response_length, exception): one logical action, reported.
Fire = Callable[[str, str, float, int, "Exception | None"], None]


class Recording(Protocol):
    """Where a session's samples and counters go."""

    ledger: Ledger  # messages sent = ok + failed + in flight; connects; failures by kind
    delivery: DeliveryBook  # other members' marked messages, per room and sender
    recorder: Recorder  # HDR histograms per (request type, name)
    open_connections: int

    def fire(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        """Report one logical action: a sample, or a failure when `exc` is not None."""


@dataclass
class LocalRecording:
    """A recording of its own: samples straight into the HDR recorder, no Locust."""

    ledger: Ledger = field(default_factory=Ledger)
    delivery: DeliveryBook = field(default_factory=DeliveryBook)
    recorder: Recorder = field(default_factory=Recorder)
    open_connections: int = 0

    def fire(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        if exc is None:
            self.recorder.record(kind, name, seconds)
        else:
            self.recorder.fail(kind, name)
