"""gevent or threads: the one place that decides how this process waits.

Under Locust, gevent runs the sockets (Locust monkey-patches them): a listening session reads in a greenlet and
waits on gevent's hub. Elsewhere (the pytest plugin's sessions, a plain script, the unit tests) they are plain
sockets: a listening session reads in a thread. `green()` says which; `in_greenlet()` whether this code runs in a
greenlet now (a fake connection must then wait on gevent, not on a thread's lock, or it blocks the hub).
gevent is imported only where it runs already.
"""

from __future__ import annotations

import sys
from typing import Any


def green() -> bool:
    """Whether gevent runs the sockets (Locust monkey-patches them; the pytest plugin's sessions do not)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def in_greenlet() -> bool:
    """Whether this code runs in a gevent greenlet (a thread's Condition would block the hub)."""
    gevent = sys.modules.get("gevent")
    return gevent is not None and isinstance(gevent.getcurrent(), gevent.Greenlet)


def yielder() -> Any:
    """gevent.sleep(0) when gevent runs the sockets (a long read gives the other users their turn), else None."""
    if green():
        import gevent

        return lambda: gevent.sleep(0)
    return None
