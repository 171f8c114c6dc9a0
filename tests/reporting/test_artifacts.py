"""--report-dir: probed before any load, one run's set per folder, readable modes, a full disk said plainly."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from chanload.reporting import artifacts as report
from tests.locustrun import run_locust
from tests.servers import free_port

FAST = ("--ws-think", "0.01-0.03")


@contextlib.contextmanager
def tmpfs(size: str, options: str = ""):
    """A real tmpfs of `size` (root only), always unmounted; skips where mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="chanload-tmpfs-"))
    opts = f"size={size}" + (f",{options}" if options else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def dead_host() -> str:
    return f"ws://127.0.0.1:{free_port()}"


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["under /proc", "a file", "read-only"])
def test_unwritable_report_dir_is_refused_before_any_load(tmp_path, kind):
    """/proc, a file instead of a folder, a read-only mount: exit 2 at once, the option named, no claim."""
    with contextlib.ExitStack() as stack:
        if kind == "under /proc":
            folder = Path("/proc/chanload-report")
        elif kind == "a file":
            folder = tmp_path / "not-a-folder"
            folder.write_text("a file\n")
        else:
            folder = stack.enter_context(tmpfs("1m", "ro")) / "run"
        run = run_locust(tmp_path, dead_host(), "--report-dir", str(folder), run_time="30s", timeout=30)
    assert run.code == 2, run.output[-2000:]
    assert f"--report-dir {folder}" in run.output and "give a folder you can write to" in run.output
    assert "artifacts in" not in run.output
    assert "Ramping to" not in run.output and "Traceback" not in run.output  # nothing was started


@pytest.mark.e2e
def test_full_disk_is_said_plainly_with_its_own_exit_code(tmp_path, target):
    """A 64 KiB tmpfs: the probe fits, the charts do not. Exit 6, the summary says what is missing, no old file."""
    with tmpfs("64k") as disk:
        (disk / "throughput.png").write_bytes(b"a chart of the previous run")
        (disk / "report.html").write_text("the previous run's report")
        run = run_locust(tmp_path, target.ws_url, *FAST, "--report-dir", str(disk), run_time="2s", png_charts="on")
        names = sorted(p.name for p in disk.iterdir())
        summary = json.loads((disk / "summary.json").read_text())
    assert run.code == 6, run.output[-3000:]
    assert "chanload: ARTIFACTS INCOMPLETE in" in run.output and "No space left on device" in run.output
    assert "chanload: artifacts in" not in run.output
    assert names == ["junit.xml", "summary.json"], names  # this run's record only: no stale chart, no temp file
    assert summary["exit_code"] == 6 and summary["status"] == "completed"
    assert summary["artifacts"]["complete"] is False
    assert "No space left on device" in json.dumps(summary["artifacts"]["errors"])
    assert summary["counters"]["ok"] > 0  # the run itself is recorded in full


@pytest.mark.e2e
def test_a_run_replaces_the_previous_runs_files_and_records_its_exit_code(tmp_path, target):
    """Stale artifacts go, other files stay; exit_code is the real code (0), files are 0644 under umask 022.

    No --ws-png-charts: by default the PNG charts are written, and listed, with the other files.
    """
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "histogram.png").write_bytes(b"previous run")
    (folder / ".summary.json.abc123").write_text("a temp file a killed run left")
    (folder / "notes.txt").write_text("the user's own file")
    old = os.umask(0o022)
    try:
        run = run_locust(tmp_path, target.ws_url, *FAST, run_time="2s", png_charts=None)
    finally:
        os.umask(old)
    assert run.code == 0, run.output[-3000:]
    assert run.summary["exit_code"] == 0  # not null: no thresholds, and the process exited 0
    assert run.summary["artifacts"] == {"complete": True, "files": list(report.ARTIFACTS)}
    assert sorted(p.name for p in folder.iterdir()) == sorted([*report.ARTIFACTS, "notes.txt"])
    assert (folder / "histogram.png").read_bytes() != b"previous run"
    for name in report.ARTIFACTS:
        assert (folder / name).stat().st_mode & 0o777 == 0o644, name
    assert f"chanload: artifacts in {folder}" in run.output
    assert "PNG" not in run.output


@pytest.mark.e2e
def test_png_charts_off_writes_none_removes_the_old_ones_and_says_so(tmp_path, target):
    """--ws-png-charts off: no PNG (a previous run's is removed too); summary.json lists what is there, complete."""
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "histogram.png").write_bytes(b"previous run")
    run = run_locust(tmp_path, target.ws_url, *FAST, run_time="2s", png_charts="off")
    assert run.code == 0, run.output[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == ["junit.xml", "latency.hlog", "report.html", "summary.json"]
    assert run.summary["artifacts"] == {
        "complete": True, "files": ["summary.json", "junit.xml", "report.html", "latency.hlog"], "png_charts": "off",
    }  # fmt: skip
    assert f"chanload: artifacts in {folder} (no PNG charts: --ws-png-charts off)" in run.output
    assert "<svg" in (folder / "report.html").read_text()  # the charts are still in the report


@pytest.mark.e2e
def test_exit_code_1_for_failed_requests_is_recorded(tmp_path, misbehaving):
    """Wrong replies, no thresholds: Locust's exit code 1, and summary.json says 1 too."""
    run = run_locust(tmp_path, misbehaving.ws_url, *FAST, "--ws-path", "wrong/{group}", run_time="2s")
    assert run.code == 1, run.output[-3000:]
    assert run.summary["exit_code"] == 1


def test_probe_and_status_line(tmp_path):
    """The probe leaves nothing behind; the console line never claims an incomplete set."""
    assert report.probe(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists()  # what the probe created, it removed
    (tmp_path / "c").mkdir()
    assert report.probe(tmp_path / "c") is None and list((tmp_path / "c").iterdir()) == []
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in report.probe(tmp_path / "file")
    assert report.status_line("d", {"complete": True, "files": ["summary.json"]}) == "chanload: artifacts in d"
    line = report.status_line("d", {"complete": False, "files": ["summary.json"], "errors": {"x.png": "full"}})
    assert "INCOMPLETE" in line and "x.png: full" in line and "written summary.json" in line


def test_write_all_without_pngs_draws_none(tmp_path, monkeypatch):
    """Unit: png_charts=False never calls the PNG renderer; the set is complete without the PNGs, and says so."""
    summary = json.loads((Path(__file__).parent.parent / "data" / "summary_sample.json").read_text())
    summary["thresholds"] = []

    def no_drawing(_summary):
        raise AssertionError("drew PNGs")

    monkeypatch.setattr(report, "render_pngs", no_drawing)
    outcome = report.write_all(tmp_path, summary, png_charts=False)
    assert outcome.complete and outcome.written == ["summary.json", "junit.xml", "report.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "report.html", "summary.json"]
    assert summary["artifacts"] == {"complete": True, "files": outcome.written, "png_charts": "off"}
    assert (
        report.status_line("d", summary["artifacts"]) == "chanload: artifacts in d (no PNG charts: --ws-png-charts off)"
    )


def test_write_all_keeps_only_a_record_that_says_incomplete(tmp_path, monkeypatch):
    """Unit: the 4th file fails (ENOSPC, simulated): no temp file left, summary and JUnit say incomplete, exit 6."""
    summary = json.loads((Path(__file__).parent.parent / "data" / "summary_sample.json").read_text())
    summary["thresholds"] = []  # the sample predates the JUnit detail field; the thresholds are not the point
    (tmp_path / "connections.png").write_bytes(b"previous run")
    real = report._write_temp
    calls = []

    def full_after_three(path, data):
        calls.append(path.name)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(report, "_write_temp", full_after_three)
    outcome = report.write_all(tmp_path, summary, failed_code=6)
    assert not outcome.complete and outcome.written == ["summary.json", "junit.xml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "summary.json"]
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["exit_code"] == 6 and written["artifacts"]["complete"] is False
    assert written["artifacts"]["errors"][calls[3]] == "No space left on device"
    assert "incomplete" in report.status_line(tmp_path, summary["artifacts"]).lower()
