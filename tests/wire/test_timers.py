"""Precise sleeps (chanload.wire.timers): never early, later than the deadline by far less than gevent's tick.

Run under gevent in a subprocess (gevent must not be monkey-patched into the pytest process).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.servers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timing]

_SCRIPT = r"""
from gevent import monkey; monkey.patch_all()
import json, random, sys, time
import gevent
sys.path.insert(0, "loadtests")
from chanload.wire import timers

def sleeper(kind, out, n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        deadline = time.perf_counter() + rng.uniform(0.0001, 0.005)
        if kind == "gevent":
            gevent.sleep(deadline - time.perf_counter())
        else:
            timers.sleep_until(deadline)
        out.append(time.perf_counter() - deadline)

result = {}
# Alone on the loop: nothing else keeps it running, and the sleep must still end.
start = time.perf_counter()
timers.sleep_until(start + 0.01)
result["alone"] = time.perf_counter() - start
# A sleeper killed mid-sleep leaves the others on time.
victim = gevent.spawn(timers.sleep_until, time.perf_counter() + 0.002)
gevent.sleep(0)
victim.kill()
for kind in ("gevent", "timerfd"):
    out = []
    gevent.joinall([gevent.spawn(sleeper, kind, out, 50, seed) for seed in range(10)], raise_error=True)
    out.sort()
    result[kind] = {"count": len(out), "early": sum(1 for x in out if x < 0), "p50": out[len(out) // 2]}
# Without timerfd (not Linux, or no CLOCK_MONOTONIC perf_counter): gevent.sleep, still not early.
timers._LIBC = None
start = time.perf_counter()
timers.sleep_until(start + 0.01)
result["fallback"] = time.perf_counter() - start
print(json.dumps(result))
"""


def test_timerfd_sleeps_end_after_their_deadline_and_closer_to_it_than_gevent_sleep():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert 0.01 <= result["alone"] < 1.0
    assert 0.0099 <= result["fallback"] < 1.0
    precise, coarse = result["timerfd"], result["gevent"]
    assert precise["count"] == coarse["count"] == 500
    assert precise["early"] == 0, "a sleep ended before its deadline"
    # gevent's epoll loop waits in whole milliseconds, so its median lateness is a large fraction of a
    # millisecond; the timerfd's is the wake-up latency. Same run, same load: compare the two.
    assert precise["p50"] < coarse["p50"] / 2, result


_SPACING_SCRIPT = r"""
from gevent import monkey; monkey.patch_all()
import json, sys, time
import gevent, gevent.event
sys.path.insert(0, "loadtests")
from chanload.wire import timers

def burst(slot_gap, n=30, busy_past_last=0.005):
    # n sleepers with slots `slot_gap` apart; the loop is kept busy past every slot, so all fall due in one wake-up.
    first = time.perf_counter() + 0.002
    released = {}
    end = gevent.event.Event()
    def sleeper(slot):
        timers.sleep_until(slot)
        released[slot] = time.perf_counter()
        end.wait()  # blocks, as a user waiting for its reply does (a greenlet ending costs far more)
    slots = [first + k * slot_gap for k in range(n)]
    greenlets = [gevent.spawn(sleeper, slot) for slot in slots]
    gevent.sleep(0)  # every sleeper is waiting
    while time.perf_counter() < slots[-1] + busy_past_last:
        pass  # busy: no wake-up until every slot is past
    while len(released) < n:
        gevent.sleep(0.001)
    end.set()
    gevent.joinall(greenlets, raise_error=True)
    times = sorted(released.values())
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"gaps": gaps, "span": times[-1] - times[0], "slot_span": slots[-1] - slots[0]}

result = {"spacing": timers.SPACING}
# A schedule far behind (the busy loop held every slot 3-12 ms), its slots 90 us apart (11,000/s),
# with holds shrinking to nothing at 5 ms late (the mechanism; the default is slower to let go).
timers.CATCH_UP = 0.005
result["behind"] = burst(90e-6, n=100, busy_past_last=0.003)
# The holds themselves, with catching up out of the way (slots a few ms behind here).
timers.CATCH_UP = 1.0
result["wide"] = burst(300e-6)
result["narrow"] = burst(20e-6)
# Late slots asked for one after another by one greenlet (a reply came back after the next slot).
now = time.perf_counter()
times = []
for k in range(10):
    timers.sleep_until(now - 0.01 + k * 0.001)
    times.append(time.perf_counter())
result["late"] = {"gaps": [b - a for a, b in zip(times, times[1:])]}
print(json.dumps(result))
"""


def test_sleepers_due_together_are_released_on_their_own_gaps_capped_at_the_spacing():
    """A busy loop lets many slots fall due at once: they leave spaced, not back to back; far behind, at once."""
    out = subprocess.run([sys.executable, "-c", _SPACING_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    spacing = result["spacing"]
    # Slots 300 us apart, all due at once: released SPACING apart (a few us of jitter in reading the
    # clock). A sleeper preempted before it reads the clock stretches one gap and shortens the next,
    # so the shortest 10% are left out: released back to back, every gap would be a few us.
    gaps = sorted(result["wide"]["gaps"])
    assert gaps[len(gaps) // 10] > 0.9 * spacing, gaps
    # ...and no slower than that: the backlog drains at one SPACING per send, not one wake-up of the
    # loop per send (a timer re-armed for each hold adds its wake-up latency to every gap).
    assert gaps[len(gaps) // 2] < 1.5 * spacing, gaps
    # Slots the schedule put 20 us apart keep their own gaps: nothing is held longer than its slot's gap.
    narrow = sorted(result["narrow"]["gaps"])
    assert narrow[len(narrow) // 2] < spacing / 2, narrow
    # Late slots (already past when asked for) are spaced too.
    late = sorted(result["late"]["gaps"])
    assert late[len(late) // 2] > 0.9 * spacing, late
    # 100 slots 90 us apart, 3-12 ms behind: held for their own gaps they would leave at
    # the schedule's own pace (a span of at least the slots' own) and never catch up. Released at
    # once, they take a fraction of it (a third here; a busy machine's preemptions stretch that).
    behind = result["behind"]
    assert behind["span"] < 0.8 * behind["slot_span"], behind
