"""JUnit XML for CI systems: one test case per threshold, and one that fails when the run did not complete."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chanload.run import policy

SUITE = "chanload thresholds"
CLASSNAME = "chanload.slo"
RUN_CASE = "run completed"


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
        message = policy.status_of(str(status)).junit
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
