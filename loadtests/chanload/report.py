"""Run artifacts in --report-dir, each written atomically (temp file, then rename)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from chanload.charts import render_pngs
from chanload.htmlreport import render_html
from chanload.junit import render_junit

log = logging.getLogger("chanload")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_all(report_dir: str | Path, summary: dict) -> list[Path]:
    """summary.json first (the record of the run), then junit.xml, report.html, PNG charts.

    Each file is complete or absent. A chart that cannot be drawn is logged and skipped: it must not
    cost the run its summary.
    """
    folder = Path(report_dir)
    written = []
    for name, render in (
        ("summary.json", lambda s: json.dumps(s, indent=2) + "\n"),
        ("junit.xml", render_junit),
        ("report.html", render_html),
    ):
        write_atomic(folder / name, render(summary))
        written.append(folder / name)
    try:
        images = render_pngs(summary)
    except Exception:  # noqa: BLE001 - see docstring
        log.exception("chanload: could not draw the PNG charts for %s", folder)
        return written
    for name, data in images.items():
        write_atomic(folder / name, data)
        written.append(folder / name)
    return written
