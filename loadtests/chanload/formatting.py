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
    """A latency in the unit that suits it: 452 us, 12.35 ms, 1.234 s; '-' for none."""
    if us is None:
        return "-"
    if us < 1000:
        return f"{us:.0f} us"
    if us < 1_000_000:
        return f"{us / 1000:.2f} ms"
    return f"{us / 1_000_000:.3f} s"


def short_us(us: float) -> str:
    """A compact latency for a chart's tick label: 500 us, 2 ms, 1.5 s (three significant digits)."""
    for div, unit in ((1_000_000, "s"), (1000, "ms"), (1, "us")):
        if us >= div or div == 1:
            return f"{us / div:.3g} {unit}"
    raise AssertionError("unreachable")
