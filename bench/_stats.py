"""Figures the benchmarks share (not a benchmark: ``make bench`` passes over ``bench/_*``)."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values``, nearest rank; 0.0 for none (callers that
    can measure nothing say so themselves)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0
