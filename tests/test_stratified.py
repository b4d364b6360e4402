"""van Elteren's stratified test and its shift against independent computations: scipy for
one block, exhaustive enumeration of the within-block permutations for several, and the
interval by brute-force inversion of the enumerated test."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest
from scipy import stats as scipy_stats

from perfgate.compare import stratified


def _enumerated_null(strata):
    """Every within-block arrangement of the pooled values: (V, weight 1) per arrangement,
    V = sum_i (head rank sum_i - n_i (n_i + 1) / 2) / (m_i + n_i + 1), mid-ranks, exact
    fractions.  Independent of perfgate: scipy ranks, itertools picks the head runs."""
    per_block = []
    for a, b in strata:
        pooled = list(a) + list(b)
        ranks = scipy_stats.rankdata(pooled)
        n, total = len(b), len(pooled)
        weight = Fraction(1, total + 1)
        values = []
        for head in itertools.combinations(range(total), n):
            rank_sum = Fraction(sum(ranks[i] for i in head)).limit_denominator(4)
            values.append(weight * (rank_sum - Fraction(n * (n + 1), 2)))
        observed_sum = Fraction(sum(ranks[len(a) :])).limit_denominator(4)
        observed = weight * (observed_sum - Fraction(n * (n + 1), 2))
        per_block.append((values, observed))
    distribution = [sum(combo) for combo in itertools.product(*(v for v, _ in per_block))]
    return distribution, sum(o for _, o in per_block)


def _blocks(seed: int, sizes, shift: float = 0.0, offsets=None, ties: bool = False):
    rng = random.Random(seed)
    strata = []
    for k, (m, n) in enumerate(sizes):
        offset = (offsets or [0.0] * len(sizes))[k]
        a = [offset + rng.gauss(0, 0.05) for _ in range(m)]
        b = [offset + shift + rng.gauss(0, 0.05) for _ in range(n)]
        if ties:
            a, b = [round(v, 1) for v in a], [round(v, 1) for v in b]
        strata.append((a, b))
    return strata


@pytest.mark.parametrize("seed", range(5))
def test_one_block_is_the_mann_whitney_test_of_scipy(seed: int) -> None:
    ((a, b),) = _blocks(seed, [(8, 9)], shift=0.03)
    expected = scipy_stats.mannwhitneyu(b, a, alternative="greater", method="exact").pvalue
    assert stratified.van_elteren_p([(a, b)], "greater") == pytest.approx(expected, rel=1e-9)
    two = scipy_stats.mannwhitneyu(b, a, alternative="two-sided", method="exact").pvalue
    assert stratified.van_elteren_p([(a, b)], "two-sided") == pytest.approx(two, rel=1e-9)


@pytest.mark.parametrize(
    ("seed", "sizes", "ties"),
    [
        (1, [(3, 3), (2, 3), (3, 4)], False),  # unequal blocks: unequal weights
        (2, [(3, 3), (3, 3), (3, 3)], False),
        (3, [(3, 4), (4, 3), (2, 2)], True),  # mid-ranks
        (4, [(4, 3), (3, 3)], False),
    ],
)
def test_exact_p_value_matches_enumerating_every_within_block_arrangement(
    seed: int, sizes, ties: bool
) -> None:
    strata = _blocks(seed, sizes, shift=0.04, ties=ties)
    distribution, observed = _enumerated_null(strata)
    expected = sum(1 for v in distribution if v >= observed) / len(distribution)
    assert stratified.van_elteren_p(strata, "greater") == pytest.approx(expected, rel=1e-12)
    mean = sum(distribution) / len(distribution)
    expected_two = sum(1 for v in distribution if abs(v - mean) >= abs(observed - mean))
    assert stratified.van_elteren_p(strata, "two-sided") == pytest.approx(
        expected_two / len(distribution), rel=1e-12
    )


def test_large_blocks_use_the_normal_approximation_of_the_textbook_statistic() -> None:
    """Three blocks of 25 + 25 runs (beyond the exact limit): z from scipy's ranks with
    van Elteren's weights, variance sum_i w_i^2 m_i n_i (N_i + 1) / 12 (no ties here)."""
    strata = _blocks(7, [(25, 25), (25, 25), (20, 22)], shift=0.015)
    statistic = mean = var = 0.0
    for a, b in strata:
        m, n = len(a), len(b)
        w = 1 / (m + n + 1)
        ranks = scipy_stats.rankdata(list(a) + list(b))
        statistic += w * ranks[m:].sum()
        mean += w * n * (m + n + 1) / 2
        var += w * w * m * n * (m + n + 1) / 12
    # The continuity correction: half a unit of the largest block weight.
    largest = max(1 / (len(a) + len(b) + 1) for a, b in strata)
    z = (statistic - mean - 0.5 * largest) / math.sqrt(var)
    expected = scipy_stats.norm.sf(z)
    assert stratified.van_elteren_p(strata, "greater") == pytest.approx(expected, rel=1e-6)


def test_smallest_p_is_every_block_fully_separated() -> None:
    strata = [([0.0, 0.1, 0.2, 0.3], [1.0, 1.1, 1.2, 1.3])] * 3
    assert stratified.van_elteren_p(strata, "greater") == pytest.approx((1 / 70) ** 3)
    assert stratified.smallest_p([(4, 4)] * 3) == pytest.approx((1 / 70) ** 3)


def _accepted(strata, delta: float, distribution, alpha: float) -> bool:
    """Whether the enumerated two-sided test at `alpha` accepts a shift of `delta`: neither
    tail of the untied null distribution at the observed statistic is alpha / 2 or less."""
    shifted = [(a, [y - delta for y in b]) for a, b in strata]
    _, observed = _enumerated_null(shifted)
    total = len(distribution)
    at_most = sum(1 for v in distribution if v <= observed) / total
    at_least = sum(1 for v in distribution if v >= observed) / total
    return at_most > alpha / 2 and at_least > alpha / 2


@pytest.mark.parametrize(
    ("seed", "sizes"), [(11, [(3, 4), (4, 4)]), (12, [(3, 3), (2, 4), (4, 3)])]
)
def test_interval_is_the_set_of_shifts_the_enumerated_test_accepts(seed: int, sizes) -> None:
    strata = _blocks(seed, sizes, shift=0.02)
    confidence = 0.90
    estimate, low, high = stratified.stratified_shift(strata, confidence)
    # The interval's null distribution is the untied one: any distinct values give it.
    distribution, _ = _enumerated_null(
        [([float(i) for i in range(len(a))], [i + 0.5 for i in range(len(b))])
         for a, b in strata]
    )  # fmt: skip
    differences = sorted({y - x for a, b in strata for x in a for y in b})
    candidates = [(p + q) / 2 for p, q in itertools.pairwise(differences)]
    accepted = [d for d in candidates if _accepted(strata, d, distribution, 1 - confidence)]
    assert accepted, "the enumerated test accepts some shift"
    # The ends are differences; the midpoints strictly between them are exactly the
    # shifts the test accepts.
    assert low in differences and high in differences
    assert [d for d in candidates if low < d < high] == accepted
    # The estimate: at most half the weight of the within-block differences on either side.
    weights = [(y - x, Fraction(1, len(a) + len(b) + 1)) for a, b in strata for x in a for y in b]
    total = sum(w for _, w in weights)
    assert sum(w for d, w in weights if d < estimate) <= total / 2
    assert sum(w for d, w in weights if d > estimate) <= total / 2


def _u_counts(m: int, n: int) -> list[int]:
    """Counts of U under no change, by enumerating which of the m + n ranks the base holds."""
    counts = [0] * (m * n + 1)
    for chosen in itertools.combinations(range(m + n), m):
        counts[sum(r + 1 for r in chosen) - m * (m + 1) // 2] += 1
    return counts


def test_one_block_gives_the_hodges_lehmann_estimate_and_moses_interval() -> None:
    """By hand: the median of all pairwise differences, and the k-th from either end with
    k the largest count with P(U < k) <= 2.5% (U's distribution enumerated)."""
    ((a, b),) = _blocks(5, [(9, 8)], shift=0.05)
    differences = sorted(y - x for x in a for y in b)
    counts = _u_counts(9, 8)
    total = sum(counts)
    k = max(c for c in range(1, len(counts)) if sum(counts[:c]) / total <= 0.025)
    estimate, low, high = stratified.stratified_shift([(a, b)])
    assert estimate == pytest.approx((differences[35] + differences[36]) / 2)  # 72 of them
    assert (low, high) == (differences[k - 1], differences[len(differences) - k])


def test_runner_offsets_are_not_a_change_and_cost_no_power() -> None:
    """Three runners, one 30% slower for both sides (log offset 0.26): the stratified shift
    sees no change and stays as narrow as without offsets; pooling the runs would not."""
    offsets = [0.0, math.log(1.3), 0.0]
    strata = _blocks(21, [(10, 10)] * 3, offsets=offsets)
    same = _blocks(21, [(10, 10)] * 3)
    estimate, low, high = stratified.stratified_shift(strata)
    _, plain_low, plain_high = stratified.stratified_shift(same)
    assert low < 0 < high
    assert high - low == pytest.approx(plain_high - plain_low)
    pooled = [([x for a, _ in strata for x in a], [y for _, b in strata for y in b])]
    _, pooled_low, pooled_high = stratified.stratified_shift(pooled)
    assert pooled_high - pooled_low > 1.4 * (high - low)
    assert stratified.van_elteren_p(strata, "two-sided") > 0.05


def test_blocks_without_runs_on_a_side_are_left_out() -> None:
    strata = _blocks(3, [(5, 5)])
    assert stratified.van_elteren_p([*strata, ([], [1.0])]) == stratified.van_elteren_p(strata)
    with pytest.raises(ValueError):
        stratified.stratified_shift([([], [1.0])])


def test_both_tails_come_from_one_distribution() -> None:
    for sizes in ([(4, 4)] * 3, [(30, 30)] * 3):  # exact, then normal
        strata = _blocks(9, sizes, shift=-0.02)
        greater, less = stratified.van_elteren_tails(strata)
        assert greater == stratified.van_elteren_p(strata, "greater")
        mirrored = [([-x for x in a], [-y for y in b]) for a, b in strata]
        assert less == pytest.approx(stratified.van_elteren_p(mirrored, "greater"))
