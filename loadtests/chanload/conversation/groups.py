"""The values `{group}` takes in a path template: a pool in one of five forms, one value picked per connection."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from chanload.exceptions import OptionError

FORMS = "N (g0..gN-1), LOW-HIGH (integers), PREFIXLOW-PREFIXHIGH (names, e.g. g0-g9), A,B,C (names) or @FILE"


@dataclass(frozen=True)
class Groups:
    """The pool `{group}` takes its values from, one picked at random per connection.

    `LOW-HIGH`: the integers LOW .. HIGH (`1-500`); `PREFIXLOW-PREFIXHIGH`: names with a number
    (`g0-g9`, `room1-room50`); `A,B,C`: those names; `@FILE`: one name per line (blank lines and lines
    starting with # skipped); `N`: the names g0 .. gN-1, the oldest form. A bare number is easy to read
    as "room N" (`1` is the one room `g0`, not room 1), so `--ws-groups N` logs a warning saying what it
    gives, and a JSON payload that puts `{group}` outside quotes is refused with any pool of names
    (`"room": {group}` needs integers, `LOW-HIGH`). Values are texts; an integer pool's are digits,
    filled raw into a payload, so `"room": {group}` is a JSON number.
    """

    spec: str
    names: tuple[str, ...] = ()
    prefix: str = ""
    low: int = 0
    high: int = 0
    option: str = field(default="--ws-groups", compare=False)  # where the pool was given, for messages

    @classmethod
    def parse(cls, value, option: str = "--ws-groups") -> Groups:
        spec = str(value).strip()
        if spec.startswith("@"):
            return cls(spec, names=_names_file(spec[1:], option), option=option)
        if re.fullmatch(r"\d+", spec):
            count = int(spec)
            if count < 1:
                raise OptionError(f"{option} {spec!r}: need at least 1 room")
            return cls(spec, prefix="g", low=0, high=count - 1, option=option)
        if match := re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", spec):
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise OptionError(f"{option} {spec!r}: LOW-HIGH needs LOW <= HIGH")
            return cls(spec, low=low, high=high, option=option)
        if match := re.fullmatch(r"([^\W\d][\w.]*?)(\d+)\s*-\s*\1(\d+)", spec):
            low, high = int(match.group(2)), int(match.group(3))
            if high < low:
                raise OptionError(f"{option} {spec!r}: PREFIXLOW-PREFIXHIGH needs LOW <= HIGH")
            return cls(spec, prefix=match.group(1), low=low, high=high, option=option)
        names = tuple(n.strip() for n in spec.split(","))
        if not spec or not all(names):
            raise OptionError(f"{option} {spec!r}: expected {FORMS}")
        return cls(spec, names=names, option=option)

    def pick(self) -> str:
        if self.names:
            return random.choice(self.names)
        return f"{self.prefix}{random.randint(self.low, self.high)}"

    @property
    def size(self) -> int:
        """How many values there are to pick from."""
        return len(self.names) or self.high - self.low + 1

    @property
    def integers(self) -> bool:
        """Whether every value is an integer (LOW-HIGH), so `{group}` outside quotes is a JSON number."""
        return not self.names and not self.prefix

    @property
    def bare(self) -> bool:
        """The `N` form (g0 .. gN-1): easy to take for "room N"."""
        return self.spec.isdigit()

    @cached_property
    def samples(self) -> tuple[str, ...]:
        """Values that stand for the whole pool in a check: first, last, and the first of each JSON kind.

        A value filled raw into JSON text is a number, `true`, a string in quotes, ... or not JSON at
        all: one value of each kind the pool holds fills a template the way every other of its kind would.
        """
        if not self.names:
            return tuple(dict.fromkeys((f"{self.prefix}{self.low}", f"{self.prefix}{self.high}")))
        kinds: dict[str, str] = {}
        for name in self.names:
            kinds.setdefault(_json_kind(name), name)
        return tuple(dict.fromkeys((self.names[0], *kinds.values(), self.names[-1])))

    def describe(self) -> str:
        """What the pool holds, for people: `g0..g9 (10 names)`, `1..500 (500 integers)`, `A, B (2 names)`."""
        if self.names:
            shown = ", ".join(self.names[:3]) + (f", ..., {self.names[-1]}" if len(self.names) > 3 else "")
            return f"{shown} ({len(self.names)} name{'s' * (len(self.names) != 1)})"
        kind = "integer" if self.integers else "name"
        return f"{self.prefix}{self.low}..{self.prefix}{self.high} ({self.size} {kind}{'s' * (self.size != 1)})"

    def warning(self) -> str | None:
        """A one-line warning for a pool whose spelling misleads (`N`), or None."""
        if not self.bare:
            return None
        return (
            f"{self.option} {self.spec}: {{group}} takes the names {self.describe()}, not integers; for integer "
            f"rooms give LOW-HIGH (e.g. {self.option} 1-{self.spec}); {self.option} g0-g{self.high} gives these "
            "names without this warning"
        )


def _json_kind(text: str) -> str:
    try:
        return type(json.loads(text)).__name__
    except ValueError:
        return "text"


def _names_file(path: str, option: str) -> tuple[str, ...]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"{option} @{path}: cannot read the file ({exc})") from None
    names = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not names:
        raise OptionError(f"{option} @{path}: the file holds no names (one per line)")
    return names


def fill_path(template: str, group: str) -> str:
    """The path for one connection: `{group}` filled, percent-encoded where a URL needs it."""
    return template.replace("{group}", quote(group, safe="-_.~@:+!$&'()*,;="))


_PATH_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def route_name(template: str) -> str:
    """The request name for a path template: `room/{group}` -> `room/[group]`, query string dropped."""
    path = template.split("?", 1)[0]
    return _PATH_TOKEN.sub(lambda m: f"[{m.group(1)}]", path)
