"""Summaries of repeated measurements."""

from __future__ import annotations

import statistics


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def spread(values: list[float], fmt: str = "{:,.2f}") -> str:
    """``median (min-max)``, or the one value of a single round."""
    if len(values) < 2:
        return fmt.format(values[0]) if values else "—"
    lo, hi = min(values), max(values)
    return f"{fmt.format(median(values))} ({fmt.format(lo)}-{fmt.format(hi)})"
