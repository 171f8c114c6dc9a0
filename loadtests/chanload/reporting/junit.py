"""JUnit XML for CI systems: one test case per threshold, and one that fails when the run did not complete."""

from __future__ import annotations

import xml.etree.ElementTree as ET

SUITE = "chanload thresholds"
CLASSNAME = "chanload.run.slo"
RUN_CASE = "run completed"

# Why a run that did not complete counts as a failure, by summary["status"].
_STATUS_MESSAGES = {
    "interrupted": "run interrupted before its end (SIGINT, SIGTERM or a stop); results cover only part of it",
    "target_unreachable": "target unreachable: every connection was refused",
    "target_down": "target went down during the run: connections were refused after its last OK reply",
    "aborted": "run aborted early: a threshold was certain to fail (--slo-abort)",
    "worker_lost": "a worker was lost mid-run",
}


def render_junit(summary: dict) -> str:
    """The summary's thresholds and run status as a JUnit XML document."""
    suites = ET.Element("testsuites", name="chanload")
    suite = ET.SubElement(suites, "testsuite", name=SUITE)
    failures = 0
    for threshold in summary.get("thresholds") or []:
        case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name=str(threshold["expr"]), time="0")
        if threshold["passed"]:
            ET.SubElement(case, "system-out").text = threshold["detail"]
        else:
            failures += 1
            failure = ET.SubElement(case, "failure", message=threshold["detail"], type="threshold")
            failure.text = f"FAIL {threshold['expr']}: {threshold['detail']}"

    status = summary.get("status", "unknown")
    case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name=RUN_CASE, time=_seconds(summary))
    if status != "completed":
        failures += 1
        message = _STATUS_MESSAGES.get(status, f"run ended with status {status!r}")
        if (summary.get("counters") or {}).get("not_reconciled"):
            message += f"; {summary['counters']['not_reconciled']}"
        ET.SubElement(case, "failure", message=message, type=str(status)).text = message

    tests = str(len(suite))
    counts = {"tests": tests, "failures": str(failures), "errors": "0", "skipped": "0", "time": _seconds(summary)}
    suite.attrib.update(counts)
    suites.attrib.update({k: v for k, v in counts.items() if k != "skipped"})
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _seconds(summary: dict) -> str:
    return f"{float(summary.get('duration_s') or 0):.3f}"
