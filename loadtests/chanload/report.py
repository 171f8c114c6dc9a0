"""Run artifacts in --report-dir, each written atomically (temp file, then rename)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

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
    """summary.json first (the record of the run), then junit.xml; each complete or absent."""
    folder = Path(report_dir)
    written = []
    path = folder / "summary.json"
    write_atomic(path, json.dumps(summary, indent=2) + "\n")
    written.append(path)
    path = folder / "junit.xml"
    write_atomic(path, render_junit(summary))
    written.append(path)
    return written
