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


def test_poisson_arrivals_have_exponential_gaps_of_mean_one_over_the_rate():
    """--ws-arrivals poisson: independent exponential gaps (mean 1/rate, as many short as the law says), and a
    late reply still does not re-time the slots after it."""
    clock = Clock()
    s = Schedule(
        50.0, rng=random.Random(2), clock=clock, sleep_until=lambda t: setattr(clock, "t", max(clock.t, t)),
        arrivals="poisson",
    )  # fmt: skip
    sends = [s.next_send() for _ in range(20_001)]
    gaps = [b - a for a, b in zip(sends, sends[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.02, rel=0.03)
    share_short = sum(g < 0.02 for g in gaps) / len(gaps)
    assert share_short == pytest.approx(1 - 2.718281828**-1, abs=0.02)  # P(gap < mean) = 1 - 1/e; a grid: 0
    assert len({round(g, 9) for g in gaps}) > 19_000  # not a grid
    fixed = Schedule(50.0, rng=random.Random(2), clock=clock, sleep_until=lambda t: None)
    grid = [fixed.next_send() for _ in range(100)]
    assert {round(b - a, 9) for a, b in zip(grid, grid[1:], strict=False)} == {0.02}
    with pytest.raises(ValueError, match="'fixed' or 'poisson'"):
        Schedule(1.0, arrivals="uniform")
