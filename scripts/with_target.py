"""Run a command against an auto-started target: Daphne on a free loopback port, always stopped.

    python scripts/with_target.py -- locust -f loadtests/ws.py --host {host} --headless ...
    python scripts/with_target.py --scaled 2 -- locust ... --host {host}

`{host}` in the command becomes ws://127.0.0.1:PORT (also exported as TARGET_HOST). The target runs
from target_project/ with its embedded defaults (SQLite, migrated first). Alone it uses the in-memory
channel layer; with `--scaled N` it is N Daphne processes sharing a Redis channel layer (Debian's
redis-server) behind nginx (deploy/nginx.conf), and {host} is nginx. The target's output goes to a
temporary folder that is removed when the command succeeds and kept (its path printed) when it fails.

A locust command watches what this script started, with no option needed: `--watch daphne=PID` (scaled:
`daphne-1`, `daphne-2`, ..., `nginx`) and `--watch-redis URL` are added to it (chanload's docs/watching.md),
unless it watches something itself or `--no-watch` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file: the repo root, for scripts.*

from scripts import launch
from scripts.launch import TARGET, free_port, wait_for_port  # noqa: F401 - re-exported for benchmarks


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """wait_for_port, ending this script with a message instead of a traceback."""
    try:
        wait_for_port(port, proc, timeout)
    except (RuntimeError, TimeoutError) as exc:
        sys.exit(f"with_target: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port for the target (default: a free one)")
    parser.add_argument("--scaled", type=int, default=0, metavar="N", help="N Daphne processes on Redis behind nginx")
    parser.add_argument("--log", default="", help="folder for the target's output, always kept (default: temporary)")
    parser.add_argument("--no-watch", action="store_true", help="do not add --watch/--watch-redis to a locust command")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.scaled < 0 or (args.scaled and args.port):
        parser.error("--scaled N: N >= 1 processes on free ports (without --port)")
    workdir = Path(args.log) if args.log else Path(tempfile.mkdtemp(prefix="chanload-target-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"DJANGO_DB_PATH": str(workdir / "db.sqlite3")}
    code = 1
    try:
        migrate = [sys.executable, "manage.py", "migrate", "-v", "0"]
        subprocess.run(migrate, cwd=TARGET, env=launch.target_env(env, workdir), check=True)
        code = run(command, args.scaled, args.port, env, workdir, watch=not args.no_watch)
        return code
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"with_target: {exc}", file=sys.stderr)
        return 1
    finally:
        if code == 0 and not args.log:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"with_target: the target's output is in {workdir}", file=sys.stderr, flush=True)


def run(command: list[str], scaled: int, port: int, env: dict[str, str], workdir: Path, watch: bool = True) -> int:
    if scaled:
        with launch.scaled(scaled, env, workdir=workdir) as stack:
            ports = ", ".join(str(d.port) for d in stack.daphnes)
            print(f"with_target: nginx on {stack.host} -> {scaled} Daphne processes ({ports}) on {stack.redis_url}")
            processes = {f"daphne-{i}": d.proc.pid for i, d in enumerate(stack.daphnes, 1)}
            processes["nginx"] = stack.proxy.proc.pid
            if watch:
                command = watched(command, processes, stack.redis_url)
            return execute(command, stack.host)
    target = launch.spawn_daphne(workdir, env, port=port, timeout=30.0)
    try:
        print(f"with_target: target on ws://127.0.0.1:{target.port}", flush=True)
        if watch:
            command = watched(command, {"daphne": target.proc.pid}, None)
        return execute(command, f"ws://127.0.0.1:{target.port}")
    finally:
        launch.stop(target.proc, 10.0)


def watched(command: list[str], processes: dict[str, int], redis_url: str | None) -> list[str]:
    """A locust command with --watch NAME=PID for each process started here, and --watch-redis for its Redis;
    any other command, or one that already watches, as it is."""
    is_locust = Path(command[0]).name == "locust" or command[1:3] == ["-m", "locust"]
    # One that watches something itself: --watch or --watch-redis (--watch-cooldown only says how long to watch).
    watches = any(part.split("=")[0] in ("--watch", "--watch-redis") for part in command)
    if not is_locust or watches:
        return command
    extra = launch.watch_args(processes, redis_url)
    print("with_target: watching " + ", ".join(processes) + (" and Redis" if redis_url else ""), flush=True)
    return [*command, *extra]


def execute(command: list[str], host: str) -> int:
    sys.stdout.flush()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TARGET_HOST": host}
    return subprocess.run([part.replace("{host}", host) for part in command], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
