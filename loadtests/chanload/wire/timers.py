"""Sleeps that end on time under gevent: a Linux timerfd wakes the event loop at the deadline.

gevent's default loop (libev on epoll) waits in whole milliseconds and never less than one, so a
`gevent.sleep` ends up to about 1 ms late: every open-model send would go out late by a random
fraction of a millisecond, which the corrected latency row would then carry (docs/latency.md).
Here one timerfd per process, armed with an absolute CLOCK_MONOTONIC deadline in nanoseconds for the
earliest sleeper, makes epoll return at that instant; its callback wakes every sleeper that is due
and re-arms for the next. `sleep_until` falls back to `gevent.sleep` where there is no timerfd.

Sends are released on their own slots, not in bursts. When the process was busy (replies to read),
several sleepers fall due in one wake-up, and slots already past are asked for at once; released back
to back, they left 10-20 us apart and queued behind each other at the target, where the schedule had
put them hundreds of microseconds apart. So each release is held until its slot's own gap after the
previous release, capped at `SPACING`. The hold is a spin on the clock inside the same wake-up: at
most `SPACING` per send, and only for sends that would otherwise leave closer together than their
slots. The later a slot already is, the shorter its hold: scaled by 1 - lateness / `CATCH_UP`, and
none from `CATCH_UP` on. So a schedule that fell behind always drains faster than it fills and
catches up, even at rates where slots are under `SPACING` apart. (A hold through the event loop,
one release per loop cycle, was tried first: a busy loop cycles more slowly than sends fall due,
and the backlog grew to hundreds of milliseconds.)
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
SPACING = 100e-6  # the longest a release is held after the previous one (s)
# A slot this far behind is released at once, unheld; holds shrink towards it (s). A schedule behind
# drains faster than it fills by lateness / CATCH_UP: its lag decays with a ~50 ms time constant at
# any rate, while a send up to 25 ms late is still held at least half its gap.
CATCH_UP = 50e-3
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
        self._last_release = -math.inf  # CLOCK() when the previous sleeper was let go
        self._last_slot = -math.inf  # and the deadline it had
        self._spec = _Itimerspec()
        self._hub = get_hub()
        # Watched only while someone sleeps: an idle timerfd must not keep the loop alive by itself.
        self._io = self._hub.loop.io(fd, 1)

    def sleep_until(self, deadline: float) -> None:
        """Block this greenlet until CLOCK() >= deadline, and its slot's gap after the previous release (`_space`)."""
        if deadline <= CLOCK():
            self._space(deadline)  # due already (a late slot): spaced from the previous release all the same
            return
        waiter = Waiter(self._hub)
        if not self._heap:
            self._io.start(self._fired)
        heapq.heappush(self._heap, (deadline, next(self._order), waiter))
        if deadline < self._armed:
            self._arm(deadline)
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

    def _fired(self) -> None:
        # Runs in the hub when the timerfd is readable: wake every sleeper that is due, re-arm.
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass  # re-armed since it fired; the heap below is the truth
        now = CLOCK()
        heap, due = self._heap, []
        while heap and heap[0][0] <= now:
            deadline, _, waiter = heapq.heappop(heap)
            due.append((deadline, waiter))
        self._armed = math.inf
        if heap:
            self._arm(heap[0][0])
        else:
            self._io.stop()
        for deadline, waiter in due:
            self._space(deadline)
            waiter.switch(None)  # runs the sleeper until it blocks again; a killed sleeper's waiter ignores it

    def _space(self, slot: float) -> None:
        """Hold until `slot`'s gap after the previous slot has passed since the previous release (at most SPACING).

        The hold shrinks with the slot's lateness, to nothing at CATCH_UP: a schedule behind catches up.
        """
        now = CLOCK()
        late = now - slot
        if late < CATCH_UP:
            gap = slot - self._last_slot
            # A slot before the previous one is a late one that the schedule never put this close: hold it fully.
            hold = SPACING if gap < 0 or gap > SPACING else gap
            until = self._last_release + hold * (1.0 - late / CATCH_UP)
            while now < until:
                now = CLOCK()
        self._last_release, self._last_slot = now, slot


_timer: TimerFd | None = None


def sleep_until(deadline: float) -> None:
    """Sleep until CLOCK() >= deadline, to within the OS's wake-up latency (microseconds, not a ms tick).

    Sleepers due together are spaced (`TimerFd._space`); without a timerfd, plain gevent.sleep, unspaced.
    """
    global _timer  # one timerfd per process, made on first use (after Locust forks workers)
    if _LIBC is None:
        gevent.sleep(max(0.0, deadline - CLOCK()))
        return
    if _timer is None or _timer.pid != os.getpid():
        _timer = TimerFd()
    _timer.sleep_until(deadline)
