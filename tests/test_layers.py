"""The layers hold: `lint-imports` (run by `make lint`) keeps them, and fails on an import that points up.

Besides the contracts: every module is in a layer, no two modules import each other (directly or round a longer
circle, imports inside functions or for type checkers included), and no module is over 400 lines. The temporary
exceptions below fail the test once they no longer apply, so that they are removed when the work lands.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

import chanload

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "loadtests" / "chanload"

LAYERS = ["locust", "pytest", "reporting", "watch", "discover", "run", "conversation", "recording", "wire"]
MAX_LINES = 400


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts, on the copy of chanload found under `package_parent`."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
         "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def modules_on_disk() -> list[str]:
    """Every module of the package, as its dotted name (a package as its own name), from the files."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def contract_layers() -> list[str]:
    """The modules and packages named in the "Layers point down" contract, independent siblings split."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"] == "Layers point down"]
    return [name.strip() for layer in contract["layers"] for name in layer.replace(":", "|").split("|")]


def cycles(graph: grimp.ImportGraph, modules: list[str]) -> list[list[str]]:
    """The import cycles between `modules` (imports of others are left out): one shortest circle per tangle."""
    among = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module) & among:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in modules:
        if module not in index:
            visit(module)
    circles = []
    for component in found:
        start = min(component)
        importers = [m for m in component if start in graph.find_modules_directly_imported_by(m)]
        ways = [graph.find_shortest_chain(start, importer, as_packages=False) for importer in importers]
        circles.append(min(([*way, start] for way in ways if way), key=len))
    return circles


def test_no_import_cycles():
    """No module imports one that (directly or round a circle) imports it back; a cycle is named, module by module.

    Imports for type checkers count: a cycle hidden behind TYPE_CHECKING, or inside a function, is still two modules
    sharing what belongs in a third. The public face is left out: it names every layer for type checkers only.
    """
    assert Path(chanload.__file__).parent == PACKAGE, f"chanload is imported from {chanload.__file__}: set PYTHONPATH"
    graph = grimp.build_graph("chanload", exclude_type_checking_imports=False)
    for imported in graph.find_modules_directly_imported_by("chanload"):
        graph.remove_import(importer="chanload", imported=imported)
    circles = cycles(graph, modules_on_disk())
    assert not circles, "import cycles (move what both sides share into a module they both import):\n" + "\n".join(
        " -> ".join(circle) for circle in circles
    )


def test_the_cycle_finder_names_a_cycle():
    """The finder sees a circle of three and one of two, and names their modules in import order."""
    graph = grimp.ImportGraph()
    for module in ("p.a", "p.b", "p.c", "p.d", "p.e"):
        graph.add_module(module)
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.e"), ("p.e", "p.d")):
        graph.add_import(importer=importer, imported=imported)
    graph.add_module("p.f")
    graph.add_import(importer="p.f", imported="p.a")  # into a circle, not part of it
    assert sorted(cycles(graph, ["p.a", "p.b", "p.c", "p.d", "p.e", "p.f"])) == [
        ["p.a", "p.b", "p.c", "p.a"],
        ["p.d", "p.e", "p.d"],
    ]


def test_no_module_is_over_400_lines():
    """A room under 400 lines: a module past it holds two ideas; split it along that seam."""
    lines = {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    long = {name: n for name, n in lines.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_module_is_in_a_layer():
    """The "Layers point down" contract claims every module on disk, so no module can import upward unchecked."""
    layers = contract_layers()
    unclaimed = [
        module
        for module in modules_on_disk()
        if module != "chanload"  # the public face: at run time it imports lazily, nothing (checked by test_public)
        and not any(module == layer or module.startswith(layer + ".") for layer in layers)
    ]
    assert not unclaimed, f"modules in no layer of pyproject.toml's 'Layers point down': {unclaimed}"


def test_the_tree_shows_the_layers():
    """A folder per layer, each with a docstring saying what it holds."""
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        assert init.exists() and init.read_text().startswith('"""'), layer


@pytest.mark.e2e  # starts lint-imports
def test_the_contracts_are_kept():
    """As on main: every layer imports only those below it, and only chanload.locust imports locust."""
    proc = lint_imports(ROOT / "loadtests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Layers point down KEPT" in proc.stdout and "Only the Locust wiring imports locust KEPT" in proc.stdout


@pytest.mark.e2e  # starts lint-imports
@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("wire/framing.py", "from chanload.conversation import marks", "Layers point down BROKEN"),
        ("recording/counters.py", "import chanload.reporting.summary", "Layers point down BROKEN"),
        ("run/slo.py", "import locust", "Only the Locust wiring imports locust BROKEN"),
        # the root modules are layers too: the bottom ones, the test double, the commands and the old names
        ("formatting.py", "import chanload.wire.framing", "Layers point down BROKEN"),
        ("processes.py", "import chanload.exceptions", "Layers point down BROKEN"),
        ("testing.py", "import chanload.run.settings", "Layers point down BROKEN"),
        ("locust/users.py", "import chanload.users", "Layers point down BROKEN"),
        ("reporting/summary.py", "import chanload.__main__", "Layers point down BROKEN"),
        ("discover/paths.py", "import chanload.locust.plugin", "Layers point down BROKEN"),
        ("discover/routes.py", "import locust", "Only the Locust wiring imports locust BROKEN"),
        ("run/settings.py", "import chanload.discover.routes", "Layers point down BROKEN"),
        # the pytest layer: nothing below imports it, it and the Locust wiring are independent, it imports no locust
        ("conversation/session.py", "import chanload.pytest.crowd", "Layers point down BROKEN"),
        ("pytest/session.py", "import chanload.locust.users", "Layers point down BROKEN"),
        ("locust/users.py", "import chanload.pytest.load", "Layers point down BROKEN"),
        ("pytest/load.py", "import locust", "Only the Locust wiring imports locust BROKEN"),
    ],
)
def test_an_import_pointing_up_fails_the_lint(tmp_path, module, line, broken):
    """A lower layer that imports an upper one, or locust outside the wiring, breaks a contract."""
    copy = tmp_path / "chanload"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text().replace("from __future__ import annotations\n",
                                                 f"from __future__ import annotations\n\n{line}\n", 1))  # fmt: skip
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0 and broken in proc.stdout, proc.stdout + proc.stderr


def test_a_login_does_not_import_the_session():
    """`Login` returns what it obtained and the session applies it: login.py imports nothing of session.py."""
    import grimp

    graph = grimp.build_graph("chanload", cache_dir=None)
    assert graph.find_shortest_chain("chanload.conversation.login", "chanload.conversation.session") is None
    assert graph.find_shortest_chain("chanload.conversation.session", "chanload.conversation.login") is not None


@pytest.mark.parametrize("layer", ["chanload.pytest", "chanload.conversation", "chanload.wire"])
def test_no_import_cycle_in_the_layer(layer):
    """No module of the layer imports, through any chain, a module that imports it back (e.g. the plugin naming
    `chanload.pytest.load` in `pytest_plugins` while that module imported the plugin)."""
    import grimp

    graph = grimp.build_graph("chanload", cache_dir=None, exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(m for m in graph.modules if m == layer or m.startswith(layer + ".")):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("chanload.") and graph.find_shortest_chain(imported, module) is not None:
                cycles.append((module, imported))
    assert not cycles, cycles


def test_the_pytest_layer_imports_no_private_name_of_another_module():
    """Its modules use each other's public names only (`from chanload.x import _name` nowhere)."""
    import ast

    found = []
    for path in sorted((PACKAGE / "pytest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chanload"):
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not found, found


def test_the_load_fixture_does_not_import_the_plugin_that_registers_it():
    """`chanload.pytest.plugin` names `chanload.pytest.load` in `pytest_plugins`; the load module imports nothing
    of the plugin back (what both need is in `server` and `database`)."""
    import grimp

    from chanload.pytest import plugin

    graph = grimp.build_graph("chanload", cache_dir=None)
    assert plugin.pytest_plugins == ["chanload.pytest.load"]
    assert graph.find_shortest_chain("chanload.pytest.load", "chanload.pytest.plugin") is None


@pytest.mark.e2e  # starts an interpreter, to see what importing the layer imports
def test_the_pytest_layer_hands_out_its_types_from_one_place():
    """`chanload.pytest` names the fixtures' types; importing it alone imports neither pytest nor a session."""
    code = (
        "import sys, chanload.pytest as p\n"
        "assert 'pytest' not in sys.modules and 'chanload.conversation.session' not in sys.modules, 'eager'\n"
        "from chanload.pytest import *\n"
        "assert BehaviourSession.__module__ == 'chanload.pytest.session'\n"
        "assert Crowd.__module__ == 'chanload.pytest.crowd'\n"
        "assert LoadResult.__module__ == 'chanload.pytest.load' and LiveServer.__module__ == 'chanload.pytest.server'\n"
        "import chanload.pytest_plugin, chanload.pytest.plugin\n"
        "assert chanload.pytest_plugin is chanload.pytest.plugin  # the older name is the module itself\n"
        "from chanload.behaviour import BehaviourSession as Old\n"
        "assert Old is BehaviourSession\n"
        "print(sorted(p.__all__))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "loadtests"), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "'Crowd', 'LiveServer', 'LoadResult'" in proc.stdout and "'MemberResult'" in proc.stdout
