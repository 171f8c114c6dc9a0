"""A user's project outside this repository (tests/templates/userproject/), run with pytest as its user would.

`installed_chanload` lays chanload out the way `pip install` leaves it (the package on the path, its
`pytest11` entry point in its metadata); `user_project` copies the template to a temporary folder;
`run_pytest` runs `python -m pytest` there in a process of its own, with nothing else of this repository
on the path, and watches every process of that run's tree and every port they listen on (`Run.left_behind`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.servers import ROOT, UNIT

TEMPLATE = Path(__file__).resolve().parent / "templates" / "userproject"
# What a user's shell would not have: this repository's paths, another project's settings, pytest options.
NOT_A_USERS = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER")


def installed_chanload(folder: Path) -> Path:
    """A folder holding chanload as `pip install` leaves it: the package, and metadata with its entry points."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chanload").symlink_to(ROOT / "loadtests" / "chanload", target_is_directory=True)
    meta = folder / f"chanload-{project['version']}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: chanload\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})
    assert "chanload" in groups.get("pytest11", {}), "pyproject.toml registers no pytest11 entry point `chanload`"
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
        for group, points in groups.items()
    )
    (meta / "entry_points.txt").write_text(text)
    return folder


def user_project(tmp_path: Path) -> Path:
    """A copy of the template project under tmp_path."""
    project = tmp_path / "userproject"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return project


@dataclass
class Run:
    code: int
    output: str
    processes: dict[int, float] = field(default_factory=dict)  # pid -> create time, of every process in the tree
    ports: set[int] = field(default_factory=set)  # every port a process of the tree listened on

    def left_behind(self) -> list[str]:
        """Processes of the run's tree still alive, and ports still accepting connections, after it ended."""
        left = []
        for pid, created in self.processes.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"process {pid}: {' '.join(proc.cmdline())[:200]}")
            except psutil.NoSuchProcess:
                pass
        for port in self.ports:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    left.append(f"port {port} still accepts connections")
        return left


def _watch(proc: subprocess.Popen, run: Run) -> None:
    """Until `proc` ends: every process of its tree and every port they (or it) listen on, every 0.1 s."""
    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in tree:
            try:
                if p.pid != proc.pid:
                    run.processes.setdefault(p.pid, p.create_time())
                for conn in p.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        run.ports.add(conn.laddr.port)
            except psutil.Error:
                pass
        time.sleep(0.1)


def run_pytest(
    project: Path,
    site: Path,
    *args: str,
    timeout: float = 240,
    pythonpath: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Run:
    """`python -m pytest ARGS` in the project's folder, as its user runs it; watched (see `Run`).

    The import path is the installed chanload (`site`), then `pythonpath`; `env` adds variables.
    """
    env = {**{k: v for k, v in os.environ.items() if k not in NOT_A_USERS}, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *pythonpath])  # the site-packages chanload would be in
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    run = Run(-1, "")
    watcher = threading.Thread(target=_watch, args=(proc, run), daemon=True)
    watcher.start()
    try:
        out, _ = proc.communicate(timeout=timeout * UNIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"pytest in the user's project did not end within {timeout} s:\n{out[-5000:]}")
    watcher.join(10)
    run.code, run.output = proc.returncode, out
    return run
