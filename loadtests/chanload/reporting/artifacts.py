"""Run artifacts in --report-dir: probed before any load, written at the end as one run's set.

The folder never mixes two runs: the previous run's artifacts are removed first, then every file is
written to a temp file and only renamed into place once all of them were written. If a write fails
(a full disk), nothing of the set is renamed except a summary.json and junit.xml that say the
artifacts are incomplete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from chanload.recording.hlog import NAME as HLOG
from chanload.recording.hlog import IntervalLog
from chanload.recording.hlog import header as hlog_header
from chanload.reporting.charts import PNG_NAMES, render_pngs
from chanload.reporting.html import render_html
from chanload.reporting.junit import render_junit

log = logging.getLogger("chanload")

SUMMARY = "summary.json"
# Every file a run may write, in the order they matter; a new run removes all of them first.
ARTIFACTS = (SUMMARY, "junit.xml", "report.html", HLOG, *(f"{name}.png" for name in PNG_NAMES))
_TEMP_PREFIX = ".chanload-"
# Temp files being written right now: an abort (a third Ctrl-C) removes them on its way out.
pending: set[Path] = set()


@dataclass
class Outcome:
    """What write_all did: the files in place, and the ones it could not write (name -> why)."""

    folder: Path
    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failed


def probe(report_dir: str | Path) -> str | None:
    """Create the folder, write and remove a probe file; None if that worked, else what went wrong.

    Folders the probe created are removed again: a run stopped before its end leaves no trace.
    """
    folder = Path(report_dir)
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}probe-", dir=folder)
        try:
            os.write(fd, b"chanload probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        return f"cannot write there: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_write_temp(path, data), path)


def write_all(
    report_dir: str | Path,
    summary: dict,
    failed_code: int | None = None,
    png_charts: bool = True,
    hlog: IntervalLog | None = None,
) -> Outcome:
    """Write the run's artifacts; summary.json records whether they are complete.

    Args:
        failed_code: the exit code to record in summary.json if the set cannot be written whole.
        png_charts: draw the charts as PNG files too (--ws-png-charts); report.html has them as SVG either way.
        hlog: the run's interval log, written as latency.hlog (streamed from its spool, line by line).
    """
    folder = Path(report_dir)
    outcome = Outcome(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_previous(folder)
    except OSError as exc:
        outcome.failed = {"*": f"cannot write in {folder}: {_why(exc)}"}
        summary["artifacts"] = {"complete": False, "files": [], "errors": outcome.failed}
        return outcome
    contents: dict[str, str | bytes | IntervalLog] = {}
    if hlog is not None:
        contents[HLOG] = hlog
    contents.update(_render(summary, png_charts=png_charts, hlog=hlog is not None))
    temps: dict[str, Path] = {}
    try:
        for name, data in contents.items():
            temps[name] = _write_temp(folder / name, data)
    except OSError as exc:
        outcome.failed[name] = _why(exc)
        for tmp in temps.values():
            _discard(tmp)
        return _write_incomplete(folder, summary, outcome, list(contents), failed_code)
    for name, tmp in temps.items():
        os.replace(tmp, folder / name)
        pending.discard(tmp)
        outcome.written.append(name)
    return outcome


def status_line(report_dir: str | Path, artifacts: dict | None) -> str:
    """What the console says about the artifacts: where they are, or plainly that they are incomplete."""
    if artifacts and artifacts.get("complete"):
        off = " (no PNG charts: --ws-png-charts off)" if artifacts.get("png_charts") == "off" else ""
        return f"chanload: artifacts in {report_dir}{off}"
    errors = (artifacts or {}).get("errors") or {"*": "nothing was written"}
    written = ", ".join((artifacts or {}).get("files") or []) or "nothing"
    why = "; ".join(f"{name}: {reason}" for name, reason in errors.items())
    return f"chanload: ARTIFACTS INCOMPLETE in {report_dir}: written {written}; not written: {why}"


def _render(
    summary: dict, did_not_fit: dict[str, str] | None = None, png_charts: bool = True, hlog: bool = False
) -> dict[str, str | bytes]:
    """Every artifact's content; for a set that did not fit, only summary.json and junit.xml, saying so."""
    names = [SUMMARY, "junit.xml"] if did_not_fit else [SUMMARY, "junit.xml", "report.html"]
    if hlog and not did_not_fit:
        names.append(HLOG)
    # "complete": every file of the set is in the folder ("files" lists them).
    summary["artifacts"] = {"complete": not did_not_fit, "files": names}
    images: dict[str, bytes] = {}
    if did_not_fit:
        summary["artifacts"]["errors"] = did_not_fit
    elif not png_charts:
        summary["artifacts"]["png_charts"] = "off"  # none drawn, on purpose: the set is complete without them
    else:
        try:
            images = render_pngs(summary)
            summary["artifacts"]["files"] = names + list(images)
        except Exception as exc:  # a chart that cannot be drawn must not cost the run its summary
            log.exception("chanload: could not draw the PNG charts")
            summary["artifacts"]["charts_error"] = repr(exc)
    contents: dict[str, str | bytes] = {
        SUMMARY: json.dumps(summary, indent=2) + "\n",
        "junit.xml": render_junit(summary),
    }
    if "report.html" in names:
        contents["report.html"] = render_html(summary)
    return {**contents, **images}


def _write_incomplete(folder: Path, summary: dict, outcome: Outcome, planned: list[str], code: int | None) -> Outcome:
    # The whole set did not fit: keep only the record of the run, saying so (the space the other
    # temp files took is free again).
    for name in planned:
        outcome.failed.setdefault(name, "not written: the whole set did not fit")
    if code is not None:
        summary["exit_code"] = code
    kept = (SUMMARY, "junit.xml")
    for name, data in _render(summary, {n: why for n, why in outcome.failed.items() if n not in kept}).items():
        try:
            write_atomic(folder / name, data)
            outcome.written.append(name)
            outcome.failed.pop(name, None)
        except OSError as exc:
            outcome.failed[name] = _why(exc)
    summary["artifacts"] = {"complete": False, "files": outcome.written, "errors": outcome.failed}
    return outcome


def _write_temp(path: Path, data: str | bytes | IntervalLog) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}{path.name}.", dir=path.parent)
    tmp = Path(name)
    pending.add(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, IntervalLog):
                out.write(hlog_header(data.start).encode())
                for text in data.lines():
                    out.write(text.encode())
            else:
                out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are for CI uploaders too
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _remove_previous(folder: Path) -> None:
    for name in ARTIFACTS:
        (folder / name).unlink(missing_ok=True)
        for leftover in folder.glob(f".{name}.*"):  # temp files of an older chanload
            leftover.unlink(missing_ok=True)
    for leftover in folder.glob(f"{_TEMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)


def remove_pending() -> None:
    """Remove temp files still being written (an aborted write); called on the way out."""
    for tmp in list(pending):
        _discard(tmp)


def _discard(tmp: Path) -> None:
    pending.discard(tmp)
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
