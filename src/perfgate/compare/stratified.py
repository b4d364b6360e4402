"""Stratified rank statistics: one test and one shift over several blocks of runs (pure).

Why strata: a gate spread over a CI matrix runs each shard on a runner of its
own, and one runner may be 30% slower than another for both sides.  Pooled
into one Mann-Whitney test, those runner offsets would widen every interval
(the slow runner's base runs rank above the fast runner's head runs) and, with
unequal shards, even look like a change.  Ranked within each shard (block)
only, base and head are compared where they ran side by side, and the blocks
are then combined: van Elteren's test, the sum over the blocks of the
Wilcoxon rank-sum statistics weighted by 1 / (m_i + n_i + 1), with the
Hodges-Lehmann shift and the Moses-type interval that invert that same test.
docs/statistics.md writes the formulas down.

Every function takes strata as (base values, head values) pairs, already on
the scale the shift is measured on (the gate passes logs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from . import ranks as rank_tests
from . import stats

Stratum = tuple[Sequence[float], Sequence[float]]

#: Above this many runs in all, or this many possible values of the (integer-scaled)
#: statistic, the normal approximation is used: a sum over blocks is close to normal
#: sooner than one block's U, and counting 5 blocks of 20 + 20 runs takes a second.
EXACT_TOTAL_LIMIT = 80
EXACT_SUPPORT_LIMIT = 20_000


def scales(strata: Sequence[Stratum]) -> list[int]:
    """Integer weights proportional to van Elteren's 1 / (m_i + n_i + 1).

    Integers, so that the exact null distribution of the weighted sum can be
    counted: L / (m_i + n_i + 1) with L the least common multiple of the
    denominators.  Shards of equal size (the usual case) all weigh 1.
    """
    denominators = [len(a) + len(b) + 1 for a, b in strata]
    common = math.lcm(*denominators)
    return [common // d for d in denominators]


def _u_counts(scale: int, a: Sequence[float], b: Sequence[float]) -> tuple[int, dict[int, int]]:
    """Twice the Mann-Whitney U of `b` over `a` (ties count half), scaled, observed; and its
    exact permutation distribution over the block's mid-ranks (ties kept), scaled."""
    m, n = len(a), len(b)
    ranks, _ = rank_tests._ranks(list(a) + list(b))
    doubled = [round(2 * r) for r in ranks]
    offset = n * (n + 1)  # doubled rank sum of the n smallest ranks
    observed = (sum(doubled[m:]) - offset) * scale
    counts = rank_tests._subset_sums(doubled, n)
    return observed, {(s - offset) * scale: c for s, c in counts.items()}


def _convolve(first: Mapping[int, int], second: Mapping[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for x, cx in first.items():
        for y, cy in second.items():
            out[x + y] = out.get(x + y, 0) + cx * cy
    return out


def _exact(strata: Sequence[Stratum], weights: Sequence[int]) -> bool:
    """Whether counting the exact distribution is cheap: few runs in all and a support
    of the weighted sum that stays small."""
    if sum(len(a) + len(b) for a, b in strata) > EXACT_TOTAL_LIMIT:
        return False
    support = sum(2 * w * len(a) * len(b) for w, (a, b) in zip(weights, strata, strict=True))
    return support <= EXACT_SUPPORT_LIMIT


def _block_variance(a: Sequence[float], b: Sequence[float]) -> float:
    """Variance of one block's U under no change, with the tie correction."""
    m, n = len(a), len(b)
    total = m + n
    _, ties = rank_tests._ranks(list(a) + list(b))
    correction = sum(t**3 - t for t in ties) / (total * (total - 1)) if total > 1 else 0.0
    return m * n / 12 * ((total + 1) - correction)


def van_elteren_p(strata: Sequence[Stratum], tail: str = "greater") -> float:
    """van Elteren's p-value that the head values (second of each pair) tend to be larger
    (`greater`), or two-sided: V = sum_i w_i U_i with w_i proportional to 1/(m_i+n_i+1).

    Exact over the within-block permutations (mid-ranks with ties) when cheap, else
    normal with the tie correction and a continuity correction of half a unit.
    Blocks without runs on one side carry no information and are left out.
    """
    return _p_values(strata, (tail,))[0]


def van_elteren_tails(strata: Sequence[Stratum]) -> tuple[float, float]:
    """One-sided p-values that head tends to be larger, and that it tends to be smaller
    (one null distribution counted for both)."""
    greater, less = _p_values(strata, ("greater", "less"))
    return greater, less


def _p_values(strata: Sequence[Stratum], tails: Sequence[str]) -> list[float]:
    strata = [(a, b) for a, b in strata if a and b]
    if not strata:
        return [1.0 for _ in tails]
    weights = scales(strata)
    if _exact(strata, weights):
        observed, distribution = 0, {0: 1}
        for w, (a, b) in zip(weights, strata, strict=True):
            block_observed, block_counts = _u_counts(w, a, b)
            observed += block_observed
            distribution = _convolve(distribution, block_counts)
        mean = sum(w * len(a) * len(b) for w, (a, b) in zip(weights, strata, strict=True))
        mirrored = {-v: c for v, c in distribution.items()}
        return [
            rank_tests._tail_p(mirrored, -observed, -mean, "greater")
            if tail == "less"
            else rank_tests._tail_p(distribution, observed, mean, tail)
            for tail in tails
        ]
    # Weights relative to the largest, so that the continuity correction of stats (half
    # a unit) is half a unit of the heaviest block's U.
    statistic = mean = var = 0.0
    for w, (a, b) in zip(weights, strata, strict=True):
        relative = w / max(weights)
        ranks, _ = rank_tests._ranks(list(a) + list(b))
        n = len(b)
        statistic += relative * (sum(ranks[len(a) :]) - n * (n + 1) / 2)
        mean += relative * len(a) * n / 2
        var += relative * relative * _block_variance(a, b)
    return [
        rank_tests._normal_p(2 * mean - statistic, mean, var, "greater")
        if tail == "less"
        else rank_tests._normal_p(statistic, mean, var, tail)
        for tail in tails
    ]


def smallest_p(sizes: Sequence[tuple[int, int]]) -> float:
    """The smallest one-sided p-value of blocks of (m_i, n_i) runs: every block's head above
    its base, the one arrangement that reaches the largest V, prod 1 / C(m_i + n_i, m_i)."""
    return math.prod(rank_tests.smallest_p(m, n) for m, n in sizes if m and n)


def _no_tie_distribution(strata: Sequence[Stratum], weights: Sequence[int]) -> dict[int, int]:
    """Exact null distribution of sum_i w_i U_i without ties (the interval's, as the Moses
    interval uses the untied distribution)."""
    distribution: dict[int, int] = {0: 1}
    for w, (a, b) in zip(weights, strata, strict=True):
        counts = rank_tests._rank_sum_counts(len(a), len(b))
        distribution = _convolve(distribution, {u * w: c for u, c in enumerate(counts)})
    return distribution


def _critical(strata: Sequence[Stratum], weights: Sequence[int], alpha: float) -> float:
    """The largest c with P(V < c) <= alpha / 2 (scaled units): the interval's ends are where
    the weighted count of differences reaches c from either side."""
    if _exact(strata, weights):
        distribution = _no_tie_distribution(strata, weights)
        total = sum(distribution.values())
        cumulative = 0
        for value in sorted(distribution):
            if (cumulative + distribution[value]) / total > alpha / 2:
                return value
            cumulative += distribution[value]
        return max(distribution)  # pragma: no cover - alpha > 0 always stops above
    mean = sum(w * len(a) * len(b) / 2 for w, (a, b) in zip(weights, strata, strict=True))
    var = sum(w * w * len(a) * len(b) * (len(a) + len(b) + 1) / 12
              for w, (a, b) in zip(weights, strata, strict=True))  # fmt: skip
    return math.floor(mean - rank_tests._norm_ppf(1 - alpha / 2) * math.sqrt(var))


def _weighted_differences(
    strata: Sequence[Stratum], weights: Sequence[int]
) -> list[tuple[float, int]]:
    """Every within-block difference head - base with its block's weight, sorted."""
    pairs = []
    for w, (a, b) in zip(weights, strata, strict=True):
        thin_a, thin_b = rank_tests._thinned(a), rank_tests._thinned(b)
        pairs += [(y - x, w) for x in thin_a for y in thin_b]
    return sorted(pairs)


def _weighted_median(pairs: Sequence[tuple[float, int]]) -> float:
    """The point where half the weight lies on each side (the mean of the two middle values
    when it falls between them, as statistics.median does with equal weights)."""
    total = sum(w for _, w in pairs)
    cumulative = 0
    for i, (value, w) in enumerate(pairs):
        cumulative += w
        if 2 * cumulative == total:
            return (value + pairs[i + 1][0]) / 2
        if 2 * cumulative > total:
            return value
    raise ValueError("no differences")  # pragma: no cover - callers pass at least one


def stratified_shift(
    strata: Sequence[Stratum], confidence: float = rank_tests.CONFIDENCE
) -> tuple[float, float, float]:
    """The shift from base to head common to all blocks, with its interval, by inverting
    van Elteren's test: V(d) = sum_i w_i #{head - d > base in block i} falls as d grows,
    so the estimate (V(d) at its null mean) is the weighted median of the within-block
    differences, and the interval runs between the differences where the weighted count
    from either end reaches the test's critical value.  One block gives the
    Hodges-Lehmann estimate and the Moses interval."""
    strata = [(a, b) for a, b in strata if a and b]
    if not strata:
        raise ValueError("stratified_shift() needs a block with runs on both sides")
    weights = scales(strata)
    if any(len(a) > rank_tests.MAX_INTERVAL_VALUES or len(b) > rank_tests.MAX_INTERVAL_VALUES
           for a, b in strata):  # fmt: skip
        strata = [(rank_tests._thinned(a), rank_tests._thinned(b)) for a, b in strata]
        weights = scales(strata)
    pairs = _weighted_differences(strata, weights)
    estimate = _weighted_median(pairs)
    critical = _critical(strata, weights, 1 - confidence)
    if critical <= 0:
        return estimate, -math.inf, math.inf
    return estimate, _reach(pairs, critical), -_reach([(-d, w) for d, w in reversed(pairs)],
                                                      critical)  # fmt: skip


def _reach(pairs: Sequence[tuple[float, int]], critical: float) -> float:
    """The smallest value whose weight, with all below it, reaches `critical`."""
    cumulative = 0
    for value, w in pairs:
        cumulative += w
        if cumulative >= critical:
            return value
    return pairs[-1][0]  # pragma: no cover - critical is below the total weight


#: The method named in each comparison of merged shards.
METHOD = "stratified by shard: van Elteren, weighted Hodges-Lehmann interval"


def blocks_of(values: Sequence[float], blocks: Sequence[int]) -> dict[int, list[float]]:
    """`values` grouped by the block each came from (same order as `blocks`)."""
    if len(values) != len(blocks):
        raise ValueError(f"{len(values)} values but {len(blocks)} block labels")
    grouped: dict[int, list[float]] = {}
    for value, block in zip(values, blocks, strict=True):
        grouped.setdefault(block, []).append(value)
    return grouped


def blocked_test(base_blocks: Sequence[int], head_blocks: Sequence[int]) -> stats.RankTest | None:
    """The rank test of stats.compare_metric for runs made in blocks (one per shard): the
    block of each base and each head run, in the sides' sample order.  None for a single
    block, where stats' own unstratified test is the same test (so one shard merged gives
    exactly the ordinary gate's verdict)."""
    if len(set(base_blocks) | set(head_blocks)) <= 1:
        return None

    def test(
        xs: Sequence[float], ys: Sequence[float]
    ) -> tuple[float, float, Callable[[float], tuple[float, float, float]], str]:
        by_base, by_head = blocks_of(xs, base_blocks), blocks_of(ys, head_blocks)
        strata = [(by_base.get(k, []), by_head.get(k, [])) for k in sorted(by_base | by_head)]
        greater, less = van_elteren_tails(strata)

        def interval(confidence: float) -> tuple[float, float, float]:
            return stratified_shift(strata, confidence)

        return greater, less, interval, METHOD

    return test
