"""--drill's grammar and the record of what a drill did (chanload.run.drills)."""

from __future__ import annotations

import pytest

from chanload.exceptions import OptionError
from chanload.run import drills


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20", 20.0), ("20s", 20.0), ("1.5s", 1.5), ("0s", 0.0), ("2m", 120.0), ("1m30s", 90.0), ("1m30", 90.0)],
)
def test_a_drills_time_is_seconds_into_the_run(text, seconds):
    assert drills.parse(f"{text} kill -TERM 4321") == drills.Drill(
        seconds, "kill -TERM 4321", f"{text} kill -TERM 4321"
    )


@pytest.mark.parametrize("text", ["-5s", "soon", "500ms", "1h", "20s.", "s", "m", "1.s", "20ss"])
def test_a_time_that_is_not_one_is_refused_naming_the_forms(text):
    with pytest.raises(OptionError, match=r"is not a time into the run; give seconds or minutes first, e\.g\. '20s'"):
        drills.parse(f"{text} echo hi")


@pytest.mark.parametrize("spec", ["20s", "  20s   ", "1m30s\t"])
def test_a_drill_without_a_command_is_refused(spec):
    with pytest.raises(OptionError, match="no command after the time"):
        drills.parse(spec)


def test_an_empty_drill_is_refused():
    with pytest.raises(OptionError, match=r"give 'AT COMMAND'"):
        drills.parse("   ")


def test_the_command_is_kept_whole_quotes_and_pipes_included():
    d = drills.parse("""5s sh -c 'echo "a b" | wc -c' && touch /tmp/x""")
    assert d.command == """sh -c 'echo "a b" | wc -c' && touch /tmp/x""" and d.at == 5.0


def test_drills_run_by_time_and_those_at_one_time_in_the_order_given():
    got = drills.parse_all(["20s c", "5s a", "20s d", "5s b"])
    assert [d.command for d in got] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("value", ["0", "-1", "x", None])
def test_a_timeout_that_is_not_positive_seconds_is_refused(value):
    with pytest.raises(OptionError, match="--drill-timeout"):
        drills.timeout(value)


def test_the_output_tail_is_the_last_bytes_as_text():
    data = b"x" * 5000 + "é end".encode()
    tail = drills.tail(data)
    assert tail.endswith("é end") and len(tail.encode()) == drills.TAIL_BYTES
    assert drills.tail(b"\xff\xfe ok") == "\ufffd\ufffd ok"


def test_the_summary_entries_and_the_console_lines():
    d = drills.parse("3s ./restart.sh")
    assert drills.pending(d) == {
        "at": 3.0, "command": "./restart.sh", "started": None, "seconds": None, "exit_code": None,
        "output_tail": "", "outcome": "not run",
    }  # fmt: skip
    ran = drills.record(d, 3.0123, 0.4567, 1, "starting\nno such file\n", drills.outcome_of(1))
    assert ran["started"] == 3.012 and ran["seconds"] == 0.457 and ran["outcome"] == "failed"
    lines = drills.lines([ran, drills.pending(d)])
    assert lines[0] == "drill at 3s: ran at 3.0s for 0.46s, failed (exit code 1): ./restart.sh; output: no such file"
    assert lines[1] == "drill at 3s: not run (the run ended first): ./restart.sh"
