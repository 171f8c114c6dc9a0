"""The test files that import a module of chanload (or anything under a layer), to run just those.

    python scripts/tests_for.py chanload.wire.client        the tests that import that module
    python scripts/tests_for.py chanload.wire               ... any module of the wire layer
    make test-for MODULE=chanload.wire.client               runs them: in-process and end to end, in parallel

A test file counts when it imports the module or one of its names (`import chanload.wire.client`,
`from chanload.wire.client import WsClient`, `from chanload.wire import client`), read from its source with
`ast`; files under tests/locust/inprocess/ are listed apart, since they run in a pytest process of their own.
Tests that reach a module only through the public face (`from chanload import Session`) or a subprocess (a
locustfile) are not found: run the layer's folder too (`pytest tests/wire`), or `make test`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
INPROCESS = TESTS / "locust" / "inprocess"


def imported(path: Path) -> set[str]:
    """Every module a file imports, and module.name for each name it takes from one."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def touching(module: str) -> list[Path]:
    """The test files that import `module`, a module inside it, or a name of it, sorted."""
    prefix = module + "."
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if any(name == module or name.startswith(prefix) for name in imported(path))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="a dotted name: chanload.wire.client, or a layer: chanload.wire")
    tiers = "main: the files for `pytest` (default); inprocess: those in tests/locust/inprocess/"
    parser.add_argument("--tier", choices=("main", "inprocess"), default="main", help=tiers)
    args = parser.parse_args(argv)
    if not args.module.startswith("chanload"):
        parser.error(f"{args.module!r} is not a module of chanload: give e.g. chanload.wire.client")
    files = [p for p in touching(args.module) if (INPROCESS in p.parents) == (args.tier == "inprocess")]
    print(" ".join(str(p.relative_to(ROOT)) for p in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
