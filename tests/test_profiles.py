"""Run profiles, the CI verb, and the example CI workflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.servers import ROOT, UNIT

PROFILES = sorted((ROOT / "loadtests" / "profiles").glob("*.conf"))


def test_smoke_ci_and_soak_profiles_exist():
    """The documented profiles are there."""
    assert {p.stem for p in PROFILES} >= {"smoke", "ci", "soak"}


@pytest.mark.e2e
@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_runs_headless_against_an_auto_started_target(tmp_path, profile):
    """Each profile parses and runs (shortened to 3 s, 5 users): artifacts written, thresholds judged."""
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "scripts/with_target.py", "--log", str(tmp_path / "target"), "--", "locust", "--config",
         str(profile), "--host", "{host}",
         "-t", "3s", "-u", "5", "-r", "5", "--report-dir", str(report), "--ws-png-charts", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0
    configured = re.search(r"^slo\s*=\s*(\[.*\])", profile.read_text(), re.M)
    expected = json.loads(configured.group(1)) if configured else []
    assert [t["expr"] for t in summary["thresholds"]] == expected
    assert proc.returncode == summary["exit_code"] if expected else proc.returncode == 0
    assert (report / "junit.xml").exists() and (report / "report.html").exists()


def test_makefile_ci_load_runs_the_ci_profile():
    """`make ci-load` is the CI profile against an auto-started target, artifacts in REPORT_DIR."""
    rule = re.search(r"^ci-load:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert rule, "no ci-load rule"
    assert "scripts/with_target.py" in rule.group(1)
    assert "--config loadtests/profiles/ci.conf" in rule.group(1)
    assert "--report-dir $(REPORT_DIR)" in rule.group(1)


def test_workflow_runs_make_ci_load_and_uploads_the_artifacts():
    """The example GitHub Actions job runs the CI verb and uploads the folder it writes."""
    text = (ROOT / ".github" / "workflows" / "load-gate.yml").read_text()
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(text)
    steps = workflow["jobs"]["load-gate"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make ci-load REPORT_DIR=reports/ci" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == "reports/ci" and upload["if"] == "always()"


def test_workflow_keeps_mains_report_and_gates_pull_requests_on_it():
    """On main the report folder is the artifact; a pull request fetches main's last one and runs make ci-gate."""
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "load-gate.yml").read_text())
    assert workflow[True]["push"]["branches"] == ["main"] and "pull_request" in workflow[True]  # yaml: `on` is True
    steps = workflow["jobs"]["load-gate"]["steps"]
    fetch = next(s for s in steps if "download-artifact" in s.get("uses", ""))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert fetch["if"] == "github.event_name == 'pull_request'"
    assert fetch["with"]["branch"] == "main" and fetch["with"]["name"] == upload["with"]["name"]
    baseline = fetch["with"]["path"]
    run = next(s["run"] for s in steps if "ci-gate" in s.get("run", ""))
    assert f"[ -f {baseline}/summary.json ]" in run and f"make ci-gate REPORT_DIR=reports/ci BASELINE={baseline}" in run
    rule = re.search(r"^ci-gate:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert rule and "--baseline $(BASELINE)" in rule.group(1) and "<=1.1x" in rule.group(1)
    assert "-m chanload compare $(BASELINE) $(REPORT_DIR) --report-dir $(REPORT_DIR)" in rule.group(1)
