"""A worker's spawn message builds Locust's default options once per process, not once per option it carries."""

from __future__ import annotations

from locust import argument_parser

import chanload.locust.plugin  # noqa: F401 - installs it, as a locustfile's import does
from chanload.locust import spawnargs


def test_the_defaults_are_built_once_and_stay_what_locust_builds(monkeypatch):
    assert argument_parser.default_args_dict is spawnargs.default_args_dict
    built = []
    real = argument_parser.get_empty_argument_parser

    def counted(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(argument_parser, "get_empty_argument_parser", counted)
    spawnargs._defaults.cache_clear()
    # What WorkerRunner does for a spawn message: one call per option the master sent.
    options = {f"option_{i}": i for i in range(120)} | {"host": "ws://127.0.0.1:1", "num_users": 3}
    custom = {k for k in options if k not in argument_parser.default_args_dict()}
    assert len(built) == 1
    assert custom == {f"option_{i}" for i in range(120)}  # Locust's own (host, num_users) are told apart
    assert spawnargs.default_args_dict() == spawnargs._built()  # the same defaults Locust builds
    spawnargs.default_args_dict()["host"] = "changed"  # each caller gets its own copy
    assert spawnargs.default_args_dict()["host"] != "changed"
