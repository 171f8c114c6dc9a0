"""Drills (`--drill 'AT COMMAND'`): a local shell command run at a time into the run, as plain data.

Parsing and the record of what a drill did live here; running the command at its time is the Locust wiring's
(`chanload.locust.drills`), on the master or a standalone process only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chanload.exceptions import OptionError

# What is kept of a command's output (stdout and stderr together): its last bytes.
TAIL_BYTES = 2048
# How long a command may run before it and its process group are stopped (--drill-timeout's default).
TIMEOUT = 60.0

_AT = re.compile(r"^(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")


@dataclass(frozen=True)
class Drill:
    """One --drill: `command` run by a shell `at` seconds after the run started."""

    at: float
    command: str
    spec: str


def parse(spec: str) -> Drill:
    """'20s kill -TERM 4321' -> Drill(20.0, 'kill -TERM 4321'); OptionError naming the fix."""
    text = str(spec).strip()
    at_text, _, command = text.partition(" ")
    command = command.strip()
    if not at_text:
        raise OptionError("--drill '': give 'AT COMMAND', e.g. --drill '20s kill -TERM 4321'")
    at = parse_at(at_text, spec)
    if not command:
        raise OptionError(
            f"--drill {spec!r}: no command after the time; give 'AT COMMAND', e.g. --drill '{at_text} ./restart.sh'"
        )
    return Drill(at, command, text)


def parse_at(text: str, spec: str = "") -> float:
    """A drill's time: '20', '20s', '1.5s', '2m', '1m30s', seconds into the run (0 or more)."""
    match = _AT.match(text)
    if not text or match is None or not (match["m"] or match["s"]):
        raise OptionError(
            f"--drill {spec or text!r}: {text!r} is not a time into the run; give seconds or minutes first,"
            " e.g. '20s', '1.5s', '2m' or '1m30s', then the command"
        )
    return float(match["m"] or 0) * 60 + float(match["s"] or 0)


def parse_all(specs: list[str] | tuple[str, ...]) -> tuple[Drill, ...]:
    """Every --drill, in the order they run (by time; those at the same time in the order given)."""
    return tuple(sorted((parse(s) for s in specs), key=lambda d: d.at))


def timeout(value: object) -> float:
    """--drill-timeout: seconds, more than 0."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(f"--drill-timeout {value!r}: give seconds, e.g. 60") from None
    if not seconds > 0:
        raise OptionError(f"--drill-timeout {value!r}: give seconds more than 0, e.g. 60")
    return seconds


def tail(data: bytes, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a command's output as text (undecodable bytes replaced)."""
    return data[-limit:].decode("utf-8", errors="replace")


def pending(drill: Drill) -> dict:
    """summary.json's entry for a drill that has not run (yet): `started` null."""
    return {
        "at": drill.at,
        "command": drill.command,
        "started": None,
        "seconds": None,
        "exit_code": None,
        "output_tail": "",
        "outcome": "not run",
    }


def record(drill: Drill, started: float, seconds: float, exit_code: int | None, output: str, outcome: str) -> dict:
    """summary.json's entry for a drill that ran: `started` and `seconds` as seconds into the run and its duration.

    `outcome`: "ok" (exit code 0), "failed" (another code, or the command could not start), "timed out" (stopped
    after --drill-timeout), "stopped" (still running when the run ended).
    """
    return {
        "at": drill.at,
        "command": drill.command,
        "started": round(started, 3),
        "seconds": round(seconds, 3),
        "exit_code": exit_code,
        "output_tail": output,
        "outcome": outcome,
    }


def outcome_of(exit_code: int | None) -> str:
    return "ok" if exit_code == 0 else "failed"


def lines(drills: list[dict]) -> list[str]:
    """The console summary's lines for the drills: when each ran, how it ended, its output's last line."""
    out = []
    for d in drills:
        if d.get("started") is None:
            out.append(f"drill at {d['at']:g}s: not run (the run ended first): {d['command']}")
            continue
        code = "-" if d.get("exit_code") is None else d["exit_code"]
        last = (d.get("output_tail") or "").strip().splitlines()[-1:]
        shown = f"; output: {last[0][:160]}" if last else ""
        out.append(
            f"drill at {d['at']:g}s: ran at {d['started']:.1f}s for {d['seconds']:.2f}s, {d['outcome']}"
            f" (exit code {code}): {d['command']}{shown}"
        )
    return out
