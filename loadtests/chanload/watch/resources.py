"""The samplers behind --watch NAME=PID and --watch-redis URL: one sample per call, never an exception.

`ProcessWatch` (`chanload.watch.proctree`) reads a local process and its descendants with psutil;
`RedisWatch` (`chanload.watch.redisinfo`) reads Redis INFO and walks a channels_redis layer's keys with a
bounded SCAN. Each `sample(second)` returns one flat dict for `chanload.recording.resources` (see there for
what `second` covers); the plugin calls them once a second, in a greenlet of the master or the local process.
`open_watches` opens them before any load and raises OptionError (exit code 2) for a PID that is not running
or a Redis that does not answer.
"""

from __future__ import annotations

import logging

from chanload.run.settings import Settings
from chanload.watch.proctree import TCP_BUDGET, ProcessWatch
from chanload.watch.redisinfo import REDIS_TIMEOUT, SCAN_BUDGET, SCAN_COUNT, RedisWatch

log = logging.getLogger("chanload")

SAMPLE_OFFSET = 0.05  # seconds after the second turns that the samples are taken (the 1 s ticker runs at the turn)


Watch = ProcessWatch | RedisWatch


def open_watches(settings: Settings) -> list[Watch]:
    """The samplers the options ask for, opened now (before any load); OptionError if one cannot be."""
    watches: list[Watch] = [ProcessWatch(name, pid) for name, pid in settings.watch]
    if settings.watch_redis:
        watches.append(RedisWatch(settings.watch_redis, settings.watch_redis_prefix, settings.watch_redis_capacity))
    return watches


def sample(watch: Watch, second: int) -> dict:
    """One sample; a sampler that fails in a way it does not expect records the second as unavailable."""
    try:
        return watch.sample(second)
    except Exception as exc:  # watching must never break the run
        log.warning("chanload: --watch %s: sampling failed (%s); that second is recorded unavailable", watch.name, exc)
        return {"second": second, "available": False, "error": str(exc) or type(exc).__name__}


__all__ = [
    "REDIS_TIMEOUT",
    "SAMPLE_OFFSET",
    "SCAN_BUDGET",
    "SCAN_COUNT",
    "TCP_BUDGET",
    "ProcessWatch",
    "RedisWatch",
    "Watch",
    "open_watches",
    "sample",
]
