"""JUnit XML: one test case per threshold plus the run's status, parsed back with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chanload.reporting.junit import render_junit
from chanload.run import slo


def run(status: str = "completed", thresholds: list[dict] | None = None, duration_s: float = 12.5) -> dict:
    return {"status": status, "duration_s": duration_s, "thresholds": thresholds or []}


def threshold(expr: str, passed: bool, detail: str = "measured 1 ms, limit < 10 ms") -> dict:
    return {"expr": expr, "passed": passed, "detail": detail}


def parsed(summary: dict) -> ET.Element:
    return ET.fromstring(render_junit(summary))


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in root.iter("testcase")}


def test_suite_counts_tests_and_failures():
    """testsuite counts every threshold plus the run case, and the failed ones."""
    root = parsed(run(thresholds=[threshold("a<1", True), threshold("b<1", False), threshold("c<1", False)]))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "chanload thresholds"
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("4", "2", "12.500")
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    assert len(suite.findall("testcase")) == 4
    assert len(root.findall(".//failure")) == 2


def test_one_case_per_threshold_named_by_expression():
    """Each threshold is a test case named by its expression, classname chanload.run.slo."""
    root = parsed(run(thresholds=[threshold("message:p99<10ms", True), threshold("rps>=500", False)]))
    found = cases(root)
    assert list(found) == ["message:p99<10ms", "rps>=500", "run completed"]
    assert {case.get("classname") for case in found.values()} == {"chanload.slo"}


def test_failed_threshold_carries_its_detail():
    """A failed threshold's <failure message> is the result's detail; a passed one has no failure."""
    root = parsed(run(thresholds=[threshold("ok<1", True), threshold("bad<1", False, "measured 12 ms, limit < 10 ms")]))
    found = cases(root)
    assert found["ok<1"].find("failure") is None
    assert found["bad<1"].find("failure").get("message") == "measured 12 ms, limit < 10 ms"


def test_completed_run_case_passes():
    """A completed run with no thresholds is one passing test case."""
    root = parsed(run())
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")
    assert cases(root)["run completed"].find("failure") is None


def test_interrupted_run_fails_the_run_case():
    """status interrupted fails "run completed" with a message that says so."""
    failure = cases(parsed(run("interrupted")))["run completed"].find("failure")
    assert "interrupted" in failure.get("message")


def test_unreachable_target_fails_the_run_case():
    """status target_unreachable fails "run completed" saying the target was unreachable."""
    failure = cases(parsed(run("target_unreachable")))["run completed"].find("failure")
    assert "target unreachable" in failure.get("message")


def test_unknown_status_still_fails_the_run_case():
    """Any status other than completed is a failure that names the status."""
    failure = cases(parsed(run("exploded")))["run completed"].find("failure")
    assert "'exploded'" in failure.get("message")


def test_markup_in_expressions_is_escaped():
    """Expressions and details full of < > & " round-trip through the XML unchanged."""
    expr = 'message@a<&>"b":p99<10ms'
    detail = 'measured 12 ms, limit < 10 ms & "more"'
    root = parsed(run(thresholds=[threshold(expr, False, detail)]))
    assert cases(root)[expr].find("failure").get("message") == detail


def test_real_results_render():
    """Thresholds evaluated by slo.evaluate render, and the failures line up with the results."""
    data = {
        "status": "completed",
        "duration_s": 3.0,
        "latency": [
            {"type": "WS message", "name": "a", "metric": "message", "count": 10, "failures": 0, "p99": 2000},
        ],
        "counters": {"ok": 10, "failed": 0},
        "delivery": None,
    }
    results = slo.evaluate(slo.parse_all(["message:p99<10ms", "message:p99<1ms", "delivery_ratio>=99%"]), data)
    data["thresholds"] = slo.as_dicts(results)
    root = parsed(data)
    assert root.find("testsuite").get("failures") == "2"
    assert [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None] == [
        "message:p99<1ms",
        "delivery_ratio>=99%",
    ]
