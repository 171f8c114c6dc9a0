"""The layers hold: `lint-imports` (run by `make lint`) keeps them, and fails on an import that points up."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "loadtests" / "chanload"
pytestmark = pytest.mark.e2e  # starts processes: interpreters, lint-imports, the pages' commands

LAYERS = ["locust", "pytest", "reporting", "watch", "run", "conversation", "recording", "wire"]


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts, on the copy of chanload found under `package_parent`."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
         "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_the_tree_shows_the_layers():
    """A folder per layer, each with a docstring saying what it holds."""
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        assert init.exists() and init.read_text().startswith('"""'), layer


def test_the_contracts_are_kept():
    """As on main: every layer imports only those below it, and only chanload.locust imports locust."""
    proc = lint_imports(ROOT / "loadtests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Layers point down KEPT" in proc.stdout and "Only the Locust wiring imports locust KEPT" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("wire/framing.py", "from chanload.conversation import marks", "Layers point down BROKEN"),
        ("recording/counters.py", "import chanload.reporting.summary", "Layers point down BROKEN"),
        ("run/slo.py", "import locust", "Only the Locust wiring imports locust BROKEN"),
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
