"""The values `{group}` takes in a path template: a pool in one of four forms, one value picked per connection."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from chanload.exceptions import OptionError


@dataclass(frozen=True)
class Groups:
    """The pool `{group}` takes its values from, one picked at random per connection.

    `N`: g0 .. gN-1; `LOW-HIGH`: the integers LOW .. HIGH; `A,B,C`: those names; `@FILE`: one name per
    line (blank lines and lines starting with # skipped).
    """

    spec: str
    names: tuple[str, ...] = ()
    prefix: str = ""
    low: int = 0
    high: int = 0

    @classmethod
    def parse(cls, value, option: str = "--ws-groups") -> Groups:
        spec = str(value).strip()
        if spec.startswith("@"):
            return cls(spec, names=_names_file(spec[1:], option))
        if re.fullmatch(r"\d+", spec):
            count = int(spec)
            if count < 1:
                raise OptionError(f"{option} {spec!r}: need at least 1 room")
            return cls(spec, prefix="g", low=0, high=count - 1)
        if match := re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", spec):
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise OptionError(f"{option} {spec!r}: LOW-HIGH needs LOW <= HIGH")
            return cls(spec, low=low, high=high)
        names = tuple(n.strip() for n in spec.split(","))
        if not spec or not all(names):
            raise OptionError(f"{option} {spec!r}: expected N (g0..gN-1), LOW-HIGH (integers), A,B,C (names) or @FILE")
        return cls(spec, names=names)

    def pick(self) -> str:
        if self.names:
            return random.choice(self.names)
        return f"{self.prefix}{random.randint(self.low, self.high)}"

    @property
    def size(self) -> int:
        """How many values there are to pick from."""
        return len(self.names) or self.high - self.low + 1


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
