"""The flake finder: `make test`'s three tiers N times, each in a fresh clone of HEAD; each test that failed, how often.

    python scripts/test_repeat.py [--runs 5] [--workers N] [--keep DIR]        (make test-repeat N=5)

Each run clones the repository's HEAD (committed work only: say so, and commit first) into a temporary folder and
runs `make -k test-tiers` there (the parallel tier, the timing tier, Locust in-process, each run even when one
before it failed; `make test` is `make deps` then the same, stopping at the first that fails), with PYTHONPATH on
that clone, so its library, locustfiles and pytest plugin are the ones tested, and JUnit XML per tier. At the end it
prints a table: each test that failed or errored in at least one run, with how many runs, and each run's wall time
per tier. It exits 1 if any test failed in any run (or a tier collected nothing, or did not write its report), else
0. The runs are one after another: nothing else should run meanwhile, since a loaded machine is what it is looking
for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("parallel", "timing", "inprocess")  # make test-tiers' JUnit files: $(JUNIT)-<tier>.xml


@dataclass
class Run:
    number: int
    seconds: float = 0.0
    code: int = 0
    tests: int = 0
    failed: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)  # tiers that wrote no report
    tier_seconds: dict[str, float] = field(default_factory=dict)


def read_junit(path: Path, run: Run, tier: str) -> None:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    run.tier_seconds[tier] = sum(float(s.get("time", 0)) for s in suites)
    for case in root.iter("testcase"):
        run.tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            run.failed.add(f"{case.get('classname')}::{case.get('name')}")


def one_run(number: int, workers: str | None, keep: Path | None, repo: Path = ROOT) -> Run:
    run = Run(number)
    work = Path(tempfile.mkdtemp(prefix=f"chanload-repeat-{number}-"))
    checkout = work / "checkout"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(checkout)], check=True)
    junit = work / "junit"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(checkout / p) for p in ("loadtests", "target_project", ".")),
    }
    # -k: a tier that fails does not keep the next ones from running (`make test` stops at the first)
    cmd = ["make", "-k", "--no-print-directory", "test-tiers", f"JUNIT={junit}", f"PYTHON={sys.executable}"]
    if workers:
        cmd.append(f"TEST_WORKERS={workers}")
    began = time.monotonic()
    with open(work / "make.log", "wb") as log:
        run.code = subprocess.run(cmd, cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    run.seconds = time.monotonic() - began
    for tier in TIERS:
        path = Path(f"{junit}-{tier}.xml")
        if path.exists():
            read_junit(path, run, tier)
        else:
            run.missing.append(tier)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "make.log", keep / f"run{number}.log")
        for tier in TIERS:
            if Path(f"{junit}-{tier}.xml").exists():
                shutil.copy(f"{junit}-{tier}.xml", keep / f"run{number}-{tier}.xml")
    shutil.rmtree(work, ignore_errors=True)
    return run


def report(runs: list[Run]) -> str:
    lines = [
        "| run | wall | parallel | timing | in-process | tests | failed | make exit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        tiers = [f"{r.tier_seconds[t]:.0f} s" if t in r.tier_seconds else "no report" for t in TIERS]
        lines.append(
            f"| {r.number} | {r.seconds:.0f} s | {' | '.join(tiers)} | {r.tests} | {len(r.failed)} | {r.code} |"
        )
    counts = Counter(name for r in runs for name in r.failed)
    lines.append("")
    if counts:
        lines += ["| test | failed in |", "|---|---|"]
        lines += [f"| {name} | {n} of {len(runs)} |" for name, n in counts.most_common()]
    else:
        lines.append(f"no test failed in any of {len(runs)} runs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="how many times (default 5)")
    parser.add_argument("--workers", help="the parallel tier's pytest-xdist workers (TEST_WORKERS; default: make's)")
    parser.add_argument("--keep", type=Path, help="copy each run's make log and JUnit XML here")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone (default: this one)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=args.repo, capture_output=True, text=True).stdout
    if dirty.strip():
        print("note: uncommitted changes are not tested: each run clones HEAD", file=sys.stderr)
    runs = []
    for number in range(1, args.runs + 1):
        run = one_run(number, args.workers, args.keep, args.repo)
        runs.append(run)
        print(f"run {number}: {run.seconds:.0f} s, {run.tests} tests, {len(run.failed)} failed, make exit {run.code}"
              + (f", no report from {', '.join(run.missing)}" if run.missing else ""), flush=True)  # fmt: skip
    print(report(runs))
    bad = any(r.failed or r.missing or r.code != 0 for r in runs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
