"""chanload.locust.tally: Locust's stats without a request event per message show what the events would have shown."""

from __future__ import annotations

import json
import re

import pytest

from tests.apps.tally_twins import twins as run_twins


def _normal(value) -> str:
    # The fast path sums response times as integers, the event path as floats one by one: the sums
    # (and averages, rates) differ in the 14th significant digit. Compare to 10.
    return re.sub(r"\d+\.\d{7,}", lambda m: format(float(m[0]), ".10g"), json.dumps(value, sort_keys=True))


@pytest.fixture(scope="module")
def twins():
    return run_twins()


def test_the_fast_path_is_taken_only_while_nobody_else_listens(twins):
    """Every success skips the event with only Locust's and chanload's listeners; none does with one more."""
    fast, events = twins["fast"], twins["events"]
    failures = sum(row["num_failures"] for row in fast["json_file"])
    assert fast["samples"] == events["samples"] > 1000
    assert fast["fast_path_taken"] == fast["samples"] - failures
    assert failures > 0
    assert events["fast_path_taken"] == 0


@pytest.mark.parametrize("output", ["web_ui", "csv", "json_file", "html", "hdr"])
def test_every_output_shows_the_same_figures_both_ways(twins, output):
    """The web UI's /stats/requests, the CSV, --json-file, --html and the HDR slices agree, path for path."""
    fast, events = twins["fast"][output], twins["events"][output]
    assert _normal(fast) == _normal(events)


def test_the_figures_compared_are_not_empty(twins):
    """Rows with requests, failures, and sub-millisecond buckets (what the comparison must cover)."""
    rows = {(r["method"], r["name"]): r for r in twins["fast"]["json_file"]}
    message = rows[("WS message", "room/[group]")]
    assert message["num_requests"] > 1000 and message["num_failures"] > 0
    assert any(float(bucket) < 1 for bucket in message["response_times"])
    assert len(message["num_reqs_per_sec"]) >= 6
    assert ("WS connect", "room/[group]") in rows and ("WS delivery", "chat/[group]") in rows
    assert "Aggregated" in twins["fast"]["csv"]["requests_csv"]
