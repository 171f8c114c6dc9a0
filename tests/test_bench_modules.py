"""Every benchmark starts as the Makefile starts it: `python -m benchmarks.X` from the root, no PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


@pytest.mark.e2e
@pytest.mark.parametrize("module", MODULES)
def test_benchmark_module_imports_without_pythonpath(module):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", f"import benchmarks.{module}"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_short_gap_ratio_reads_a_schedule_with_none_as_under_half_a_step():
    from benchmarks.fidelity import short_gap_ratio

    assert short_gap_ratio(0.0, 0.0, users=50) == 0.0
    assert short_gap_ratio(0.0004, 0.0, users=50) == pytest.approx(0.04)
    assert short_gap_ratio(0.05, 0.04, users=50) == pytest.approx(1.25)
    assert short_gap_ratio(0.10, 0.02, users=50) == pytest.approx(5.0)
    assert short_gap_ratio(0.03, 0.0, users=50) > 1.25  # 3% where the schedule had none still fails
