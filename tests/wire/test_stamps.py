"""chanload.wire.stamps: the benchmarks' send stamps, off unless asked, decided once, written at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from chanload.wire import stamps

SCRIPT = textwrap.dedent(
    """
    import time
    from chanload.wire import stamps
    from chanload.testing import FakeServer

    record = stamps.sink()
    assert record is not None and stamps.sink().__self__ is record.__self__  # one list for the process
    ws = FakeServer().session()
    ws.connect()
    due = time.perf_counter()
    ws.request(intended=due)
    ws.request()  # not scheduled (closed model): no stamp
    ws.close()
    assert stamps.SENDS == [(due, stamps.SENDS[0][1])], stamps.SENDS
    print("ok")
    """
)


def test_off_without_the_switch(monkeypatch):
    """No CHANLOAD_SEND_STAMPS: nothing to record into, and SENDS (the older name) is None."""
    monkeypatch.delenv(stamps.ENV, raising=False)
    assert stamps.sink() is None
    assert stamps.SENDS is None


@pytest.mark.e2e  # a fresh interpreter: the file is written when it exits
def test_a_scheduled_send_is_stamped_and_written_at_exit(tmp_path):
    """With the switch, each scheduled send's (intended, actual) pair is written to the file when the process exits."""
    out = tmp_path / "stamps.json"
    env = {**os.environ, stamps.ENV: str(out)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    written = json.loads(out.read_text())
    assert len(written["intended"]) == len(written["actual"]) == 1
    assert written["actual"][0] >= written["intended"][0]
