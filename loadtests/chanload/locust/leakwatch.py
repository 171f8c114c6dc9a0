"""Leaks (`chanload.run.leaks`) wired to a run: when its load stopped, and `--watch-cooldown`.

The figures need to know when the load stopped (the users were stopped: Locust's test_stop), and whether the
watched processes' RSS came back needs samples after that: `--watch-cooldown SECONDS` keeps a headless run
sampling them that long after its users stopped, before it sums up. A run stopped from the web UI is summed up at
once (its stop request is not held): there `returned` is not measured.
"""

from __future__ import annotations

import logging
import time
import weakref

import gevent

from chanload.exceptions import OptionError
from chanload.run import leaks
from chanload.run.state import State

log = logging.getLogger("chanload")

_cooldowns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def add_arguments(group, add) -> None:
    """Register --watch-cooldown in the watching `group` with `add` (chanload.locust.options')."""
    add(
        group,
        "--watch-cooldown",
        type=float,
        default=0.0,
        metavar="SECONDS",
        web_ui=False,
        help="After the users stop, keep sampling the --watch processes this long before the summary, to tell "
        "whether their RSS came back (leaks in docs/watching.md). Headless runs only. Default: 0.",
    )


def install(environment, st: State) -> None:
    """Check the `watch:NAME:` thresholds against --watch, read --watch-cooldown, note when each run's load stops."""
    leaks.check(st.settings.thresholds, st.settings.watch)
    value = getattr(environment.parsed_options, "watch_cooldown", 0.0) or 0.0
    try:
        cooldown = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"--watch-cooldown {value!r}: give seconds, e.g. 10") from None
    if not 0 <= cooldown <= 3600:
        raise OptionError(f"--watch-cooldown {value!r}: give seconds from 0 to 3600, e.g. 10")
    _cooldowns[environment] = cooldown

    def stopped(**_kw) -> None:
        if st.stopped is None:
            st.stopped = time.time()

    environment.events.test_stop.add_listener(stopped)


def cool_down(environment, st: State) -> None:
    """A headless run with --watch-cooldown and watched processes: sample them that long after the load stopped."""
    cooldown = _cooldowns.get(environment, 0.0)
    if st.stopped is None:
        st.stopped = time.time()
    if not cooldown or not st.settings.watch or environment.web_ui is not None:
        return
    left = st.stopped + cooldown - time.time()
    if left > 0:
        log.info(
            "--watch-cooldown: watching %s for %.0f s after the load", ", ".join(n for n, _ in st.settings.watch), left
        )
        gevent.sleep(left + 1.1)  # and the last second's sample, taken just after the second turns


def attach(result: dict, st: State) -> None:
    """summary.json's `leaks`, when processes were watched."""
    block = leaks.block(result.get("resources"), st.started, st.stopped)
    if block is not None:
        result["leaks"] = block
