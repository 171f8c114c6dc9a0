"""A finished run read back from its report folder: summary.json, and latency.hlog beside it when there is one.

`compare` reads BASE and NEW this way, and `--baseline DIR` its baseline (before any load: a folder that cannot
be read stops the run with exit code 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram

from chanload.recording.hlog import NAME as HLOG
from chanload.recording.hlog import Interval, Log, LogError
from chanload.recording.hlog import read as read_hlog

SCHEMA_PREFIX = "chanload.summary/"


class RunError(Exception):
    """A run that cannot be read back (missing, unreadable, not a chanload summary); the message says why."""


@dataclass
class Run:
    """One side of a comparison: its summary, its per-second histograms (None without latency.hlog)."""

    label: str
    path: Path
    summary: dict
    log: Log | None

    def rows(self) -> dict[tuple[str, str], dict]:
        return {(r["type"], r["name"]): r for r in self.summary.get("latency") or []}

    def seconds(self, row: dict) -> list[tuple[int, Interval]]:
        """The row's per-second histograms as (second from the start, the interval: its count, decoded on use)."""
        if self.log is None:
            return []
        return [(round(i.offset), i) for i in self.log.intervals.get((row["metric"], row["name"]), [])]

    def total(self, row: dict) -> HdrHistogram | None:
        """The row's whole-run histogram: summary.json's `hdr`, else merged from the log."""
        if row.get("hdr"):
            return HdrHistogram.decode(row["hdr"])
        if self.log is not None and (row["metric"], row["name"]) in self.log.intervals:
            return self.log.total((row["metric"], row["name"]))
        return None


def load(path: str | Path, label: str) -> Run:
    """A run from a report folder or a summary.json; its latency.hlog when it has one beside the summary."""
    given = Path(path)
    summary_path = given / "summary.json" if given.is_dir() else given
    if not given.exists():
        raise RunError(f"{label} {str(given)!r}: no such file or folder")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{label} {str(given)!r}: no summary.json in it (a --report-dir of a run?)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{label} {str(summary_path)!r}: not a readable JSON summary ({exc})") from None
    if not isinstance(summary, dict) or not str(summary.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise RunError(f"{label} {str(summary_path)!r}: not a chanload summary.json (no chanload schema)")
    hlog_path = summary_path.parent / HLOG
    log = None
    if hlog_path.exists():
        try:
            log = read_hlog(hlog_path)
        except LogError as exc:
            raise RunError(f"{label}: {exc}") from None
    return Run(label, summary_path.parent, summary, log)
