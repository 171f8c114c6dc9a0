"""`python -m chanload._live_server daphne|uvicorn ARGS...`: the pytest plugin's server, on the test database.

`channels_live_server` starts the app under test with this launcher. With `CHANLOAD_TEST_DATABASES` (JSON,
alias -> database name) in the environment, it points Django's `DATABASES[alias]["NAME"]` at the test
databases pytest-django made, before the app is imported (as `ChannelsLiveServerTestCase` does in its
forked Daphne); with Django settings, 127.0.0.1 joins ALLOWED_HOSTS. Then it runs the server's own
command line with ARGS.
"""

from __future__ import annotations

import json
import os
import sys

DATABASES_ENV = "CHANLOAD_TEST_DATABASES"
HOST = "127.0.0.1"


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("daphne", "uvicorn"):
        raise SystemExit("usage: python -m chanload._live_server daphne|uvicorn ARGS...")
    server, args = argv[0], argv[1:]
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
