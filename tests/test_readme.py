"""Every command block the README shows is run here, so no example can rot.

Data-driven: each ```sh block of README.md is read, sorted into a kind by the commands it holds, and
run that way against real servers on free loopback ports. Durations are shortened (`-t`), ports and
report folders are swapped for the test's own; everything else runs as written. A new block that
fits no kind fails `test_readme_block` until this file learns to run it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.servers import ROOT, UNIT, django_admin, foreign_app, free_port, stop, wait_for_port

README_HOST = "ws://127.0.0.1:8000"
SHORT = ("-t", "4s")


def sh_blocks() -> list[str]:
    """Every ```sh block, indented ones (inside a list) included, dedented."""
    found = re.findall(r"^([ \t]*)```sh\n(.*?)^\1```", (ROOT / "README.md").read_text(), re.M | re.S)
    return [textwrap.dedent(body) for _indent, body in found]


def commands(block: str) -> list[list[str]]:
    """The block's commands as word lists: continuations joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


# Blocks that need their own set-up are run by a test beside the feature they show; this file checks
# that the test is still there. Marker in the block -> (test file, test function).
ELSEWHERE = {
    "--ws-metrics-port": ("test_metrics.py", "test_readme_metrics_commands_work"),
    "loadtests/capacity.py": ("test_capacity.py", "test_the_readme_capacity_command_runs"),
    "docker compose": ("test_compose.py", "test_every_service_command_runs_natively_and_the_master_drives_two_workers"),
}


def kind(block: str) -> str | None:
    cmds = commands(block)
    firsts = [c[0] for c in cmds]
    if any(marker in block for marker in ELSEWHERE):
        return "elsewhere"
    if all(f == "make" for f in firsts):
        return "make"
    if len(cmds) == 1 and firsts[0] == "cd" and "daphne" in cmds[0]:
        return "target"
    if len(cmds) == 1 and cmds[0][:3] == ["python", "-m", "chanload"]:
        return "help"
    if len(cmds) == 2 and "--master" in cmds[0] and "--worker" in cmds[1]:
        return "distributed"
    if len(cmds) == 1 and firsts[0] == "locust":
        return "locust"
    return None


BLOCKS = sh_blocks()


def test_readme_has_blocks_of_every_kind():
    """The README shows the target, make verbs, headless, web UI, distributed runs and the help."""
    kinds = {kind(b) for b in BLOCKS}
    assert {"make", "target", "help", "distributed", "locust"} <= kinds


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{i}:{commands(b)[0][:3]}" for i, b in enumerate(BLOCKS)])
def test_readme_block(block, tmp_path, target):
    """Run the block as the README shows it (shortened); it does what the README says."""
    what = kind(block)
    assert what is not None, f"README block has no rule in tests/test_readme.py, teach it:\n{block}"
    globals()[f"run_{what}"](commands(block), block, tmp_path, target)


def run_make(cmds, _block, tmp_path, _target):
    for words in cmds:
        verb = words[1]
        recipe = makefile_recipe(verb)
        if verb == "test":
            assert "-m pytest" in recipe  # this very run is `make test`: CI runs it (.ci/run)
            continue
        # The recipe minus its prerequisites (deps-python is a pip install; this machine has it).
        line = recipe.replace("$(PYTHON)", shlex.quote(sys.executable))
        for name, value in makefile_defaults().items():
            line = line.replace(f"$({name})", value)
        report = tmp_path / verb
        cmd = [*shlex.split(line), *SHORT, "-u", "3", "-r", "3", "--report-dir", str(report)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert "chanload latency (completed" in out and (report / "summary.json").exists()


def run_target(cmds, block, tmp_path, _target):
    port = free_port()
    line = block.strip().replace("8000", str(port))
    env = {**os.environ, "DJANGO_DB_PATH": str(tmp_path / "db.sqlite3"), "PATH": _python_path()}
    proc = subprocess.Popen(["bash", "-c", line], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for_port(port, proc, 60 * UNIT)
        assert (tmp_path / "db.sqlite3").exists()  # migrate ran first
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=30 * UNIT)


def run_elsewhere(_cmds, block, _tmp_path, _target):
    (marker,) = [m for m in ELSEWHERE if m in block]
    test_file, test_name = ELSEWHERE[marker]
    assert f"def {test_name}(" in (ROOT / "tests" / test_file).read_text(), f"{test_file}::{test_name} is gone"


def run_help(cmds, _block, _tmp_path, _target):
    out = subprocess.run(
        [sys.executable, *cmds[0][1:]], cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT
    ).stdout
    assert "Channels websocket" in out and "--allow-remote-workers" in out


def run_locust(cmds, _block, tmp_path, target):
    words = cmds[0]
    if any("loadtests/examples/" in w or "ws/prices/" in w for w in words):
        # "Loading your own app": the foreign Channels project those commands are written for.
        with foreign_app() as app:
            if "--credentials" in words:  # a setup step: the users the CSV file names
                words = _with_accounts(words, app, tmp_path)
            return _run_locust(words, app.ws_url, tmp_path)
    return _run_locust(words, target.ws_url, tmp_path)


def _with_accounts(words, app, tmp_path):
    users = [(f"reader{i}", f"pw-{i}-{os.getpid()}") for i in range(3)]
    django_admin(app.env, "shell", "-c", "from django.contrib.auth.models import User\n" + "".join(
        f"User.objects.create_user({name!r}, password={password!r})\n" for name, password in users
    ))  # fmt: skip
    csv_path = tmp_path / "users.csv"
    csv_path.write_text("username,password\n" + "".join(f"{n},{pw}\n" for n, pw in users))
    words = list(words)
    words[words.index("--credentials") + 1] = str(csv_path)
    return words


def _run_locust(words, host, tmp_path):
    cmd = locust_cmd(words, host, tmp_path)
    if "--headless" not in words and not _config_says_headless(words):  # the web UI: starts, serves the form, stops
        port = free_port()
        proc = subprocess.Popen([*cmd, "--web-port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            wait_for_port(port, proc, 30 * UNIT)
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10 * UNIT).read().decode()
            assert "ws_think" in page and "ws_header" not in page  # as the README says
        finally:
            stop(proc)
            proc.communicate(timeout=30 * UNIT)
        return
    proc = subprocess.run([*cmd, *SHORT], cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    out = proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0, out[-3000:]
    failed = [t["expr"] for t in summary["thresholds"] if not t["passed"]]
    # Latency limits depend on how busy this machine is; the others must pass as the README shows them.
    assert not [f for f in failed if not f.startswith(("connect:", "message:", "message@"))], out[-3000:]
    assert proc.returncode == (3 if failed else 0), out[-3000:]


def _config_says_headless(words) -> bool:
    if "--config" not in words:
        return False
    text = (ROOT / words[words.index("--config") + 1]).read_text()
    return re.search(r"^headless\s*=\s*true", text, re.M) is not None


def run_distributed(cmds, _block, tmp_path, target):
    port = free_port()
    master_cmd = [*locust_cmd(cmds[0], target.ws_url, tmp_path), *SHORT, "--master-bind-port", str(port)]
    worker_cmd = [*locust_cmd(cmds[1], target.ws_url, tmp_path), "--master-port", str(port)]
    master = subprocess.Popen(master_cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.Popen(worker_cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, _ = master.communicate(timeout=120 * UNIT)
        worker.wait(timeout=30 * UNIT)
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert master.returncode == 0, out[-3000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["counters"]["ok"] > 0 and "workers_lost" not in summary


def locust_cmd(words, host, tmp_path) -> list[str]:
    """A README locust command run with this interpreter, against `host`, its report in tmp_path."""
    assert words[0] == "locust"
    words = [w.replace(README_HOST, host) for w in words[1:]]
    if "--report-dir" in words:
        words[words.index("--report-dir") + 1] = str(tmp_path / "report")
    else:  # the test reads what the run recorded
        words += ["--report-dir", str(tmp_path / "report")]
    return [sys.executable, "-m", "locust", *words]


def makefile_defaults() -> dict[str, str]:
    """The Makefile's `NAME ?= value` variables."""
    return dict(re.findall(r"^([A-Z_]+) \?= (.*)$", (ROOT / "Makefile").read_text(), re.M))


def makefile_recipe(verb: str) -> str:
    match = re.search(rf"^{re.escape(verb)}:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert match, f"README shows `make {verb}`, the Makefile has no such target"
    return match.group(1).replace("\\\n", " ").replace("\t", " ").strip()


def test_make_help_expands_its_variables():
    """`make help` (which the README points to) prints the report folder, not a literal $(REPORT_DIR)."""
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=30 * UNIT).stdout
    assert "$(" not in out and "artifacts in reports/ci" in out


def _python_path() -> str:
    # The README says python3: make it this interpreter (the one with Django and Daphne installed).
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def test_make_verbs_named_in_the_prose_exist():
    """`make X` written inline in the README (not in a block) names a real Makefile target."""
    verbs = set(re.findall(r"`make ([a-z-]+)", (ROOT / "README.md").read_text()))
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"ci-load", "lint", "help"} <= verbs
    assert verbs <= targets, verbs - targets
