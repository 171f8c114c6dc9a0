"""Pacing: the open-model grid never slips, and users start at random phases."""

from __future__ import annotations

import random

import pytest

from chanload.conversation.pacing import Schedule, ThinkTime


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_schedule_keeps_its_grid_when_a_reply_is_late():
    """After a 1 s stall at 10 msg/s, intended times stay on the 0.1 s grid (sends are not re-timed)."""
    clock = Clock()
    s = Schedule(10.0, rng=random.Random(1), clock=clock, sleep_until=lambda t: setattr(clock, "t", max(clock.t, t)))
    first = s.next_send()
    assert 100.0 <= first < 100.1
    clock.t += 1.0  # the reply to the first message took a second
    late = [s.next_send() for _ in range(5)]
    assert late == pytest.approx([first + 0.1 * k for k in range(1, 6)])
    assert clock.t == pytest.approx(first + 1.0)  # no sleeping while behind: sent at once


def test_schedule_phases_differ_between_users():
    """Users spawned at the same instant get different first slots."""
    clock = Clock()
    firsts = {
        round(Schedule(1.0, rng=random.Random(seed), clock=clock, sleep_until=lambda t: None).next_send() - 100.0, 6)
        for seed in range(20)
    }
    assert len(firsts) == 20
    assert all(0 <= f < 1.0 for f in firsts)


def test_think_time_start_phase_spreads_over_one_mean_think():
    """The start phase is uniform over [0, mean think)."""
    think = ThinkTime(0.5, 1.5, rng=random.Random(3))
    phases = [think.start_phase() for _ in range(1000)]
    assert 0 <= min(phases) < 0.05 and 0.95 < max(phases) <= 1.0


def test_zero_rate_is_refused():
    """A schedule needs a positive rate."""
    with pytest.raises(ValueError):
        Schedule(0)
