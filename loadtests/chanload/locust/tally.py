"""Locust's request statistics without a request event per message: counted per second, folded in once a second.

Firing Locust's `request` event for every message, and Locust's listener logging it into two
`StatsEntry` objects (the row and "Aggregated"), cost about 8 us a message here, with our HDR listener:
more than the rest of the suite's bookkeeping together; this way it is about 2 us (benchmarks/README.md,
"Generator cost"). A `Tally` counts each
successful sample in a dict of whole microseconds per (type, name) for the current wall-clock second,
and folds each finished second into the same `StatsEntry` objects with exactly the updates
`StatsEntry.log` makes one request at a time: requests per second, total and min/max response time,
the response-time buckets, content length, the per-second cache of the "current" percentiles. So
the web UI, the CSV files, `--json-file` and `--html` show what they would have shown, one second
later at most. `tests/locust/inprocess/test_tally.py` runs the same samples both ways and compares all four.

Failures are not counted here: they go to Locust at once (after a fold, so the order of seconds holds).

`Reporter` is `State.fire` for a Locust environment. It takes this path only while the `request` event
has no listeners but Locust's own (the runner's statistics) and chanload's (the HDR recorder). Add any
other listener (your plugin, `locust-plugins`, OpenTelemetry) and every message fires the event again,
as Locust's own users do, so that listener sees every request.
"""

from __future__ import annotations

from locust import stats as locust_stats

import time

import gevent

from chanload.recording.failures import FailureMessages


class _Second:
    """One (type, name)'s successful samples in one second."""

    __slots__ = ("counts", "last", "length")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}  # whole microseconds -> samples
        self.length = 0  # response bytes
        self.last = 0.0  # time.time() of the latest sample


class Tally:
    """Successful samples for an environment's `locust.stats.RequestStats`, folded in once a second (or on `flush`)."""

    def __init__(self, environment, clock=time.time) -> None:
        # The stats object is looked up each time: a worker runner replaces it after the environment is made.
        self.environment = environment
        self._clock = clock
        self._second = 0
        self._open: dict[tuple[str, str], _Second] = {}

    def add(self, kind: str, name: str, us: int, length: int) -> None:
        """One successful request of `us` microseconds (Locust sees `us / 1000` ms) and `length` bytes."""
        now = self._clock()
        second = int(now)
        if second != self._second:
            self.flush()
            self._second = second
        slot = self._open.get((kind, name))
        if slot is None:
            slot = self._open[(kind, name)] = _Second()
            self.environment.stats.entries[(name, kind)]  # Locust creates a row (its start time) on first use
        counts = slot.counts
        counts[us] = counts.get(us, 0) + 1
        slot.length += length
        slot.last = now

    def flush(self) -> None:
        """Fold every pending sample into Locust's stats now (before anyone reads or ships them)."""
        if not self._open:
            return
        pending, self._open = self._open, {}
        stats, second = self.environment.stats, self._second
        for (kind, name), slot in pending.items():
            _fold(stats.total, second, slot)
            _fold(stats.entries[(name, kind)], second, slot)


def _fold(entry, second: int, slot: _Second) -> None:
    """`StatsEntry.log(us / 1000, length)` for every sample of `slot`, all in `second`, in one go."""
    if entry.use_response_times_cache and entry.last_request_timestamp and second > int(entry.last_request_timestamp):
        entry._cache_response_times(second - 1)  # what log() does for the first request of a new second
    counts = slot.counts
    n = sum(counts.values())
    entry.num_requests += n
    entry.num_reqs_per_sec[second] += n
    if entry.last_request_timestamp is None or slot.last > entry.last_request_timestamp:
        entry.last_request_timestamp = slot.last  # "Aggregated" takes several rows' seconds in turn
    entry.total_response_time += sum(us * c for us, c in counts.items()) / 1000
    low, high = min(counts) / 1000, max(counts) / 1000
    entry.min_response_time = low if entry.min_response_time is None else min(entry.min_response_time, low)
    entry.max_response_time = max(entry.max_response_time, high)
    bucket, times = locust_stats.bucket_response_time, entry.response_times
    for us, c in counts.items():
        times[bucket(us / 1000)] += c
    entry.total_content_length += slot.length


class Reporter:
    """`State.fire` in a Locust process: straight into the recorder and a `Tally` when nobody else listens."""

    def __init__(self, environment, st, listener) -> None:
        self.hook = environment.events.request
        self.state = st
        self.listener = listener  # chanload's own request listener (records into the HDR recorder)
        self.tally = Tally(environment)
        self.failures = FailureMessages()  # a row keeps its first few different failure messages
        self.fast = False  # only Locust's statistics and chanload listen: no event needed
        self.locust_listens = False
        self._checked = -1  # the number of listeners `fast` was decided for

    def __call__(self, kind: str, name: str, seconds: float, length: int, exc: Exception | None) -> None:
        # Locust sees whole microseconds, as the HDR histograms do: the fast path counts by them.
        us = round(seconds * 1_000_000)
        if len(self.hook._handlers) != self._checked:
            self.check()
        if self.fast and exc is None:
            self.state.recorder.record_us(kind, name, us)
            if self.locust_listens:
                self.tally.add(kind, name, us, length)
            return
        self.tally.flush()
        if exc is not None:
            exc = self.failures.bounded(kind, name, exc)
        self.hook.fire(
            request_type=kind, name=name, response_time=us / 1000, response_length=length, exception=exc, context={}
        )

    def check(self) -> None:
        """Decide again whether the fast path may be taken (when the request event's listeners change)."""
        handlers = self.hook._handlers
        locust = [h for h in handlers if _is_locust_stats(h)]
        others = [h for h in handlers if h is not self.listener and not _is_locust_stats(h)]
        if others or self.listener not in handlers:
            self.tally.flush()
        self.fast = not others and self.listener in handlers
        self.locust_listens = bool(locust)
        self._checked = len(handlers)

    def flush(self, **_kw) -> None:
        """Fold pending samples into Locust's stats (an event listener: before reports, resets, the end)."""
        self.tally.flush()

    def attach(self, events) -> None:
        """Fold before Locust reads or resets its stats: reports to the master, resets, the end; and once a second."""
        first(events.report_to_master, self.flush)
        first(events.spawning_complete, self.flush)
        events.reset_stats.add_listener(self.flush)  # the web UI's reset: fired just before Locust resets
        events.test_stop.add_listener(self.flush)
        events.quitting.add_listener(self.flush)
        gevent.spawn(self._tick)

    def _tick(self) -> None:
        while True:
            gevent.sleep(1.0 - time.time() % 1.0)
            self.tally.flush()


def _is_locust_stats(handler) -> bool:
    """The listener a Locust runner adds to log every request into `environment.stats`."""
    return getattr(handler, "__module__", "") == "locust.runners" and handler.__qualname__.endswith(
        "__init__.<locals>.on_request"
    )


def first(hook, listener) -> None:
    """Add `listener` ahead of every other on an event (Locust's stats listeners read what it folds in)."""
    hook.add_listener(listener)
    hook._handlers.remove(listener)
    hook._handlers.insert(0, listener)
