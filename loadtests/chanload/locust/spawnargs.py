"""A worker handles each spawn message in time to keep its heartbeats: Locust's default options, built once.

Locust's `WorkerRunner` (locust/runners.py, `spawn` message) keeps the master's custom options by testing
each of them against `argument_parser.default_args_dict()`, and that function builds and parses Locust's
whole argument parser on every call: once per option the master sent, ~120 with chanload's, ~12 ms each.
So each spawn message held the worker's event loop for ~1.5 s on an idle machine; on a busy one (a
share of a core) for over 4 s, without a heartbeat, and the master marked the worker missing before its
first report (exit 7, `worker W lost before its first report`). The defaults do not change within a
process: they are built once here and the same dict is handed out after that.
"""

from __future__ import annotations

from locust import argument_parser

import functools

_built = argument_parser.default_args_dict


@functools.cache
def _defaults() -> dict:
    return _built()


def default_args_dict() -> dict:
    """Locust's default options (before custom ones), built on the first call; a copy each time."""
    return dict(_defaults())


def install() -> None:
    """Make Locust's `default_args_dict` the built-once one (idempotent)."""
    argument_parser.default_args_dict = default_args_dict
