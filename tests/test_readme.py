"""Every command block the README and docs/ show is run here, so no example can rot.

Data-driven: each ```sh block of README.md and docs/*.md is read, sorted into a kind by the commands
it holds, and run that way against real servers on free loopback ports. Durations are shortened
(`-t`), ports and report folders are swapped for the test's own; everything else runs as written. A
block shown on several pages runs once. A new block that fits no kind fails `test_doc_block` until
this file learns to run it. Each ```python block is compiled, held to the public imports, and run:
a Locust user against the app it was written for, a test with pytest. The pages' links, the paths
and modules they name, the options they list and the public names they promise are checked too.
"""

from __future__ import annotations

import itertools
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
import yaml

import chanload  # the public face only: no Locust
import chanload.exceptions
from chanload.formatting import format_us
from chanload.recording.counters import Ledger
from tests import locustrun
from tests.servers import ROOT, UNIT, django_admin, foreign_app, free_port, stop, wait_for_port

pytestmark = pytest.mark.e2e  # starts processes: interpreters, lint-imports, the pages' commands

README = ROOT / "README.md"
DOCS = ROOT / "docs"
TEMPLATE = ROOT / "tests" / "templates" / "userproject"  # a user's project (tests/test_user_project.py)
PAGES = [README, *sorted(DOCS.glob("*.md"))]
ARCHITECTURE = DOCS / "architecture.md"  # the one page that names modules in code
README_HOST = "ws://127.0.0.1:8000"
SHORT = ("-t", "4s")
MAX_README_LINES = 250


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def fences(page: Path) -> tuple[list[tuple[str, str]], str]:
    """A page's fenced blocks as (language, dedented body), indented ones (inside a list) included; and its prose."""
    blocks, prose, lang, indent, body = [], [], None, "", []
    for line in page.read_text().splitlines(keepends=True):
        if lang is None:
            opening = re.match(r"^([ \t]*)```(\w*)\s*$", line)
            if opening:
                lang, indent, body = opening.group(2), opening.group(1), []
            else:
                prose.append(line)
        elif line.strip() == "```" and line.startswith(indent):
            blocks.append((lang, textwrap.dedent("".join(body))))
            lang = None
        else:
            body.append(line)
    assert lang is None, f"{rel(page)}: a code block is not closed"
    return blocks, "".join(prose)


def fenced(page: Path, lang: str) -> list[str]:
    """Every ```lang block of a page (lang "": the plain ones)."""
    return [body for block_lang, body in fences(page)[0] if block_lang == lang]


def unique_blocks(lang: str) -> list[tuple[str, str]]:
    """(first page showing it, block) for every distinct block: one shown on several pages runs once."""
    seen: dict[str, str] = {}
    for page in PAGES:
        for block in fenced(page, lang):
            seen.setdefault(block.strip(), rel(page))
    return [(where, block) for block, where in seen.items()]


def commands(block: str) -> list[list[str]]:
    """The block's commands as word lists: continuations joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


# Blocks that need their own set-up are run by a test beside the feature they show; this file checks
# that the test is still there. Marker in the block -> (test file under tests/, test function, whether
# that test reads its block from README.md: then a docs page must show the README's block as it is).
ELSEWHERE = {
    "--ws-metrics-port": ("watch/test_metrics.py", "test_readme_metrics_commands_work", True),
    "loadtests/capacity.py": ("run/test_capacity.py", "test_the_readme_capacity_command_runs", True),
    # No Docker engine here: the test runs every service's command natively (and checks the file's structure).
    "docker compose": (
        "test_compose.py",
        "test_every_service_command_runs_natively_and_the_master_drives_two_workers",
        False,
    ),
    # pytest in a user's project (docs/behaviour-tests.md): run there, on Daphne and on uvicorn.
    "--chanload-server": ("test_user_project.py", "test_a_users_project_passes_on_uvicorn", False),
    # Two runs' report folders (docs/compare.md): run there, on runs of a target and of one made slower.
    "chanload compare": ("test_compare_e2e.py", "test_the_docs_compare_commands_run", False),
    "--baseline": ("test_compare_e2e.py", "test_the_docs_compare_commands_run", False),
    # An app's routes (docs/start-from-your-app.md, the README's tour): run on the apps they name, and the runs.
    "chanload routes": ("test_routes_e2e.py", "test_the_docs_routes_commands_run", False),
    # A browser recording (docs/start-from-your-app.md): recorded there through mitmdump, converted, run.
    "chanload har": ("discover/test_har_e2e.py", "test_the_docs_har_commands_run", False),
    # A restart drill needs the scaled stack and a Daphne stopped mid-run (docs/restarts.md): run there, shorter.
    "make drill": ("test_restarts.py", "test_make_drill_runs_and_prints_the_recovery", False),
    # Leaks need minutes of load and a watched target (docs/watching.md): run there, shorter, on a target it starts.
    "--watch-cooldown": (
        "test_leaks.py",
        "test_the_docs_leak_command_runs_and_the_reference_target_run_as_long_is_not_flagged",
        False,
    ),
    # wss:// needs nginx with a certificate of a CA made for it (docs/scaling.md): run there, on that layout.
    "--ws-ca-file": ("test_tls.py", "test_the_docs_wss_command_runs", False),
}


def kind(block: str) -> str | None:
    cmds = commands(block)
    firsts = [c[0] for c in cmds]
    if any(marker in block for marker in ELSEWHERE):
        return "elsewhere"
    if all(f == "make" for f in firsts):
        return "make"
    if len(cmds) == 1 and cmds[0][:3] == ["pip", "install", "-e"]:
        return "install"
    if len(cmds) == 1 and cmds[0] == ["lint-imports"]:
        return "lint"
    if len(cmds) == 1 and firsts[0] == "cd" and "daphne" in cmds[0]:
        return "target"
    if len(cmds) == 1 and cmds[0][:3] == ["python", "-m", "chanload"]:
        return "help"
    if len(cmds) == 2 and "--master" in cmds[0] and "--worker" in cmds[1]:
        return "distributed"
    if len(cmds) == 1 and firsts[0] == "locust":
        return "locust"
    return None


BLOCKS = unique_blocks("sh")
PYTHON_BLOCKS = unique_blocks("python")


def test_docs_have_blocks_of_every_kind():
    """The pages show the target, make verbs, the install, headless, web UI, distributed runs, the help, the lint."""
    kinds = {kind(b) for _where, b in BLOCKS}
    assert {"make", "install", "target", "help", "distributed", "locust", "lint", "elsewhere"} <= kinds
    readme_kinds = {kind(b) for b in fenced(README, "sh")}
    assert {"make", "target", "locust"} <= readme_kinds  # the README's own first steps
    assert PYTHON_BLOCKS and fenced(README, "python")


@pytest.mark.parametrize(
    "where,block", BLOCKS, ids=[f"{i}:{where}:{kind(b)}:{commands(b)[0][:3]}" for i, (where, b) in enumerate(BLOCKS)]
)
def test_doc_block(where, block, tmp_path, target, request):
    """Run the block as the page shows it (shortened); it does what the page says."""
    what = kind(block)
    assert what is not None, f"{where} shows a block with no rule in tests/test_readme.py, teach it:\n{block}"
    if what == "locust":
        run_locust(commands(block), block, tmp_path, target, lambda: request.getfixturevalue("shared_foreign"))
        return
    globals()[f"run_{what}"](commands(block), block, tmp_path, target)


@pytest.fixture(scope="session")
def shared_foreign():
    """tests/apps/foreign under Daphne for the blocks written for it: one per pytest process, made when a block first
    needs it (session scope: a module-scoped one would send every block of this file to one xdist worker)."""
    with foreign_app() as app:
        yield app


def run_make(cmds, _block, tmp_path, _target):
    for words in cmds:
        verb = words[1]
        recipe = makefile_recipe(verb)
        if verb == "test":  # this very run is `make test`: CI runs it (.ci/run); its tiers are make test-tiers
            assert "test-tiers" in recipe, recipe
            assert all("-m pytest" in makefile_recipe(f"test-{tier}") for tier in ("parallel", "timing", "inprocess"))
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


def run_install(cmds, _block, _tmp_path, _target):
    """The install, as a dry run with no index: it resolves from what this machine has, and changes nothing."""
    words = cmds[0]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *words[1:], "--dry-run", "--no-index", "--no-build-isolation"],
        cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Would install chanload" in out, out[-3000:]


def run_lint(cmds, _block, _tmp_path, _target):
    """import-linter's contracts, as the architecture page names them, all kept."""
    proc = subprocess.run(cmds[0], cwd=ROOT, capture_output=True, text=True, timeout=300 * UNIT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and " 0 broken" in out, out[-3000:]
    page = ARCHITECTURE.read_text()
    for contract in re.findall(r"^(.+?) KEPT$", out, re.M):
        assert f'"{contract}"' in page, f"docs/architecture.md does not name the contract {contract!r}"


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
    test_file, test_name, reads_readme = ELSEWHERE[marker]
    assert f"def {test_name}(" in (ROOT / "tests" / test_file).read_text(), f"{test_file}::{test_name} is gone"
    if reads_readme:  # that test runs the README's block: this one must be it
        readme = [b.strip() for b in fenced(README, "sh") if marker in b]
        assert readme == [block.strip()], f"tests/{test_file} runs the README's block with {marker!r}, not:\n{block}"
    if marker == "docker compose":  # checked without an engine: what the command names is in the file
        services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        for words in commands(block):
            assert words[:3] == ["docker", "compose", "up"], words
            scaled = [w.split("=")[0] for i, w in enumerate(words) if i and words[i - 1] == "--scale"]
            assert scaled and set(scaled) <= set(services), (scaled, sorted(services))
            assert all("container_name" not in services[name] for name in scaled)  # a scaled service is unnamed


def run_help(cmds, _block, _tmp_path, _target):
    out = subprocess.run(
        [sys.executable, *cmds[0][1:]], cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT
    ).stdout
    assert "Channels websocket" in out and "--allow-remote-workers" in out


# Words that mark a command written for tests/apps/foreign: its examples and its routes.
FOREIGN_ROUTES = ("loadtests/examples/", "ws/prices/", "ws/graphql/", "ws/api/", "ws/lobby/")


def run_locust(cmds, _block, tmp_path, target, foreign):
    words = cmds[0]
    if any(route in w for w in words for route in FOREIGN_ROUTES):
        # Apps unlike ours (docs/writing-users.md, docs/options.md): the foreign Channels project they are written for.
        app = foreign()
        if "--credentials" in words:  # a setup step: the users the CSV file names
            words = _with_accounts(words, app, tmp_path)
        return _run_locust(words, app.ws_url, tmp_path)
    return _run_locust(words, target.ws_url, tmp_path)


_ACCOUNTS = itertools.count()  # the shared app keeps its users: each block's are new ones


def _with_accounts(words, app, tmp_path):
    users = [(f"reader{n}", f"pw-{n}-{os.getpid()}") for n in itertools.islice(_ACCOUNTS, 3)]
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
        finally:
            stop(proc)
            proc.communicate(timeout=30 * UNIT)
        # The start form shows the options docs/options.md marks "form", and no other.
        shown = {option for option, _form in documented_options() if f'"{option[2:].replace("-", "_")}":' in page}
        assert shown == {option for option, form in documented_options() if form}
        return
    proc = subprocess.run([*cmd, *SHORT], cwd=ROOT, capture_output=True, text=True, timeout=120 * UNIT)
    out = proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["counters"]["ok"] > 0 and summary["counters"]["failed"] == 0, out[-3000:]
    failed = [t["expr"] for t in summary["thresholds"] if not t["passed"]]
    # Latency limits depend on how busy this machine is; the others must pass as the page shows them.
    latency = ("connect:", "message:", "message@", "message_corrected:", "login:")
    assert not [f for f in failed if not f.startswith(latency)], out[-3000:]
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
    with open(tmp_path / "worker.log", "w") as worker_log:
        worker = subprocess.Popen(worker_cmd, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        out, _ = master.communicate(timeout=120 * UNIT)
        worker.wait(timeout=30 * UNIT)
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
                p.wait()
    worker_out = (tmp_path / "worker.log").read_text()
    assert master.returncode == 0, f"master:\n{out[-4000:]}\nworker:\n{worker_out[-3000:]}"
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["counters"]["ok"] > 0 and "workers_lost" not in summary


def locust_cmd(words, host, tmp_path) -> list[str]:
    """A page's locust command run with this interpreter, against `host`, its report in tmp_path."""
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
    assert match, f"the docs show `make {verb}`, the Makefile has no such target"
    return match.group(1).replace("\\\n", " ").replace("\t", " ").strip()


def _python_path() -> str:
    # The pages say python3: make it this interpreter (the one with Django and Daphne installed).
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


# Python blocks


USER_BASES = ("WsUser", "ChannelsUser", "EchoUser", "BroadcastUser")


@pytest.mark.parametrize("where,block", PYTHON_BLOCKS, ids=[f"{i}:{w}" for i, (w, _b) in enumerate(PYTHON_BLOCKS)])
def test_doc_python_block(where, block, tmp_path, request):
    """Compiles, imports chanload only through its public face, and runs: a user against its app, tests with pytest."""
    compile(block, f"{where} python block", "exec")
    if where != rel(ARCHITECTURE):
        modules = re.findall(r"^\s*(?:from|import)\s+(chanload[\w.]*)", block, re.M)
        assert set(modules) <= {"chanload", "chanload.testing"}, f"{where}: import from `chanload` only: {modules}"
    source = tmp_path / "doc_block.py"
    source.write_text(block)
    if template_file(block) is not None:
        return  # a file of the user's project, shown as it is (test_user_project_files_are_shown_as_they_are)
    if re.search(r"^def test_", block, re.M):
        # As a user's pytest would run: no Django settings of ours (test_consumers.py sets them in this process,
        # and pytest-django, installed here, would configure a project the block knows nothing of).
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120 * UNIT)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    elif re.search(rf"^class \w+\((?:{'|'.join(USER_BASES)})\):", block, re.M):
        # Written for apps shaped like tests/apps/foreign (the price feed, the tutorial's chat): run there.
        app = request.getfixturevalue("shared_foreign")
        # A user that logs in (its login_url) takes its accounts from --credentials: made here.
        args = _with_accounts(["--credentials", ""], app, tmp_path) if "login_url" in block else []
        run = locustrun.run_locust(tmp_path, app.ws_url, *args, users=2, run_time="4s", locustfile=source)
        assert run.code == 0 and "Traceback" not in run.output, run.output[-3000:]
        assert run.summary["counters"]["ok"] > 0 and run.summary["counters"]["failed"] == 0, run.output[-3000:]
    else:
        proc = subprocess.run([sys.executable, str(source)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60 * UNIT)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]


# docs/behaviour-tests.md shows the files of tests/templates/userproject/, which tests/test_user_project.py
# runs with pytest: a block whose first line is `# PATH` of a file there is a part of that file, as it is.


def template_file(block: str) -> Path | None:
    """The user project's file a block shows (its first line `# PATH`), or None."""
    first = block.split("\n", 1)[0]
    found = re.fullmatch(r"# ([\w./-]+\.(?:py|ini|cfg|toml))", first.strip())
    return TEMPLATE / found.group(1) if found and (TEMPLATE / found.group(1)).is_file() else None


def test_user_project_files_are_shown_as_they_are():
    """Each block of docs/behaviour-tests.md headed `# PATH` is that file of the user project, or a part of it."""
    shown = [(lang, block) for lang, block in fences(DOCS / "behaviour-tests.md")[0] if template_file(block)]
    assert {template_file(block).name for _lang, block in shown} >= {"test_chat.py", "load.py", "pytest.ini"}
    for _lang, block in shown:
        path = template_file(block)
        body = block.split("\n", 1)[1].strip()
        assert body in path.read_text(), f"docs/behaviour-tests.md shows {path.relative_to(ROOT)} otherwise:\n{body}"


# The pages themselves


def test_readme_is_short_and_maps_every_page():
    """The README stays a front page: at most 250 lines, with a link to every docs page."""
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_README_LINES
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)(?:#[\w-]*)?\)", text))
    assert linked == {rel(page) for page in DOCS.glob("*.md")}
    topics = {"running", "options", "writing-users", "latency", "watching", "thresholds-ci", "scaling", "architecture",
              "behaviour-tests"}  # fmt: skip
    assert {f"docs/{topic}.md" for topic in topics} <= linked


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens and underscores dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", fences(page)[1], re.M)}


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page):
    """Every relative link and image of a page names a file in the repository, and its #anchor a heading there."""
    for target in re.findall(r"\]\(([^)\s]+)\)", fences(page)[1]):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{rel(page)}: link to {target}, no such file"
        assert ROOT in dest.parents or dest == ROOT, f"{rel(page)}: {target} leaves the repository"
        if anchor:
            assert dest.suffix == ".md" and anchor in _anchors(dest), f"{rel(page)}: no heading for {target}"


REPO_PATH = re.compile(r"`((?:loadtests|tests|deploy|scripts|benchmarks|target_project|docs|\.github)/[^`\s]*)`")


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_named_paths_and_modules_exist(page):
    """Repository paths and `chanload.x.y` modules a page names exist in the layout as it is now."""
    text = page.read_text()
    for path in REPO_PATH.findall(text):
        if "{" in path:
            continue
        assert list(ROOT.glob(path.rstrip("/"))), f"{rel(page)} names {path}, not in the repository"
    package = ROOT / "loadtests"
    public = set(chanload.__all__)
    for dotted in set(re.findall(r"(?<![/\w])chanload(?:\.\w+)+\b(?!/)", text)):  # not a file or chanload.summary/1
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # the longest prefix that is a module or a package
            base = package.joinpath(*parts[:cut])
            module = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
            if module.exists():
                break
        rest = parts[cut:]
        assert len(rest) <= 1, f"{rel(page)} names {dotted}: no such module"
        if cut == 1 and rest:  # chanload.X: a public name
            assert rest[0] in public, f"{rel(page)} names {dotted}: not in chanload.__all__"
        elif rest:  # a name the module defines
            source = module.read_text()
            assert re.search(rf"^(?:class |def )?{rest[0]}\b", source, re.M), f"{rel(page)} names {dotted}"


def documented_options() -> list[tuple[str, bool]]:
    """(option, shown in the web UI's form) for every row of docs/options.md's tables."""
    rows = re.findall(r"^\| `(--[a-z-]+)` \|[^|]*\| (yes|no) \|", (DOCS / "options.md").read_text(), re.M)
    return [(option, form == "yes") for option, form in rows]


def test_every_option_is_documented():
    """docs/options.md has a row for every option chanload registers (as `python -m chanload --help` lists them)."""
    out = subprocess.run(
        [sys.executable, "-m", "chanload", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60 * UNIT
    ).stdout
    ours = out[out.index("Channels websocket:") : out.index("Examples:")]
    registered = set(re.findall(r"^  (--[a-z-]+)", ours, re.M))
    documented = [option for option, _form in documented_options()]
    assert len(documented) == len(set(documented))
    assert set(documented) == registered, (registered - set(documented), set(documented) - registered)


def test_the_public_face_is_documented():
    """docs/architecture.md names every export of `chanload`, and draws every error under its parent class."""
    page = ARCHITECTURE.read_text()
    missing = [name for name in chanload.__all__ if not re.search(rf"\b{name}\b", page)]
    assert not missing, f"docs/architecture.md does not name {missing}"
    (tree,) = [block for block in fenced(ARCHITECTURE, "") if block.startswith("ChanloadError\n")]
    drawn: dict[str, str | None] = {}  # class -> the class drawn as its parent
    above: list[tuple[int, str]] = []  # (column, class) of the lines so far
    for line in tree.splitlines():
        found = re.search(r"[A-Z]\w+", line)
        column, name = found.start(), found.group()
        parents = [n for c, n in above if c < column]
        drawn[name] = parents[-1] if parents else None
        above.append((column, name))
    for name in chanload.exceptions.__all__:
        base = getattr(chanload.exceptions, name).__bases__[0].__name__
        assert name in drawn, f"{name} is not in the errors tree"
        assert drawn[name] == (None if base == "Exception" else base), (name, drawn[name], base)


def test_the_demo_output_shown_is_in_the_current_format():
    """The README's (and docs/watching.md's) sample of `make demo` reads as chanload prints it today."""
    for page in (README, DOCS / "watching.md"):
        (sample,) = [b for b in fenced(page, "") if b.startswith("chanload latency (completed; HDR histograms")]
        lines = sample.splitlines()
        assert lines[1].split() == ["Type", "Name", "count", "fail", "p50", "p90", "p95", "p99", "p99.9", "max"]
        rows = [line for line in lines[2:] if line.startswith("WS ")]
        assert rows, sample
        for row in rows:
            cells = re.findall(r"\d+(?:\.\d+)? (?:us|ms|s)\b", row)
            assert len(cells) == 6, row
            for cell in cells:
                number, unit = cell.split()
                assert format_us(float(number) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]) == cell, (row, cell)
        counters = next(line for line in lines if line.startswith("messages: sent"))
        sent, ok, failed, in_flight, connects, connect_failures = map(int, re.findall(r"\d+", counters))
        ledger = Ledger(sent=sent, ok=ok, failed=failed, in_flight=in_flight, connects=connects,
                        connect_failures=connect_failures)  # fmt: skip
        assert ledger.line() == counters
        assert lines[-2:] == ["chanload exit code: 0 (completed)", "chanload: artifacts in reports/demo"]


def test_make_help_expands_its_variables():
    """`make help` (which the README points to) prints the report folder, not a literal $(REPORT_DIR)."""
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=30 * UNIT).stdout
    assert "$(" not in out and "artifacts in reports/ci" in out


def test_make_verbs_named_in_the_prose_exist():
    """`make X` written inline in the README or docs (not in a block) names a real Makefile target."""
    verbs = {verb for page in PAGES for verb in re.findall(r"`make ([a-z-]+)", page.read_text())}
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {"ci-load", "lint", "help", "bench-connections"} <= verbs
    families = {verb for verb in verbs if verb.endswith("-")}  # `make bench-*`
    assert all(any(target.startswith(f) for target in targets) for f in families), families
    assert verbs - families <= targets, verbs - families - targets
