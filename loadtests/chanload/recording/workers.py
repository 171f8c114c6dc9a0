"""The master's roll of workers: who took part in a run, and whose final report never came.

A worker ships absolute snapshots every few seconds and a final one when it stops. A worker killed
mid-run (kill -9, a lost machine) sends no final report: what its users did after its last report
is missing from the master's counters, so the run's counters cannot be said to reconcile.

Locust's MasterRunner also notices a silent worker: after 3 missed heartbeats (1 s apart) it marks
it `missing` in `runner.clients`, and drops it 60 s later. That comes too late for a worker killed in
the run's last seconds, so the roll goes by final reports, and takes Locust's `missing` ones in too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Roll:
    """Workers of one run: client id -> (time of its last report or None, was that report final)."""

    reports: dict[str, tuple[float | None, bool]] = field(default_factory=dict)

    def joined(self, client_ids) -> None:
        """Workers taking part (the master's ready workers at test start)."""
        for client_id in client_ids:
            self.reports.setdefault(str(client_id), (None, False))

    def reported(self, client_id: str, at: float, final: bool) -> None:
        self.reports[str(client_id)] = (at, bool(final))

    def lost(self, missing=()) -> list[dict]:
        """Workers whose final report did not arrive, with the time of their last one.

        `missing`: workers Locust's heartbeats marked missing; counted in even if they never reported.
        """
        self.joined(missing)
        return [
            {"worker": client_id, "last_report": _iso(at) if at is not None else None}
            for client_id, (at, final) in sorted(self.reports.items())
            if not final
        ]


def describe(lost: list[dict]) -> str:
    """One line for the summary, the report and JUnit: which workers were lost, and since when."""
    parts = [
        f"worker {w['worker']} lost after its last report at {w['last_report']}"
        if w["last_report"]
        else f"worker {w['worker']} lost before its first report"
        for w in lost
    ]
    return "; ".join(parts) + ": what it did after that is missing, so the counters are not reconciled"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
