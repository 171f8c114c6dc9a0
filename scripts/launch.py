"""Start the target's processes on free loopback ports, always stopped: Daphne, Redis, nginx, or all three.

One place for what scripts, benchmarks and tests all need: `free_port`, waiting for a port, stopping a
process, and the scaled layout (N Daphne processes sharing a Redis channel layer behind nginx, with
deploy/nginx.conf, the same template docker-compose.yml uses).

As a command, it starts a Daphne in the background and returns once it listens: what a `--drill` that restarts a
server runs (`restart_command`; the shell's exit is what a drill awaits, so the server must not keep it):

    python scripts/launch.py daphne --port PORT --workdir DIR --pidfile FILE [--env NAME=VALUE ...] [--die-with PID]

With `--die-with PID` a watchdog (this file again, `watchdog OWNER PID`, in a session of its own) stops that Daphne
when process PID ends, however it ends (SIGKILL included), and ends itself when the Daphne does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
# chanload lives in loadtests/ (as for the benchmarks): the one process stopper is there.
sys.path.insert(0, str(ROOT / "loadtests"))

from chanload.processes import stop_group  # noqa: E402 - after the path it is found on

TARGET = ROOT / "target_project"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
APPLICATION = "chatroom.asgi:application"
CLIENT_TIMEOUT = 10  # seconds nginx gives a client to send its handshake (deploy/nginx.conf)

_PLACEHOLDER = re.compile(r"\$\{(CHANLOAD_[A-Z_]+)\}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Return once 127.0.0.1:port accepts; raise if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{_name(proc)} exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s ({_name(proc)})")


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds (its process group too, if it leads one); an ended one is left."""
    stop_group(proc, timeout, kill_timeout=None)


def _name(proc: subprocess.Popen) -> str:
    args = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    return " ".join(str(a) for a in args[:4])


@dataclass
class Proc:
    """A started server process, its port and the file its output goes to."""

    proc: subprocess.Popen
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def target_env(env: Mapping[str, str] | None, workdir: Path) -> dict[str, str]:
    full = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_DB_PATH": str(workdir / "db.sqlite3")}
    full.update(env or {})
    return full


def spawn_daphne(
    workdir: Path,
    env: Mapping[str, str] | None = None,
    application: str = APPLICATION,
    cwd: Path = TARGET,
    args: tuple[str, ...] = (),
    port: int = 0,
    timeout: float = 20.0,
    backlog: int = 0,
    module: str = "daphne",
    nofile: int = 0,
) -> Proc:
    """`daphne -b 127.0.0.1 -p PORT application`, listening when this returns; the caller stops it.

    `backlog`: the listen queue, instead of Twisted's default of 50 (as a Twisted endpoint string).
    `module`: another Daphne command line to run as `python -m MODULE`, e.g. the target's `chatroom.serve`.
    `nofile`: the process's RLIMIT_NOFILE (soft and hard), a known file-descriptor limit; 0 keeps ours.
    """
    port = port or free_port()
    log = workdir / f"daphne-{port}.log"
    listen = ["-b", "127.0.0.1", "-p", str(port)]
    if backlog:
        listen = ["-e", f"tcp:port={port}:interface=127.0.0.1:backlog={backlog}"]
    cmd = [sys.executable, "-m", module, *listen, *args, application]
    with open(log, "wb") as out:
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        proc = subprocess.Popen(cmd, cwd=cwd, env=target_env(env, workdir), stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=limit)  # fmt: skip
    try:
        wait_for_port(port, proc, timeout)
    except BaseException:
        stop(proc)
        raise
    return Proc(proc, port, log)


def watch_args(processes: Mapping[str, int], redis_url: str | None = None) -> list[str]:
    """The locust options that watch what was started here: `--watch NAME=PID` each, `--watch-redis URL`."""
    args = [arg for name, pid in processes.items() for arg in ("--watch", f"{name}={pid}")]
    return args + (["--watch-redis", redis_url] if redis_url else [])


@contextlib.contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[str]:
    """Debian's redis-server on a free port with persistence off; yields its redis:// URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server (make deps does it)")
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="chanload-redis-"))
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, timeout)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def render_nginx(values: Mapping[str, str], template: str | None = None) -> str:
    """deploy/nginx.conf with its ${CHANLOAD_*} placeholders filled, as `envsubst '${CHANLOAD_...}'` would."""
    text = NGINX_TEMPLATE.read_text() if template is None else template
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in {NGINX_TEMPLATE.name}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def upstream_lines(ports: list[int]) -> str:
    return " ".join(f"server 127.0.0.1:{port};" for port in ports)


@dataclass(frozen=True)
class Tls:
    """nginx terminating TLS: its certificate (the chain, leaf first) and key as PEM files, and the port."""

    cert: Path
    key: Path
    port: int = 0  # 0: a free one


def with_tls(conf: str, listen: str, tls: Tls) -> str:
    """A rendered nginx.conf whose server also listens with TLS on `tls.port`, beside its plain `listen`.

    What deploy/nginx.conf's comment tells a deployer to add to the server block: `listen ... ssl` and the
    certificate and key. nginx hands the decrypted bytes to the same location, so the proxying is unchanged.
    """
    line = f"        listen {listen};\n"
    if conf.count(line) != 1:
        raise ValueError(f"no single `listen {listen};` line to add TLS beside")
    added = (
        f"        listen 127.0.0.1:{tls.port} ssl;\n"
        f"        ssl_certificate {tls.cert};\n"
        f"        ssl_certificate_key {tls.key};\n"
    )
    return conf.replace(line, line + added)


def spawn_nginx(
    workdir: Path,
    upstreams: list[int],
    client_timeout: float = CLIENT_TIMEOUT,
    tls: Tls | None = None,
    workers: int | None = None,
) -> Proc:
    """Debian's nginx on a free loopback port, proxying to the Daphne `upstreams`; the caller stops it.

    `tls`: it also listens with TLS on `tls.port` (give a port: free_port()), with that certificate.
    `workers`: that many worker processes (default: one a core), each with a listening socket of its own
    (`reuseport`), so the kernel spreads the connections evenly. A worker holds two descriptors a websocket
    under its open-files limit, so about 9,500 websockets: 20,000 need three.
    """
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx (make deps does it)")
    port = free_port()
    conf = workdir / "nginx.conf"
    text = render_nginx(
        {
            "CHANLOAD_LISTEN": f"127.0.0.1:{port}",
            "CHANLOAD_UPSTREAMS": upstream_lines(upstreams),
            "CHANLOAD_PID": str(workdir / "nginx.pid"),
            "CHANLOAD_CLIENT_TIMEOUT": f"{client_timeout:g}",
        }
    )
    if workers is not None:
        for line, wanted in (
            ("worker_processes auto;", f"worker_processes {workers};"),
            (f"listen 127.0.0.1:{port};", f"listen 127.0.0.1:{port} reuseport;"),
        ):
            if line not in text:
                raise ValueError(f"{NGINX_TEMPLATE.name} has no line {line!r} to set nginx's workers in")
            text = text.replace(line, wanted, 1)
    conf.write_text(with_tls(text, f"127.0.0.1:{port}", tls) if tls is not None else text)
    log = workdir / "nginx.log"
    # -p: relative paths (temp files) under workdir; -e: startup errors go where the rest goes.
    cmd = [exe, "-p", str(workdir), "-c", str(conf), "-e", "stderr"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, 10.0)
        if tls is not None:
            wait_for_port(tls.port, proc, 10.0)
    except BaseException:
        stop(proc)
        raise
    return Proc(proc, port, log)


@dataclass
class Scaled:
    """The scaled layout: Redis, N Daphne processes on it, nginx in front."""

    redis_url: str
    daphnes: list[Proc]
    proxy: Proc
    workdir: Path
    logs: list[Path] = field(default_factory=list)
    tls: Tls | None = None  # nginx also terminates TLS (scaled(tls=...))

    @property
    def host(self) -> str:
        return f"ws://127.0.0.1:{self.proxy.port}"

    @property
    def wss_host(self) -> str:
        """nginx's TLS port, as wss:// (the same proxy and processes as `host`)."""
        if self.tls is None:
            raise ValueError("this layout has no TLS port: start it with scaled(tls=Tls(cert, key))")
        return f"wss://127.0.0.1:{self.tls.port}"

    def direct(self, index: int) -> str:
        """ws:// URL of one Daphne process, bypassing the proxy (to pin connections to it)."""
        return f"ws://127.0.0.1:{self.daphnes[index].port}"


@contextlib.contextmanager
def scaled(
    processes: int = 2,
    env: Mapping[str, str] | None = None,
    client_timeout: float = CLIENT_TIMEOUT,
    workdir: Path | None = None,
    tls: Tls | None = None,
    proxy_workers: int | None = None,
    backlog: int | None = None,
) -> Iterator[Scaled]:
    """redis-server, `processes` Daphne processes sharing it (REDIS_URL), and nginx in front, all stopped.

    `tls`: nginx also listens with TLS (`Scaled.wss_host`), with that certificate, beside its plain port.
    `proxy_workers`: nginx's worker processes (spawn_nginx's `workers`); `backlog`: each Daphne's listen queue.
    """
    if tls is not None and not tls.port:
        tls = Tls(tls.cert, tls.key, free_port())
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="chanload-scaled-")) if workdir is None else workdir
    daphnes: list[Proc] = []
    proxy: Proc | None = None
    try:
        with redis_server() as url:
            try:
                for _ in range(processes):
                    daphnes.append(spawn_daphne(work, {**(env or {}), "REDIS_URL": url}, backlog=backlog or 0))
                proxy = spawn_nginx(work, [d.port for d in daphnes], client_timeout, tls, proxy_workers)
                yield Scaled(url, daphnes, proxy, work, [d.log for d in daphnes] + [proxy.log], tls)
            finally:
                for p in ([proxy] if proxy else []) + daphnes:
                    stop(p.proc)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def restart_command(stack: Scaled, index: int, pidfile: Path) -> str:
    """A shell command that starts Daphne `index` of `stack` again on its port: a `--drill` that restarts it.

    It SIGKILLs the old process first (Daphne may keep running after SIGTERM with its sockets gone, see
    docs/restarts.md), then runs this file as a command, which returns once the new Daphne listens and leaves it
    running, detached from the drill's shell. Its PID goes into `pidfile`: the caller stops it (`stop_pidfile`); if
    the caller dies without doing so (SIGKILL), a watchdog stops it (`--die-with`, this process).
    """
    old = stack.daphnes[index]
    start = [
        sys.executable, str(Path(__file__).resolve()), "daphne", "--port", str(old.port), "--workdir",
        str(stack.workdir), "--env", f"REDIS_URL={stack.redis_url}", "--pidfile", str(pidfile),
        "--die-with", str(os.getpid()),
    ]  # fmt: skip
    return f"kill -KILL {old.proc.pid} 2>/dev/null; {shlex.join(start)}"


def stop_pidfile(pidfile: Path, timeout: float = 5.0) -> list[int]:
    """Stop each process `pidfile` names (`PID START_TIME` a line, as the command writes), SIGTERM then SIGKILL after
    `timeout` s; one gone, or whose PID now belongs to another process (another start time), is left. The PIDs
    stopped."""
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return []
    procs = []
    for line in lines:
        pid, began = line.split()
        try:
            proc = psutil.Process(int(pid))
            if abs(proc.create_time() - float(began)) < 0.01:
                procs.append(proc)
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout)
    return [p.pid for p in procs]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/launch.py", description="Start a server in the background; return once it listens."
    )
    commands = parser.add_subparsers(dest="what", required=True)
    daphne = commands.add_parser("daphne", help="the reference target under Daphne on 127.0.0.1:PORT")
    daphne.add_argument("--port", type=int, required=True)
    daphne.add_argument("--workdir", type=Path, required=True, help="its log and SQLite database go here")
    daphne.add_argument("--pidfile", type=Path, required=True, help="'PID START_TIME' is added to it")
    daphne.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="its environment, repeatable")
    daphne.add_argument("--die-with", type=int, default=0, metavar="PID", help="stopped when process PID ends")
    watchdog = commands.add_parser("watchdog", help="(started by daphne --die-with) stop PID when OWNER ends")
    watchdog.add_argument("owner", type=int)
    watchdog.add_argument("pid", type=int)
    args = parser.parse_args(argv)
    if args.what == "watchdog":
        return _watchdog(args.owner, args.pid)
    env = dict(item.split("=", 1) for item in args.env)
    try:
        started = spawn_daphne(args.workdir, env, port=args.port, timeout=30.0)
    except (RuntimeError, TimeoutError) as exc:
        print(f"scripts/launch.py: {exc}", file=sys.stderr)
        return 1
    began = psutil.Process(started.proc.pid).create_time()
    with open(args.pidfile, "a") as out:
        out.write(f"{started.proc.pid} {began}\n")
    if args.die_with:
        cmd = [sys.executable, str(Path(__file__).resolve()), "watchdog", str(args.die_with), str(started.proc.pid)]
        subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    print(f"daphne listening on 127.0.0.1:{started.port} (pid {started.proc.pid}, log {started.log})", flush=True)
    return 0


def _watchdog(owner: int, pid: int) -> int:
    """Wait until `owner` or the server `pid` ends; if the owner ended first, stop the server: SIGTERM, then SIGKILL
    5 s later (through a pidfd: never another process that took its PID)."""
    try:
        server = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0  # the server is gone already
    poller = select.poll()
    poller.register(server, select.POLLIN)  # readable once the server has ended
    try:
        watched = os.pidfd_open(owner)
    except ProcessLookupError:
        ended: set[int] = set()  # the owner is gone already
    else:
        poller.register(watched, select.POLLIN)
        ended = {fd for fd, _ in poller.poll()}
        poller.unregister(watched)  # from now on, only the server's end is awaited
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if server in ended:
            return 0  # it ended: stopped by its owner, or by the signal just sent
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(server, sig)
        ended = {fd for fd, _ in poller.poll(5000) if fd == server}
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
