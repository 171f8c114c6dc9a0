"""A user's project outside this repository (tests/templates/userproject/), run with pytest as its user would.

`installed_chanload` does what a user does and nothing more: `pip install` chanload (a wheel built from this
repository, installed with pip into a fresh virtualenv; the virtualenv sees the system's site-packages for
Django, Channels, Daphne and pytest, so no network is needed); `user_project` copies the template to a
temporary folder; `run_pytest` runs that virtualenv's `python -m pytest --trace-config` there in a process of
its own, with nothing of this repository on PYTHONPATH, and watches every process of that run's tree and every
port they listen on (`Run.left_behind`). `Run.plugin_files` says where pytest loaded chanload's plugin from:
the virtualenv, not this repository's editable install (its site-packages come after the virtualenv's own).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.servers import ROOT, UNIT

TEMPLATE = Path(__file__).resolve().parent / "templates" / "userproject"
TUTORIAL = Path(__file__).resolve().parent / "templates" / "tutorial"
# What a user's shell would not have: this repository's paths, another project's settings, pytest options.
NOT_A_USERS = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER")
INSTALL_TIMEOUT = 120  # seconds for each of: the wheel's build, the virtualenv, pip install


@dataclass(frozen=True)
class Installed:
    """chanload installed with pip into a virtualenv: its interpreter and its site-packages."""

    python: Path
    site_packages: Path


def _step(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT * UNIT)
    assert done.returncode == 0, f"{what} failed: {' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def installed_chanload(folder: Path) -> Installed:
    """`pip install chanload` into a new virtualenv under `folder`, from a wheel of this repository's source.

    The wheel is built from a copy of the sources (the build writes into its source folder), with the build
    tools already installed (--no-build-isolation: no network); installed with --no-deps, since the virtualenv
    sees the system's site-packages, where the dependencies are.
    """
    source = folder / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "loadtests" / "chanload", source / "loadtests" / "chanload",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )  # fmt: skip
    wheels = folder / "wheels"
    pip_quiet = ["--disable-pip-version-check", "--no-input", "-q"]
    _step([sys.executable, "-m", "pip", "wheel", *pip_quiet, "--no-deps", "--no-build-isolation", "--no-index",
           "-w", str(wheels), str(source)], "building chanload's wheel")  # fmt: skip
    [wheel] = wheels.glob("chanload-*.whl")
    venv = folder / "venv"
    _step([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], "making the virtualenv")
    python = venv / "bin" / "python"
    _step([str(python), "-m", "pip", "install", *pip_quiet, "--no-deps", "--no-index", str(wheel)], "pip install")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    return Installed(python, Path(site))


def user_project(tmp_path: Path) -> Path:
    """A copy of the template project under tmp_path."""
    project = tmp_path / "userproject"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return project


def tutorial_project(tmp_path: Path) -> Path:
    """The Channels tutorial's chat on an unmodified `django-admin startproject mysite` (its SQLite settings).

    startproject and startapp write the project; tests/templates/tutorial/ adds the tutorial's files (chat's
    consumer and routing, mysite/asgi.py, a test using `ws`); the settings get only the tutorial's additions.
    """
    project = tmp_path / "mysite"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_USERS}
    for command in (["django", "startproject", "mysite", "."], ["django", "startapp", "chat"]):
        done = subprocess.run([sys.executable, "-m", *command], cwd=project, env=env, capture_output=True, text=True,
                              timeout=60 * UNIT)  # fmt: skip
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
    shutil.copytree(TUTORIAL, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    settings = project / "mysite" / "settings.py"
    text = settings.read_text()
    assert "django.db.backends.sqlite3" in text and "INSTALLED_APPS = [\n" in text, "startproject changed: update"
    text = text.replace("INSTALLED_APPS = [\n", 'INSTALLED_APPS = [\n    "daphne",\n    "chat",\n', 1)
    text += (
        '\nASGI_APPLICATION = "mysite.asgi.application"\n'
        'CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n'
    )
    settings.write_text(text)
    return project


@dataclass
class Run:
    code: int
    output: str
    processes: dict[int, float] = field(default_factory=dict)  # pid -> create time, of every process in the tree
    ports: set[int] = field(default_factory=set)  # every port a process of the tree listened on

    def plugin_files(self) -> dict[str, str]:
        """Where pytest loaded chanload's plugin modules from (module -> file), from --trace-config's lines."""
        found = re.findall(r"PLUGIN registered: <module '(chanload\.[\w.]+)' from '([^']+)'>", self.output)
        return dict(found)

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
    installed: Installed,
    *args: str,
    timeout: float = 240,
    pythonpath: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Run:
    """The virtualenv's `python -m pytest --trace-config ARGS` in the project's folder, as its user runs it;
    watched (see `Run`). `pythonpath` goes on PYTHONPATH (nothing else does); `env` adds variables."""
    env = {**{k: v for k, v in os.environ.items() if k not in NOT_A_USERS}, **(env or {})}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [str(installed.python), "-m", "pytest", "-p", "no:cacheprovider", "--trace-config", "-rA", *args],
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
