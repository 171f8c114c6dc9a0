"""Run a command against an auto-started target: Daphne on a free loopback port, always stopped.

    python scripts/with_target.py -- locust -f loadtests/ws.py --host {host} --headless ...

`{host}` in the command becomes ws://127.0.0.1:PORT (also exported as TARGET_HOST). The target runs
from target_project/ with its embedded defaults (in-memory channel layer, SQLite), migrated first.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target_project"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"with_target: the target exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"with_target: nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port for the target (default: a free one)")
    parser.add_argument("--log", default="", help="file for the target's output (default: a temp file)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    port = args.port or free_port()
    host = f"ws://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_DB_PATH", str(Path(tempfile.gettempdir()) / "chanload-target.sqlite3"))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=TARGET, env=env, check=True)
    log_path = Path(args.log) if args.log else Path(tempfile.mkstemp(prefix="chanload-target-", suffix=".log")[1])
    with open(log_path, "wb") as log:
        target = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatroom.asgi:application"],
            cwd=TARGET,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(port, target)
        print(f"with_target: target on {host} (log: {log_path})", flush=True)
        run = subprocess.run([part.replace("{host}", host) for part in command], env={**env, "TARGET_HOST": host})
        return run.returncode
    finally:
        target.send_signal(signal.SIGTERM)
        try:
            target.wait(10)
        except subprocess.TimeoutExpired:
            target.kill()


if __name__ == "__main__":
    sys.exit(main())
