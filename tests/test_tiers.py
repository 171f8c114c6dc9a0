"""One rule for the parallel tier: a test asserts behaviour, never how fast the machine was.

`make test` runs `pytest -n` on everything not marked `timing`: 8 workers on 2 cores, each starting
Daphne and Locust processes. An assertion there that compares an elapsed time, a latency, a rate or a
count per second against a number holds on a quiet machine only. Such a test is marked `timing` (run
alone, after the parallel run), or waits for the state it needs (tests/settle.py) and asserts that, or
compares within one run (a p50 against the same run's reference), never against a constant.

This module reads every test module's AST and refuses, outside `timing`-marked tests and modules, an
`assert` comparing something named like a time or a rate against a numeric constant: the rule and the
escape hatch are in docs/architecture.md ("Where the tests live"). In-process, a second or two.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# A name (variable, attribute, dict key, called function) that holds a time or a latency: its upper bound
# (`elapsed < 2`) is what a loaded machine breaks; a lower bound (`took >= the server's delay`) it only passes
# more easily.
TIME = re.compile(
    r"(?ix) (^|_) (elapsed|duration|latency|latencies|took|seconds|secs|wall|median_response_time|response_time|"
    r"monotonic|perf_counter) ($|_)"
    r"| ^ (p\d+(_\d+)?|max_us|min_us) $"  # percentiles of a latency row: p50, p99, p99_9
    r"| _(s|ms|us|ns) $"  # a unit suffix: stop_seconds, duration_s, took_ms, p95_us
    r"| ^ time $"  # time.time()
)
# A rate, or how many of something happened in a fixed time: its lower bound is what a loaded machine breaks.
RATE = re.compile(r"(?ix) (^|_) (rps|rate|per_s|per_second|ops_per_second) ($|_)")
ESCAPE = "# not timing:"  # on the assert or the comment line above it, with why: no such claim
SIDE = {ast.Lt: "upper", ast.LtE: "upper", ast.Gt: "lower", ast.GtE: "lower"}  # of `measured OP constant`


def _names(node: ast.AST) -> list[str]:
    """The identifiers an expression reads: names, attributes, string subscripts (row["p50"])."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.append(sub.attr)
        elif (
            isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant) and isinstance(sub.slice.value, str)
        ):
            found.append(sub.slice.value)
    return found


def kind(node: ast.AST) -> str | None:
    """What an expression measures: "rate", "time" or None.

    A quotient of two measures (a ratio within one run) measures neither; `len()` of a time series is a count
    of seconds, so a rate.
    """
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and kind(node.left) and kind(node.right):
        return None
    if isinstance(node, ast.BinOp):
        return kind(node.left) or kind(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len" and node.args:
        return "rate" if kind(node.args[0]) else None
    names = _names(node)
    if any(RATE.search(name) for name in names):
        return "rate"
    if any(TIME.search(name) for name in names):
        return "time"
    return None


def constant(node: ast.AST) -> bool:
    """A number fixed before the run: literals, ALL_CAPS names (UNIT, T, a module's limit) and arithmetic on them.

    Zero is left out: `> 0` says that something was measured at all, whatever the machine's speed (as `>= 1`
    does, let through in `offending`).
    """
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool) and node.value != 0
    if isinstance(node, ast.UnaryOp):
        return constant(node.operand)
    if isinstance(node, ast.BinOp):
        parts = (node.left, node.right)
        return all(constant(p) or _caps(p) for p in parts)
    return _caps(node)


def _caps(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.isupper()


def offending(assertion: ast.Assert) -> str | None:
    """The first bound in `assertion` that a slow machine breaks, as source: a time or latency below a constant,
    a rate (or a count of seconds) above one. None if none."""
    for node in ast.walk(assertion.test):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            bound = SIDE.get(type(op))
            if bound is None:
                continue
            # `measured < constant` bounds it from above; `constant < measured` from below.
            if constant(right) and kind(left):
                measured, side = kind(left), bound
            elif constant(left) and kind(right):
                measured, side = kind(right), "lower" if bound == "upper" else "upper"
            else:
                continue
            bound_value = right if constant(right) else left
            at_least_one = (
                isinstance(bound_value, ast.Constant)
                and bound_value.value == 1
                and type(op) in ((ast.GtE,) if bound_value is right else (ast.LtE,))
            )
            if (measured, side) == ("time", "upper") or ((measured, side) == ("rate", "lower") and not at_least_one):
                return ast.unparse(node)
    return None


def _marked_timing(decorators: list[ast.expr]) -> bool:
    """A `pytest.mark.timing` among decorators or a `pytestmark` value (alone, in a list, or called)."""
    for node in decorators:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and sub.attr == "timing":
                return True
    return False


def _module_timing(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            return _marked_timing([node.value])
    return False


@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    where: str  # the enclosing function or class.function
    comparison: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.where}: assert {self.comparison}"


def offences(source: str, path: str = "<test>") -> list[Offence]:
    """Assertions of a time or rate against a constant outside `timing`-marked tests, in one module's source."""
    tree = ast.parse(source)
    if _module_timing(tree):
        return []
    lines = source.splitlines()
    found: list[Offence] = []

    def visit(node: ast.AST, where: str, timing: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{where}.{child.name}" if where else child.name
                visit(child, inner, timing or _marked_timing(child.decorator_list))
            elif isinstance(child, ast.Assert):
                comparison = None if timing else offending(child)
                above = lines[child.lineno - 2] if child.lineno > 1 else ""  # a comment line right above it
                text = "\n".join(
                    [above if above.strip().startswith("#") else "", *lines[child.lineno - 1 : child.end_lineno]]
                )
                if comparison and ESCAPE not in text:
                    found.append(Offence(path, child.lineno, where or "<module>", comparison))
            else:
                visit(child, where, timing)

    visit(tree, "", False)
    return found


def modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if p != Path(__file__).resolve())


# Modules whose offences are being fixed elsewhere (issue 27): the lead's part. Remove an entry once it passes.
PENDING: set[str] = set()


def test_no_timing_assertion_outside_the_timing_tier() -> None:
    """No test outside `timing` asserts an elapsed time, a latency or a rate against a constant."""
    found = [
        o
        for path in modules()
        if str(path.relative_to(ROOT)) not in PENDING
        for o in offences(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, (
        "assertions on how fast the machine was, outside the `timing` tier (docs/architecture.md, 'Where the "
        "tests live'): mark the test `@pytest.mark.timing`, wait for the state instead (tests/settle.py), or "
        f"compare within one run; `{ESCAPE} <why>` on the line if it is no such claim:\n"
        + "\n".join(str(o) for o in found)
    )


PLANTED = textwrap.dedent(
    """
    import time
    import pytest

    def test_fast():
        start = time.monotonic()
        work()
        elapsed = time.monotonic() - start
        assert elapsed < 2.0

    def test_rate(run):
        assert run.summary["rps"] >= 50 * UNIT

    def test_latency(row):
        assert 0 < row["p99"] < 5000

    def test_clock():
        assert time.monotonic() - started < 30 * UNIT

    class TestStop:
        def test_stop(self, run):
            assert run.stop_seconds < 8, "waited for the stop timeout"

    def helper(took_ms):
        assert took_ms <= 10

    def test_sampled(series):
        seconds = [s["second"] for s in series]
        assert len(seconds) >= 3
    """
)


def test_the_checker_finds_planted_offenders() -> None:
    found = offences(PLANTED, "planted.py")
    assert [(o.where, o.comparison) for o in found] == [
        ("test_fast", "elapsed < 2.0"),
        ("test_rate", "run.summary['rps'] >= 50 * UNIT"),
        ("test_latency", "0 < row['p99'] < 5000"),
        ("test_clock", "time.monotonic() - started < 30 * UNIT"),
        ("TestStop.test_stop", "run.stop_seconds < 8"),
        ("helper", "took_ms <= 10"),
        ("test_sampled", "len(seconds) >= 3"),
    ]


@pytest.mark.parametrize(
    "marking",
    [
        "pytestmark = pytest.mark.timing\n{body}",
        "pytestmark = [pytest.mark.e2e, pytest.mark.timing]\n{body}",
        "{body}".replace("{body}", "@pytest.mark.timing\n{body}"),
    ],
)
def test_a_timing_mark_lets_it_pass(marking: str) -> None:
    body = "def test_fast(elapsed):\n    assert elapsed < 2.0\n"
    assert offences(marking.format(body=body)) == []
    assert len(offences(body)) == 1


def test_behaviour_and_comparisons_within_one_run_pass() -> None:
    source = textwrap.dedent(
        """
        def test_ok(row, base, new, run, sample):
            assert row["p50"] > 0 and row["count"] >= 4  # measured at all; a count, not a count per second
            assert 0 < row.p50 <= row.p99 <= row.max  # order within one run
            assert new["p50"] / base["p50"] > 2  # a ratio of one run's figures
            assert row["p99"] == 30  # a figure computed from fixed data
            assert run.summary["duration_s"] >= run.asked_s  # against another measurement, not a constant
            assert sample["seconds"] < 0.5  # not timing: the option's parsed value, no clock read
            assert time.monotonic() - started >= 0.05  # a floor (the server's own delay): load only raises it
            assert 4.0 <= took(reply) and row["p50"] >= 15_000
            assert run.summary["rps"] < 1000  # "not as many as possible": load only lowers it
            assert len(seconds) >= 1 and 1 <= run.summary["rps"]  # happened at all
        """
    )
    assert offences(source) == []
