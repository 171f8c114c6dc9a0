"""`python -m chanload.pytest.launcher daphne|uvicorn ARGS...`: the pytest plugin's server, on the test database.

`channels_live_server` starts the app under test with this launcher. With `CHANLOAD_TEST_DATABASES` (JSON,
alias -> database name) in the environment, it points Django's `DATABASES[alias]["NAME"]` at the test
databases pytest-django made, before the app is imported (as `ChannelsLiveServerTestCase` does in its
forked Daphne); with Django settings, 127.0.0.1 joins ALLOWED_HOSTS. Then it runs the server's own
command line with ARGS.

It dies with the pytest process that started it, even one killed with SIGKILL (no teardown runs then): with
`CHANLOAD_PARENT_PID` set, it asks the kernel for SIGTERM when its parent goes (Linux's PR_SET_PDEATHSIG), and a
watchdog thread checks every WATCH s that its parent is still the one that started it (any POSIX system), then
SIGTERMs its process group and SIGKILLs it GRACE s later. `die_with_parent` is the same request for a child
about to exec (the preexec_fn of `chanload_load`'s locust process).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from typing import Any

DATABASES_ENV = "CHANLOAD_TEST_DATABASES"
PARENT_ENV = "CHANLOAD_PARENT_PID"  # the pid of the process that started the server: it dies with it
HOST = "127.0.0.1"
WATCH = 0.2  # seconds between the watchdog's checks of the parent
GRACE = 5.0  # seconds between the watchdog's SIGTERM and its SIGKILL
_PR_SET_PDEATHSIG = 1
_PRCTL: Any = False  # libc's prctl once looked up (None: there is none)


def libc_prctl() -> Any:
    """libc's prctl, or None (not Linux, no libc). Resolved once: a preexec_fn must not dlopen after a fork."""
    global _PRCTL
    if _PRCTL is False:
        _PRCTL = None
        if sys.platform.startswith("linux"):
            try:
                _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                pass
    return _PRCTL


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent exits (Linux; False elsewhere, or if refused).

    The kernel sends it when the parent *thread* that forked this process exits: start it from a thread that lives
    as long as the parent does (pytest's main thread). If `parent` is already gone (this process was orphaned
    before asking), exits at once. In a preexec_fn, call `libc_prctl()` in the parent first.
    """
    prctl = libc_prctl()
    asked = prctl is not None and prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    if parent and os.getppid() != parent:  # the parent died before the request took effect: nobody will signal
        os.write(2, f"chanload: the process that started this one (pid {parent}) is gone: exiting\n".encode())
        os._exit(1)
    return asked


def _watch(parent: int) -> None:
    """Until the parent is gone; then SIGTERM this process group, and SIGKILL it GRACE s later."""
    while os.getppid() == parent:
        time.sleep(WATCH)
    group = os.getpgrp()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group == os.getpid():  # its own group (how the plugin starts it): whatever the server started too
                os.killpg(group, sig)
            else:
                os.kill(os.getpid(), sig)
        except OSError:
            pass
        time.sleep(GRACE)


def _guard() -> None:
    """Die with the process that started this server (PARENT_ENV), however it ends."""
    parent = int(os.environ.get(PARENT_ENV) or 0)
    if not parent:
        return
    die_with_parent(parent)
    threading.Thread(target=_watch, args=(parent,), name="chanload-parent-watch", daemon=True).start()


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("daphne", "uvicorn"):
        raise SystemExit("usage: python -m chanload.pytest.launcher daphne|uvicorn ARGS...")
    server, args = argv[0], argv[1:]
    _guard()
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from django.conf import settings

        for alias, name in json.loads(os.environ.get(DATABASES_ENV) or "{}").items():
            settings.DATABASES[alias]["NAME"] = name
            settings.DATABASES[alias].setdefault("TEST", {})["NAME"] = name
        # As Django's LiveServerTestCase and Channels' ChannelsLiveServerTestCase: the server's own host is allowed.
        hosts = list(settings.ALLOWED_HOSTS)
        if "*" not in hosts and HOST not in hosts:
            settings.ALLOWED_HOSTS = [*hosts, HOST]
    if server == "daphne":
        from daphne.cli import CommandLineInterface

        sys.argv = ["daphne", *args]
        CommandLineInterface.entrypoint()
    else:
        from uvicorn.main import main as uvicorn

        uvicorn(args, prog_name="uvicorn")


if __name__ == "__main__":
    main(sys.argv[1:])
