"""Distribution-free tests and intervals: rank tests, their exact null distributions,
and the Hodges-Lehmann shifts with their intervals (pure).

The statistics under the comparisons of compare/stats.py (whole runs, with
compare/pairs.py for interleaved pairs), compare/stratified.py (shards),
compare/tests.py and compare/imports.py.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence

# --- Distribution-free tests and intervals --------------------------------------------------
#
# Why rank methods: run times are skewed (a run can be much slower, never much
# faster) and shared runners throw outliers; ranks are not moved by either.
# Why logs: a slowdown multiplies run time, so on the log scale it is a shift,
# which is what the Hodges-Lehmann estimators measure.

CONFIDENCE = 0.95
#: Above this many observations the exact null distributions give way to the
#: normal approximation (with tie correction); below it they are cheap.
EXACT_LIMIT = 50


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _norm_ppf(p: float) -> float:
    return statistics.NormalDist().inv_cdf(p)


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) and the sizes of the tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


@functools.lru_cache(maxsize=1024)
def _rank_sum_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) arrangements give each Mann-Whitney U = 0 .. m*n."""
    # table[j][u] for the current i: arrangements of i xs and j ys with U = u.
    table = [[1] for _ in range(n + 1)]
    for i in range(1, m + 1):
        new = [[1]]
        for j in range(1, n + 1):
            size = i * j + 1
            row = [0] * size
            for u, c in enumerate(new[j - 1]):  # the largest is a y: U unchanged
                row[u] += c
            for u, c in enumerate(table[j]):  # the largest is an x: it beats all j ys
                row[u + j] += c
            new.append(row)
        table = new
    return tuple(table[n])


def _critical_count(counts: Sequence[int], alpha: float) -> int:
    """Largest k with P(S < k) <= alpha / 2: the order statistic of the interval ends."""
    total = sum(counts)
    cumulative = 0
    for k, c in enumerate(counts):
        if (cumulative + c) / total > alpha / 2:
            return k
        cumulative += c
    return len(counts) - 1


#: With ties the exact permutation distribution of the (mid-)ranks is counted by
#: dynamic programming up to this many observations.  Ties are the rule for
#: peak memory, which barely varies: the normal approximation there would call
#: 5 runs at 60 MB against 5 at 5 MB "not significant" (p = 0.012).
EXACT_TIES_LIMIT = 40


def _subset_sums(values: Sequence[int], size: int | None = None) -> dict[int, int]:
    """How many subsets of `values` (of `size` items, or of any size) give each sum."""
    if size is None:
        counts = {0: 1}
        for v in values:
            grown = dict(counts)
            for total, c in counts.items():
                grown[total + v] = grown.get(total + v, 0) + c
            counts = grown
        return counts
    table: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(size)]
    for v in values:
        for k in range(size, 0, -1):
            row = table[k]
            for total, c in table[k - 1].items():
                row[total + v] = row.get(total + v, 0) + c
    return table[size]


def _tail_p(
    counts: Sequence[int] | Mapping[int, int], observed: float, mean: float, tail: str
) -> float:
    """P(S as or more extreme than `observed`) under the null distribution `counts`
    (count per value of S): both ways from `mean`, or only upwards (`greater`)."""
    items = counts.items() if isinstance(counts, Mapping) else enumerate(counts)
    if tail == "greater":
        extreme = sum(c for s, c in items if s >= observed - 1e-9)
    else:
        distance = abs(observed - mean)
        extreme = sum(c for s, c in items if abs(s - mean) >= distance - 1e-9)
    total = sum(counts.values()) if isinstance(counts, Mapping) else sum(counts)
    return min(1.0, extreme / total)


def _normal_p(statistic: float, mean: float, var: float, tail: str) -> float:
    """Normal approximation with continuity correction (scipy's 'asymptotic')."""
    if var <= 0:
        return 1.0
    if tail == "greater":
        return min(1.0, _norm_sf((statistic - mean - 0.5) / math.sqrt(var)))
    return min(1.0, 2 * _norm_sf(max(abs(statistic - mean) - 0.5, 0) / math.sqrt(var)))


def mann_whitney_p(a: Sequence[float], b: Sequence[float], tail: str = "two-sided") -> float:
    """Mann-Whitney U p-value, two-sided or that `a` tends to be larger than `b`
    (`greater`, scipy's mannwhitneyu(a, b, alternative='greater')): exact without ties (up
    to EXACT_LIMIT per side), exact over the mid-ranks with ties (up to EXACT_TIES_LIMIT
    runs in all), else normal with tie and continuity correction (scipy's 'asymptotic')."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return 1.0
    ranks, ties = _ranks(list(a) + list(b))
    u = sum(ranks[:m]) - m * (m + 1) / 2
    if max(m, n) <= EXACT_LIMIT and all(t == 1 for t in ties):
        return _tail_p(_rank_sum_counts(m, n), u, m * n / 2, tail)
    total = m + n
    if total <= EXACT_TIES_LIMIT:
        doubled = [round(2 * r) for r in ranks]
        observed = sum(doubled[:m])
        return _tail_p(_subset_sums(doubled, m), observed, m * sum(doubled) / total, tail)
    var = m * n / 12 * ((total + 1) - sum(t**3 - t for t in ties) / (total * (total - 1)))
    return _normal_p(u, m * n / 2, var, tail)


def mann_whitney_greater_p(a: Sequence[float], b: Sequence[float]) -> float:
    """One-sided p-value that `b` (head) tends to be larger than `a` (base)."""
    return mann_whitney_p(b, a, "greater")


def smallest_p(m: int, n: int) -> float:
    """The smallest one-sided p-value `m` and `n` runs can give (every head run above every
    base run): 1 / C(m + n, m).  Below the level, no amount of slowdown is significant."""
    return 1 / math.comb(m + n, m)


def _interval_from_sorted(values: list[float], k: int) -> tuple[float, float]:
    """The k-th smallest and k-th largest; unbounded when no order statistic reaches the
    confidence asked for (k < 1): a narrower interval would claim more than it has."""
    if k < 1:
        return -math.inf, math.inf
    return values[k - 1], values[len(values) - k]


#: Beyond this many values a side is thinned to this many evenly spaced order
#: statistics before the quadratic Hodges-Lehmann computations: the interval
#: gets a little wider (conservative) and stays cheap for thousands of runs.
MAX_INTERVAL_VALUES = 300


def _thinned(values: Sequence[float]) -> list[float]:
    if len(values) <= MAX_INTERVAL_VALUES:
        return list(values)
    ordered = sorted(values)
    step = (len(ordered) - 1) / (MAX_INTERVAL_VALUES - 1)
    return [ordered[round(i * step)] for i in range(MAX_INTERVAL_VALUES)]


def moses_interval(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Hodges-Lehmann estimate of the shift from a to b (median of all pairwise
    differences) and its distribution-free (Moses) interval."""
    a, b = _thinned(a), _thinned(b)
    m, n = len(a), len(b)
    diffs = sorted(y - x for x in a for y in b)
    alpha = 1 - confidence
    if max(m, n) <= EXACT_LIMIT:
        k = _critical_count(_rank_sum_counts(m, n), alpha)
    else:
        sd = math.sqrt(m * n * (m + n + 1) / 12)
        k = int(math.floor(m * n / 2 - _norm_ppf(1 - alpha / 2) * sd))
    low, high = _interval_from_sorted(diffs, k)
    return statistics.median(diffs), low, high


def shift_interval(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Relative change from a to b (0.1 = b is 10% higher) with its interval, unpaired.

    On the log scale when every value is positive (a slowdown is a factor);
    otherwise as a difference relative to the median of a.
    """
    to_scale, from_scale = _scale(a, b)
    estimate, low, high = moses_interval(
        [to_scale(x) for x in a], [to_scale(y) for y in b], confidence
    )
    return from_scale(estimate), from_scale(low), from_scale(high)


def _scale(a: Sequence[float], b: Sequence[float]):  # noqa: ANN202 - a pair of functions
    if all(v > 0 for v in a) and all(v > 0 for v in b):
        return math.log, math.expm1
    reference = abs(statistics.median(a)) or 1.0
    return (lambda v: v / reference), (lambda v: v)
