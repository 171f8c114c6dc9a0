"""Leaks: each watched process's RSS growth under steady load, and whether its RSS came back once the load stopped.

From summary.json's per-second `resources.processes` series (`--watch NAME=PID`), the run's start and the moment
its load stopped (the users were stopped):

- The steady state is the load's seconds after a warm-up: the first WARMUP_SHARE (20%) of the load's seconds, at
  least WARMUP_MIN_S (5 s), are left out (connections opening, caches and pools filling).
- `rss_growth_mb_per_min`: the Theil-Sen slope of RSS over those seconds (the median of the slopes between every
  pair of samples: robust to a few spikes, a garbage collection, a sample missed), in MB (10^6 bytes) per minute.
  Over more than MAX_POINTS samples, MAX_POINTS evenly spaced ones are fitted (the pairs are O(n^2)). Fewer than
  MIN_POINTS steady samples: no figure (None), and the reason.
- `returned`: whether RSS came back after the load stopped. `base` is the median RSS of the first MIN_POINTS steady
  seconds, `peak` the highest RSS under load; RSS came back when the last sample after the stop is at most
  `base + RETURN_SHARE * (peak - base)` (it gave back at least half of what it grew). Growth under NEGLIGIBLE_MB is
  nothing to give back: True. None when there is no sample after the stop (a run with no --watch-cooldown ends as
  its load stops; give --watch-cooldown 10 to measure it) or no steady state.

`--slo 'watch:NAME:rss_growth<5MB/min'` gates the growth (`chanload.run.threshold` parses it, `chanload.run.slo`
evaluates it on `leaks`).
"""

from __future__ import annotations

import statistics

from chanload.exceptions import OptionError

WARMUP_SHARE = 0.2
WARMUP_MIN_S = 5
MIN_POINTS = 5
MAX_POINTS = 600
RETURN_SHARE = 0.5
NEGLIGIBLE_MB = 1.0
MB = 1e6


def theil_sen(xs: list[float], ys: list[float], max_points: int = MAX_POINTS) -> float:
    """The Theil-Sen slope of ys over xs: the median of (y_j - y_i) / (x_j - x_i) over every pair with x_i < x_j.

    Over `max_points` points, `max_points` evenly spaced ones (first and last included) are used, so the pairs stay
    under max_points^2 / 2. ValueError with fewer than two distinct xs.
    """
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} xs but {len(ys)} ys")
    n = len(xs)
    if n > max_points:
        keep = [round(i * (n - 1) / (max_points - 1)) for i in range(max_points)]
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
        n = max_points
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(n) for j in range(i + 1, n) if xs[j] != xs[i]]
    if not slopes:
        raise ValueError("a slope needs two points at different x")
    return float(statistics.median(slopes))


def process_leak(series: list[dict], start: float, stopped: float | None) -> dict:
    """One watched process's leak figures (module docstring) from its per-second samples."""
    stop = stopped if stopped is not None else float("inf")
    load = [s for s in series if "rss_bytes" in s and start <= s["second"] < stop]
    out: dict = {"rss_growth_mb_per_min": None, "returned": None, "steady_from_s": None, "steady_points": 0}
    if not load:
        out["why"] = "no RSS sample under load"
        return out
    first, last = load[0]["second"], load[-1]["second"]
    warmup = max(WARMUP_MIN_S, WARMUP_SHARE * (last - first + 1))
    steady = [s for s in load if s["second"] >= first + warmup]
    out["steady_from_s"] = round(first + warmup - start, 1)
    out["steady_points"] = len(steady)
    if len(steady) < MIN_POINTS:
        out["why"] = f"{len(steady)} steady samples after a {warmup:.0f} s warm-up, fewer than {MIN_POINTS}"
        return out
    slope = theil_sen([float(s["second"]) for s in steady], [float(s["rss_bytes"]) for s in steady])
    out["rss_growth_mb_per_min"] = round(slope * 60 / MB, 3)
    base = statistics.median(s["rss_bytes"] for s in steady[:MIN_POINTS])
    peak = max(s["rss_bytes"] for s in load)
    out["base_mb"], out["peak_mb"] = round(base / MB, 1), round(peak / MB, 1)
    after = [s for s in series if "rss_bytes" in s and stopped is not None and s["second"] >= stopped]
    if after:
        end = after[-1]["rss_bytes"]
        out["after_stop_mb"] = round(end / MB, 1)
        grew = peak - base
        out["returned"] = grew < NEGLIGIBLE_MB * MB or end <= base + RETURN_SHARE * grew
    else:
        out["why"] = "no sample after the load stopped (--watch-cooldown SECONDS keeps watching)"
    return out


def block(resources: dict | None, start: float, stopped: float | None) -> dict | None:
    """summary.json's `leaks`: per watched process (--watch), its figures; None without a watched process."""
    processes = (resources or {}).get("processes") or {}
    if not processes:
        return None
    return {name: process_leak(p.get("series") or [], start, stopped) for name, p in sorted(processes.items())}


def lines(leaks: dict | None) -> list[str]:
    """The console's lines: per watched process, its RSS growth and whether it came back."""
    out = []
    for name, leak in (leaks or {}).items():
        growth = leak.get("rss_growth_mb_per_min")
        if growth is None:
            out.append(f"leak {name}: no RSS growth figure ({leak.get('why', '?')})")
            continue
        back = {True: "came back after the load", False: "did NOT come back after the load", None: "not measured"}
        returned = back[leak.get("returned")]
        out.append(
            f"leak {name}: RSS {growth:+.2f} MB/min over the steady state (Theil-Sen, {leak['steady_points']} s from"
            f" {leak['steady_from_s']:g} s; {leak['base_mb']:g} -> peak {leak['peak_mb']:g} MB); RSS {returned}"
        )
    return out


def growth(summary: dict, name: str) -> float | None:
    """`--slo watch:NAME:rss_growth`: the process's growth in MB/min; None (no data: FAIL) without one."""
    leak = (summary.get("leaks") or {}).get(name) or {}
    value = leak.get("rss_growth_mb_per_min")
    return None if value is None else float(value)


def check(thresholds, watched: tuple[tuple[str, int], ...]) -> None:
    """A `watch:NAME:...` threshold needs a `--watch NAME=PID`: OptionError naming the names there are."""
    names = [name for name, _pid in watched]
    for t in thresholds:
        if t.metric == "watch" and t.name not in names:
            given = f"--watch gives {', '.join(names)}" if names else "no --watch NAME=PID is given"
            raise OptionError(f"--slo {t.expr!r}: no watched process {t.name!r} ({given}); add --watch {t.name}=PID")
