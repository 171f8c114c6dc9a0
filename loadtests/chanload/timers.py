"""Sleeps that end on time under gevent: a Linux timerfd wakes the event loop at the deadline.

gevent's default loop (libev on epoll) waits in whole milliseconds and never less than one, so a
`gevent.sleep` ends up to about 1 ms late: every open-model send would go out late by a random
fraction of a millisecond, which the corrected latency row would then carry (README, "Open model").
Here one timerfd per process, armed with an absolute CLOCK_MONOTONIC deadline in nanoseconds for the
earliest sleeper, makes epoll return at that instant; its callback wakes the sleeper that is due
and re-arms for the next. `sleep_until` falls back to `gevent.sleep` where there is no timerfd.

Sleepers are released one at a time, each on its own slot. A generator that was busy (reading
replies) when several slots fell due would otherwise send them back to back, tens of microseconds
apart, and those requests queue behind each other at the target: a burst the schedule never asked
for (benchmarks/README.md, "Fidelity"). So a late sleeper (and a caller whose deadline has already
passed) goes no sooner than the previous release plus its intended gap to it, capped at CATCH_UP:
gaps the schedule itself makes short stay short. Spacing never holds a send more than MAX_HOLD past
its slot: behind a longer stall the backlog goes at once, as the open model's catch-up demands
(held longer, a busy process drained it at one send per event-loop cycle, and the send lag's p99
reached hundreds of milliseconds).
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import math
import os
import sys
import time

import gevent
from gevent.hub import Waiter, get_hub

CLOCK = time.perf_counter  # the clock deadlines are given in; CLOCK_MONOTONIC on Linux (checked below)
CATCH_UP = 100e-6  # s: the longest gap kept between two late sends while a backlog drains
MAX_HOLD = 1e-3  # s: spacing never holds a send longer than this past its deadline
_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc():
    """libc with timerfd_* declared, or None where timerfd or a CLOCK_MONOTONIC perf_counter is missing."""
    if not sys.platform.startswith("linux"):
        return None
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class TimerFd:
    """One process's precise sleeps: a heap of (deadline, waiter) and one timerfd armed for the earliest."""

    def __init__(self) -> None:
        assert _LIBC is not None
        fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd = fd
        self.pid = os.getpid()
        self._heap: list[tuple[float, int, Waiter]] = []
        self._order = itertools.count()  # ties in deadline wake in arrival order; waiters never compare
        self._armed = math.inf
        self._last = (-math.inf, -math.inf)  # (deadline, release time) of the latest sleeper released
        self._spec = _Itimerspec()
        self._hub = get_hub()
        # Watched only while someone sleeps: an idle timerfd must not keep the loop alive by itself.
        self._io = self._hub.loop.io(fd, 1)

    def sleep_until(self, deadline: float) -> None:
        """Block this greenlet until CLOCK() >= deadline, and its turn: a past deadline may wait up to CATCH_UP."""
        now = CLOCK()
        if deadline <= now and not self._heap and now >= self._release_time(deadline):
            self._last = (deadline, now)
            return
        waiter = Waiter(self._hub)
        if not self._heap:
            self._io.start(self._fired)
        heapq.heappush(self._heap, (deadline, next(self._order), waiter))
        release = self._release_time(deadline)
        if release < self._armed:
            self._arm(release)
        waiter.get()

    def close(self) -> None:
        self._io.stop()
        self._io.close()
        os.close(self.fd)

    def _arm(self, deadline: float) -> None:
        seconds = int(deadline)
        # Round up to the next nanosecond, so the timer never fires before the deadline it stands for.
        nanos = math.ceil((deadline - seconds) * 1e9)
        if nanos >= 1_000_000_000:
            seconds, nanos = seconds + 1, nanos - 1_000_000_000
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = seconds, nanos
        if _LIBC.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed = deadline

    def _release_time(self, deadline: float) -> float:
        """When the sleeper due at `deadline` may go: its deadline, or after the previous release."""
        last_deadline, last_release = self._last
        spaced = max(deadline, last_release + min(deadline - last_deadline, CATCH_UP))
        # One release per event-loop cycle is all a busy process may manage: a backlog from a long
        # stall would drain too slowly, so past MAX_HOLD a send goes at once (wrk2's catch-up).
        return min(spaced, deadline + MAX_HOLD)

    def _fired(self) -> None:
        # Runs in the hub when the timerfd is readable: release the sleepers whose turn has come, one
        # at a time (each runs until it blocks again, having sent), then re-arm for the next one.
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass  # re-armed since it fired; the heap below is the truth
        self._armed = math.inf
        heap = self._heap
        while heap:
            now = CLOCK()
            deadline = heap[0][0]
            release = self._release_time(deadline)
            if now < release:
                self._arm(release)
                return
            waiter = heapq.heappop(heap)[2]
            self._last = (deadline, now)
            waiter.switch(None)  # a killed sleeper's waiter ignores it
        self._io.stop()


_timer: TimerFd | None = None


def sleep_until(deadline: float) -> None:
    """Sleep until CLOCK() >= deadline, to within the OS's wake-up latency (microseconds, not a ms tick).

    A deadline already past goes at once unless other sleepers are due first or the previous release
    was less than its gap (capped at CATCH_UP) ago: late sends are spaced too, not only timed ones.
    """
    global _timer  # noqa: PLW0603 - one timerfd per process, made on first use (after Locust forks workers)
    if _LIBC is None:
        if deadline > CLOCK():
            gevent.sleep(deadline - CLOCK())
        return
    if _timer is None or _timer.pid != os.getpid():
        _timer = TimerFd()
    _timer.sleep_until(deadline)
