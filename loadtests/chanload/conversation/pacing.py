"""When a user sends: closed-loop think time, or an open-model schedule at a fixed rate.

Both start at a random phase so that users spawned together do not send in lockstep (a 500-user
run with constant waits measured p50 19 ms where an independent probe saw 2.2 ms, on a 2-core machine).
"""

from __future__ import annotations

import random
import time

import gevent

from chanload.wire import timers


class ThinkTime:
    """Closed loop: wait a uniform random time in [low, high] between a reply and the next send."""

    def __init__(self, low: float, high: float, rng: random.Random | None = None) -> None:
        self.low, self.high = low, high
        self._rng = rng or random.Random()

    def start_phase(self) -> float:
        """A random delay before a user's first message, spread over one mean think time."""
        return self._rng.uniform(0, (self.low + self.high) / 2)

    def next_send(self) -> float:
        """Sleep the think time; return the intended send time (perf_counter), i.e. now."""
        pause = self._rng.uniform(self.low, self.high) if self.high > self.low else self.low
        if pause > 0:
            gevent.sleep(pause)
        return time.perf_counter()


class Schedule:
    """Open model: send at `rate` messages/s, on a fixed grid with a random phase, or at Poisson arrivals.

    `arrivals="poisson"`: the gaps between a connection's slots are exponential with mean 1/rate (drawn
    one by one), as independent users' sends are; a fixed grid repeats the same phase relations between
    connections every period.

    The grid never slips: when a reply comes back late, the next send goes out at once and its
    latency is counted from its intended slot (coordinated-omission correction, as wrk2 does).
    Slots are waited for with `timers.sleep_until` (a timerfd), not gevent.sleep, whose
    millisecond ticks would make every send late by up to 1 ms; it also spaces sends that fall due
    together (`timers.SPACING`).
    """

    def __init__(
        self,
        rate: float,
        rng: random.Random | None = None,
        clock=time.perf_counter,
        sleep_until=timers.sleep_until,
        arrivals: str = "fixed",
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if arrivals not in ("fixed", "poisson"):
            raise ValueError(f"arrivals {arrivals!r}: 'fixed' or 'poisson'")
        self.rate = rate
        self.arrivals = arrivals
        self.period = 1.0 / rate
        self._rng = rng or random.Random()
        self._clock = clock
        self._sleep_until = sleep_until
        self._next: float | None = None

    def start_phase(self) -> float:
        return 0.0  # the phase is in the grid itself (restart)

    def restart(self) -> None:
        """Begin a new grid at a random phase within one period from now (e.g. after a reconnect)."""
        phase = self._gap() if self.arrivals == "poisson" else self._rng.uniform(0, self.period)  # memoryless
        self._next = self._clock() + phase

    def _gap(self) -> float:
        return self._rng.expovariate(self.rate) if self.arrivals == "poisson" else self.period

    def next_send(self) -> float:
        """Sleep until the next slot (a slot already past goes at once, spaced by the timer) and return its time."""
        if self._next is None:
            self.restart()
        intended = self._next
        assert intended is not None  # restart() set it
        self._next = intended + self._gap()
        self._sleep_until(intended)
        return intended
