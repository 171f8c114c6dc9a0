"""Relative thresholds (`message:p99<=1.1x`, with `--baseline DIR`): this run against a baseline run.

At the end of the run, judged as `python -m chanload compare` judges (`chanload.recording.significance`);
during it, the worst name's ratio so far, with no test. The grammar is in `chanload.run.threshold`.
"""

from __future__ import annotations

from chanload import formatting
from chanload.recording import significance
from chanload.recording.archive import Run
from chanload.recording.hlog import Log
from chanload.run.threshold import LATENCY_STATS, OPS, PERCENTILE_STATS, RELATIVE_ALPHA, Result, Threshold


def judge_relative(t: Threshold, summary: dict, baseline: Run | None, log: Log | None) -> Result:
    """A relative threshold ('message:p99<=1.1x'): this run against the baseline, with the significance rule."""
    if baseline is None:
        return Result(t, None, False, "no baseline: relative limits need --baseline DIR")
    rows = [
        r for r in summary.get("latency") or [] if r["metric"] == t.metric and (t.name is None or r["name"] == t.name)
    ]
    base_rows = baseline.rows()
    pairs = [(r, base_rows[(r["type"], r["name"])]) for r in rows if (r["type"], r["name"]) in base_rows]
    if not pairs:
        return Result(t, None, False, f"no data for {t.target} in both this run and the baseline ({baseline.path})")
    pct = PERCENTILE_STATS[t.stat]
    alpha = RELATIVE_ALPHA / len(pairs)
    judged = []
    for row, base_row in pairs:
        key = (row["metric"], row["name"])
        now = [(round(i.offset), i) for i in (log.intervals.get(key, []) if log else [])]
        total = log.total(key) if log else None
        judged.append(
            (
                row,
                significance.judge(
                    baseline.seconds(base_row), now, pct, t.limit - 1.0, alpha, baseline.total(base_row), total
                ),
            )
        )
    few = [(r, j) for r, j in judged if j.verdict == significance.TOO_FEW]
    slower = [(r, j) for r, j in judged if j.verdict == significance.SLOWER]
    worst_row, worst = max(judged, key=lambda pair: pair[1].ratio or 0.0)
    names = f" (worst of {len(judged)} names: {worst_row['name']})" if len(judged) > 1 else ""
    shown = f"{worst.ratio:.3f}x the baseline" if worst.ratio is not None else "no ratio"
    values = f"{formatting.format_us(worst.new)} vs {formatting.format_us(worst.base)}"
    if slower:
        row, j = max(slower, key=lambda pair: pair[1].ratio or 0.0)
        detail = (
            f"measured {j.ratio:.3f}x the baseline{names} ({formatting.format_us(j.new)} vs"
            f" {formatting.format_us(j.base)}): significantly slower (p={j.p_slower:.2g}) and past {t.op} {t.limit:g}x"
        )
        return Result(t, j.ratio, False, detail)
    if few:
        row, j = few[0]
        detail = f"measured {shown}{names} ({values}); too few samples to judge {row['name']}: {j.note}"
        return Result(t, worst.ratio, False, detail)
    p = worst.p_slower if worst.p_slower is not None else 1.0
    if worst.ratio is not None and worst.ratio > t.limit:
        detail = (
            f"measured {shown}{names} ({values}): past {t.op} {t.limit:g}x but not significantly slower (p={p:.2g})"
        )
    else:
        detail = f"measured {shown}{names} ({values}): within {t.op} {t.limit:g}x (p={p:.2g})"
    return Result(t, worst.ratio, True, detail)


def relative_so_far(t: Threshold, summary: dict, baseline: Run) -> Result:
    """A relative threshold during the run: the worst name's percentile ratio so far against the limit.

    Judging it with the significance rule needs the run's every second; that happens once, at the end.
    """
    base_rows = baseline.rows()
    key = LATENCY_STATS[t.stat]
    ratios = [
        (r[key] / base_rows[(r["type"], r["name"])][key], r["name"])
        for r in summary.get("latency") or []
        if r["metric"] == t.metric
        and (t.name is None or r["name"] == t.name)
        and r.get(key) is not None
        and (r["type"], r["name"]) in base_rows
        and base_rows[(r["type"], r["name"])].get(key)
    ]
    if not ratios:
        return Result(t, None, False, f"no data for {t.target} in both this run and the baseline yet")
    value, name = max(ratios)
    names = f" (worst of {len(ratios)} names: {name})" if len(ratios) > 1 else ""
    detail = f"so far {value:.3f}x the baseline{names}, limit {t.op} {t.limit:g}x; judged for significance at the end"
    return Result(t, value, OPS[t.op](value, t.limit), detail)
