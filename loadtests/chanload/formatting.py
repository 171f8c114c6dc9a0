"""How chanload writes values for people: latencies in the unit that suits them, and long frames cut short.

One formatter of each kind, used by the console summary, the web UI, the HTML report, the charts and
the error messages alike.
"""

from __future__ import annotations

_SHOW = 60


def shorten(value: str | bytes, limit: int = _SHOW) -> str:
    """repr() of value, cut to about `limit` characters so failure messages stay readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_us(us: float | None) -> str:
    """A latency in the unit that suits it, to the microsecond: 452 us, 452.2 us, 12.345 ms, 1.235 s; '-' for none.

    Microseconds keep one decimal (a mean), milliseconds three (1 us), seconds three (1 ms); trailing
    zeros go. HDR histograms hold three significant digits, so nothing shown is finer than recorded.
    """
    if us is None:
        return "-"
    if us < 1000:
        return f"{_trim(us, 1)} us"
    if us < 1_000_000:
        return f"{_trim(us / 1000, 3)} ms"
    return f"{_trim(us / 1_000_000, 3)} s"


def format_value(kind: str, value: float | None) -> str:
    """A value of its kind: `latency` (us, as format_us), `ratio` (a fraction, as %), `rate` (/s), `count`,
    `relative` (a factor of a baseline's value: 1.052x), `growth` (MB per minute: 2.5 MB/min)."""
    if value is None:
        return "-"
    if kind == "latency":
        return format_us(value)
    if kind == "ratio":
        return f"{_trim(value * 100, 6)}%"
    if kind == "rate":
        return f"{_trim(value, 1)}/s"
    if kind == "count":
        return _trim(value, 0)
    if kind == "relative":
        return f"{value:.3f}x"
    if kind == "growth":
        return f"{_trim(value, 3)} MB/min"
    raise ValueError(f"unknown kind of value {kind!r}: latency, ratio, rate, count, relative or growth")


def _trim(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def short_us(us: float) -> str:
    """A compact latency for a chart's tick label: 500 us, 2 ms, 1.5 s (three significant digits)."""
    for div, unit in ((1_000_000, "s"), (1000, "ms"), (1, "us")):
        if us >= div or div == 1:
            return f"{us / div:.3g} {unit}"
    raise AssertionError("unreachable")
