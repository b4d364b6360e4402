"""The rank test the interleaved design justifies: Mann-Whitney's statistic, judged
against the coin flips that set each pair's order (pure).

Why: perfgate runs base and head in pairs whose order is a coin flip per pair
(measure/schedule.py).  With identical code, swapping the labels of a pair
gives data exactly as likely as the data seen, so the 2^n swaps of n pairs are
the null distribution that the design itself guarantees (a randomization test,
Fisher's): no assumption about the noise is needed, not even that runs are
exchangeable across the whole gate.  The two-sample Mann-Whitney test assumes
that they are; on a runner that drifts (the load of its neighbours comes and
goes) a pair's two runs sit close together in the pooled ranking, Mann-Whitney's
null is then too wide and it finds much less (on the loaded noise corpus a 10%
slowdown at 20 runs a side: 9% against 28%, docs/benchmarks.md).  When the first
run of a pair is always slower (a cold cache) it is the other way round, and
only the swap distribution keeps the level.

The statistic is Mann-Whitney's (the head runs' rank sum in the pooled
ranking), so its shift estimate is the same Hodges-Lehmann shift.  Swapping
pair k's labels moves that rank sum by the distance d_k between the pair's two
ranks: the rank sum is, up to a constant, T = sum of d_k over the pairs whose
head ranks above its base, and under the null T is the sum of a random subset
of the d_k.  Counted exactly (a product of polynomials in one integer).
docs/statistics.md writes it down.

Every function takes the logs of base and head runs in pair order (index k is pair k).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence

from .ranks import _ranks


def distances(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[int], int]:
    """Each pair's distance in the pooled (mid-)ranking, doubled to stay an integer, and
    T: the sum of the distances of the pairs whose head ranks above its base."""
    ranks, _ = _ranks(list(xs) + list(ys))
    n = len(xs)
    signed = [round(2 * ranks[n + k]) - round(2 * ranks[k]) for k in range(n)]
    return [abs(d) for d in signed], sum(d for d in signed if d > 0)


def _swap_counts(weights: Sequence[int]) -> tuple[int, int]:
    """How many of the 2^n subsets of the weights give each sum: the coefficients of
    prod(1 + x^w), held in one integer with a field of `bits` bits per power of x (no
    count exceeds 2^n, so fields never carry).  Returns the integer and `bits`."""
    bits = len(weights) + 2
    poly = 1
    for w in weights:
        poly += poly << (w * bits)
    return poly, bits


def _tail(counts: tuple[int, int], n: int, observed: int) -> float:
    """Share of the 2^n subsets whose sum is `observed` or more: the fields from `observed`
    up, summed as the shifted integer modulo 2^bits - 1 (2^bits leaves remainder 1)."""
    poly, bits = counts
    return ((poly >> (max(observed, 0) * bits)) % ((1 << bits) - 1)) / 2**n


def greater_p(weights: Sequence[int], observed: int) -> float:
    """One-sided p that head ranks above base by chance as much as seen, counted exactly.

    No normal approximation: the swap distribution of drifting, bursty runs is lumpy (a
    few pairs far apart, most side by side) and the normal tail was off by orders of
    magnitude there; stats.MAX_PAIRS bounds what counting costs instead.
    """
    return _tail(_swap_counts(weights), len(weights), observed)


def p_values(xs: Sequence[float], ys: Sequence[float], shift: float = 0.0) -> tuple[float, float]:
    """One-sided p-values that head is higher than base by more than `shift`, and lower:
    both tails of one count of the swaps."""
    weights, up = distances(xs, [y - shift for y in ys])
    counts = _swap_counts(weights)
    return _tail(counts, len(weights), up), _tail(counts, len(weights), sum(weights) - up)


def smallest_p(pairs: int) -> float:
    """The smallest p n pairs can give (head above base in every pair): 1 / 2^n."""
    return 0.5**pairs


def interval(
    xs: Sequence[float], ys: Sequence[float], confidence: float
) -> tuple[float, float, float]:
    """The Hodges-Lehmann shift (median of all head - base differences) and the shifts
    the test does not reject at 1 - confidence (split over both tails).

    Both tests' verdicts change only where a shifted head run crosses a base run, at the
    sorted differences D_1 .. D_M; between two of them every rank is fixed.  The low end is
    the first D after which the `greater` test stops rejecting, the high end the last D
    before which the `less` test still does not: found by bisection over the segments
    between the differences, along which each p-value rises (up to the distances' steps
    of 1, which tests/test_pairs.py checks against a scan of every segment).
    """
    diffs = sorted(y - x for x in xs for y in ys)
    half = (1 - confidence) / 2

    def probe(segment: int) -> float:
        """A shift inside segment k: between D_k and D_k+1 (0-based k-1 and k)."""
        if segment == 0:
            return diffs[0] - 1.0
        if segment == len(diffs):
            return diffs[-1] + 1.0
        return (diffs[segment - 1] + diffs[segment]) / 2

    segments = range(len(diffs) + 1)
    first = bisect.bisect_left(segments, True, key=lambda s: p_values(xs, ys, probe(s))[0] > half)
    last = bisect.bisect_left(
        segments, True, key=lambda s: p_values(xs, ys, probe(len(diffs) - s))[1] > half
    )
    first, last = min(first, len(diffs)), min(last, len(diffs))  # some segment is accepted
    low = -math.inf if first == 0 else diffs[first - 1]
    high = math.inf if last == 0 else diffs[len(diffs) - last]
    return statistics.median(diffs), low, high
