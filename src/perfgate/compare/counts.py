"""Judging a count that barely varies (instructions) from a few runs per side.

Why a rule of its own: the rank tests that judge time and memory need runs.  With 3
runs a side the smallest one-sided Mann-Whitney p is 1/20, and a gate's first look
needs 0.0016 or less: three counts that repeat to the last instruction could never
be called a regression, and counting every measured run (callgrind runs 20 to 100
times slower) was most of a gate's time.  A count whose runs agree needs no
distribution to be told apart from another: when every head/base ratio, widened by
the spread the counts showed, lies beyond the threshold, no plausible run would say
otherwise.

The rule (docs/statistics.md, "Counts that agree"):

- a side's counts *agree* when there are at least MIN_COUNTED_RUNS of them and their
  spread, (max - min) / median, is at most SPREAD_OF_THRESHOLD of the threshold;
- when both sides agree, the interval is [min(head) / max(base), max(head) / min(base)]
  minus one, each end moved out by the larger of the two spreads; regression when
  its low end is past the threshold, improvement when its high end is below minus
  the threshold, unchanged when it lies within plus or minus the threshold, else
  inconclusive (a change within the counts' own spread of the threshold);
- counts that do not agree are judged like any other metric, by the rank statistics,
  and need the runs those need (the schedule then counts every measured run).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from fractions import Fraction

from ..results import Comparison

#: Counted runs per side at least: the fewest that show whether the count varies at all.
MIN_COUNTED_RUNS = 3
#: A side's counts agree when their spread is at most this fraction of the threshold:
#: 0.25% at the default instructions threshold of 1%: far above a fixed-seed Python run's
#: variation (bench/instructions.py: 0.00%), below a random hash seed's (about 0.8%), and
#: narrow enough that the widened interval finds any change past 1.75 times the threshold
#: (at the largest spread allowed; past the threshold itself when the counts repeat).
SPREAD_OF_THRESHOLD = 0.25
METHOD = "counts that agree: every head/base ratio, widened by the spread, against the threshold"


def spread(values: Sequence[float]) -> Fraction:
    """(max - min) / median: how far apart a side's counts are, relative to their size
    (exact: see compare_counts)."""
    exact = [Fraction(v) for v in values]
    return (max(exact) - min(exact)) / statistics.median(exact)


def agree(values: Sequence[float], threshold: float) -> bool:
    """Whether a side's counts are enough, and close enough, to be judged by this rule."""
    if len(values) < MIN_COUNTED_RUNS or min(values) <= 0:
        return False
    return spread(values) <= Fraction(repr(threshold)) * Fraction(SPREAD_OF_THRESHOLD)


def compare_counts(
    metric: str, base: Sequence[float], head: Sequence[float], threshold: float
) -> Comparison:
    """Base against head for counts that agree on both sides (see the module's rule).

    In exact fractions: counts are whole numbers and the threshold a short decimal, so a
    change of exactly the threshold (1010 against 1000 at 1%) is not past it, as floating
    point would have it (1010 / 1000 - 1 = 0.010000000000000009).
    """
    a, b = [Fraction(v) for v in base], [Fraction(v) for v in head]
    limit = Fraction(repr(threshold))
    widen = 1 + max(spread(a), spread(b))
    low = min(b) / max(a) / widen - 1
    high = max(b) / min(a) * widen - 1
    if low > limit:
        verdict = "regression"
    elif high < -limit:
        verdict = "improvement"
    elif -limit <= low and high <= limit:
        verdict = "unchanged"
    else:
        verdict = "inconclusive"
    change = statistics.median(b) / statistics.median(a) - 1
    # The smallest rise of every head count that this base and spread would call: the
    # low end must pass the threshold when head is base shifted by that much.
    detectable = (1 + limit) * widen * max(a) / min(a) - 1
    if verdict == "regression":
        detectable = min(detectable, change)
    return Comparison(
        metric, float(statistics.median(a)), float(statistics.median(b)), float(change),
        (float(low), float(high)), math.nan, threshold, verdict, float(detectable), METHOD, None,
    )  # fmt: skip
