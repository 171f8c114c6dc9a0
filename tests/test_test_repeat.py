"""scripts/test_repeat.py (`make test-repeat`), the flake finder, on a repository of its own shape: a Makefile whose
`test-tiers` runs pytest's three tiers with JUnit XML, and a test that fails in the first run only.

The repository is a real git repository; each run is a real clone and a real `make test-tiers` with pytest, so
the table counts what pytest reported. Also scripts/tests_for.py (`make test-for`): the test files a module's
name reaches.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import test_repeat, tests_for
from tests.servers import ROOT, UNIT

MAKEFILE = """\
PYTHON ?= python3
TEST_WORKERS ?= 1
JUNIT ?=
junit = $(if $(JUNIT),--junitxml=$(JUNIT)-$(1).xml)
test-tiers: test-parallel test-timing test-inprocess
test-parallel:
\t$(PYTHON) -m pytest -p no:cacheprovider -q tests/test_steady.py tests/test_flaky.py $(call junit,parallel)
test-timing:
\t$(PYTHON) -m pytest -p no:cacheprovider -q tests/test_steady.py $(call junit,timing)
test-inprocess:
\t$(PYTHON) -m pytest -p no:cacheprovider -q tests/test_steady.py $(call junit,inprocess)
"""
FLAKY = """\
from pathlib import Path

COUNT = Path({count!r})


def test_fails_the_first_time():
    runs = int(COUNT.read_text()) if COUNT.exists() else 0
    COUNT.write_text(str(runs + 1))
    assert runs > 0, "the first run fails"
"""


def _repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "Makefile").write_text(MAKEFILE)
    (repo / "tests" / "test_steady.py").write_text("def test_holds():\n    assert 1 + 1 == 2\n")
    (repo / "tests" / "test_flaky.py").write_text(FLAKY.format(count=str(tmp_path / "count")))
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    return repo


@pytest.mark.e2e
def test_the_flake_finder_counts_a_test_that_failed_once_in_two_runs(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    proc = subprocess.run(
        [sys.executable, "scripts/test_repeat.py", "--runs", "2", "--repo", str(repo), "--keep", str(tmp_path / "k")],
        cwd=ROOT, capture_output=True, text=True, timeout=300 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # a test failed in a run
    # a tier that failed does not keep the others from running: 4 tests in each run
    assert "run 1: " in out and "4 tests, 1 failed" in out and "4 tests, 0 failed" in out, out
    assert "| tests.test_flaky::test_fails_the_first_time | 1 of 2 |" in out, out
    assert "test_holds" not in out.split("| test | failed in |")[1], out  # only what failed is listed
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == sorted(
        [f"run{n}.log" for n in (1, 2)] + [f"run{n}-{t}.xml" for n in (1, 2) for t in test_repeat.TIERS]
    )


@pytest.mark.e2e
def test_a_tier_that_writes_no_report_fails_the_repeat(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    makefile = repo / "Makefile"
    makefile.write_text(makefile.read_text().replace("$(call junit,inprocess)", ""))
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "no report"], cwd=repo)
    (tmp_path / "count").write_text("1")  # the flaky test passes from now on
    proc = subprocess.run(
        [sys.executable, "scripts/test_repeat.py", "--runs", "1", "--repo", str(repo)],
        cwd=ROOT, capture_output=True, text=True, timeout=300 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "no report from inprocess" in out, out


def test_tests_for_finds_the_files_that_import_a_module_or_its_layer() -> None:
    client = tests_for.touching("chanload.wire.client")
    assert ROOT / "tests" / "wire" / "test_client.py" in client
    layer = tests_for.touching("chanload.wire")
    assert set(client) <= set(layer) and len(layer) > len(client)
    assert tests_for.touching("chanload.no_such_module") == []
    assert all(p.name.startswith("test_") for p in layer)
