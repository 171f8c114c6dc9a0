"""The in-process Locust tier: locust (and its gevent monkey-patching) in this pytest process.

Run on its own: `pytest tests/locust/inprocess` (`make test` and `make test-fast` do). tests/conftest.py
leaves this folder out of any other pytest process, because the patching hangs the asyncio tests there.
"""

from __future__ import annotations

import locust  # noqa: F401 - first: monkey-patches the standard library before anything else uses it
