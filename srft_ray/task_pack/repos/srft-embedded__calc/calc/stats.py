"""Descriptive statistics over sequences of numbers."""

import math


def mean(values):
    """Arithmetic mean; raises ValueError for an empty sequence."""
    values = list(values)
    if not values:
        raise ValueError("mean() of an empty sequence")
    return sum(values) / len(values)


def median(values):
    """Middle value of the sorted data; raises ValueError for an empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median() of an empty sequence")
    middle = len(ordered) // 2
    return ordered[middle]


def percentile(values, pct):
    """Nearest-rank percentile: the smallest value with at least pct% of the data at or below it.

    pct must be within [0, 100]; percentile(values, 0) is the minimum.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within [0, 100], got {pct}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile() of an empty sequence")
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[rank]
