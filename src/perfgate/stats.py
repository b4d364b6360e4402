"""Estimators, intervals, tests and verdicts: numbers in, dataclasses out (pure)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """The seed script's figures, plus the median and the coefficient of variation."""

    n: int
    mean: float
    median: float
    min: float
    max: float
    stdev: float
    cv: float


def summarize(values: Sequence[float]) -> Summary:
    """Describe one side's runs; the stdev is the sample one (n - 1), 0 for one run."""
    if not values:
        raise ValueError("summarize() needs at least one value")
    mean = statistics.fmean(values)
    stdev = statistics.stdev(values) if len(values) > 1 else 0.0
    cv = stdev / mean if mean else math.nan
    return Summary(
        len(values), mean, statistics.median(values), min(values), max(values), stdev, cv
    )
