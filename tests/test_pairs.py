"""The pair-randomization rank test (compare/pairs.py), against enumeration and scipy.

Every expected value is worked out another way: by listing all 2^n label swaps with
scipy's ranks, by scipy's permutation test over the pairs, by scanning every shift
between the pairwise differences, or by hand.  The two properties that made it the
default are shown on seeded samples: it keeps its level where the first run of each
pair is slower (a cold cache), and it finds a slowdown on a drifting machine.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from pair_reference import pair_swap_p
from scipy import stats as scipy_stats

from perfgate.compare import pairs, ranks


def enumerated_p(xs: list[float], ys: list[float], shift: float = 0.0) -> float:
    """Share of the 2^n within-pair label swaps whose head rank sum is at least the one
    seen: the definition, counted one swap at a time."""
    ys = [y - shift for y in ys]
    n = len(xs)
    seen = scipy_stats.rankdata(xs + ys)[n:].sum()
    as_high = 0
    for flips in itertools.product((False, True), repeat=n):
        base = [y if f else x for x, y, f in zip(xs, ys, flips, strict=True)]
        head = [x if f else y for x, y, f in zip(xs, ys, flips, strict=True)]
        as_high += scipy_stats.rankdata(base + head)[n:].sum() >= seen - 1e-9
    return as_high / 2**n


def correlated_pairs(rng: random.Random, n: int, shift: float, digits: int | None = None):
    """Pairs that share a level (a drifting machine) plus noise; rounded for ties."""
    xs, ys = [], []
    for _ in range(n):
        level = rng.gauss(0, 1)
        x, y = level + rng.gauss(0, 0.3), level + shift + rng.gauss(0, 0.3)
        xs.append(x if digits is None else round(x, digits))
        ys.append(y if digits is None else round(y, digits))
    return xs, ys


@pytest.mark.parametrize("seed", range(8))
def test_p_values_are_the_share_of_label_swaps(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 10)
    xs, ys = correlated_pairs(rng, n, 0.3, digits=1 if seed % 2 else None)  # odd: ties
    greater, less = pairs.p_values(xs, ys)
    assert greater == pytest.approx(enumerated_p(xs, ys), rel=1e-12)
    assert less == pytest.approx(enumerated_p([-x for x in xs], [-y for y in ys]), rel=1e-12)


def test_p_value_matches_scipys_permutation_test_over_the_pairs() -> None:
    rng = random.Random(3)
    xs, ys = correlated_pairs(rng, 14, 0.2)
    assert pairs.p_values(xs, ys)[0] == pytest.approx(pair_swap_p(xs, ys), rel=1e-12)


def test_every_pair_agreeing_gives_one_in_two_to_the_n() -> None:
    """By hand: only the swap pattern seen (no swap) puts every head run on top."""
    xs = [float(k) for k in range(0, 20, 2)]
    ys = [x + 1 for x in xs]  # each head run just above its own base run
    assert pairs.p_values(xs, ys) == (2**-10, 1.0)
    assert pairs.smallest_p(10) == 2**-10


def test_identical_pairs_give_no_evidence_either_way() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert pairs.p_values(xs, xs) == (1.0, 1.0)


def test_the_exact_count_at_the_most_pairs_agrees_with_a_monte_carlo() -> None:
    """100 pairs (stats.MAX_PAIRS), too many to enumerate: 400,000 random swap patterns
    drawn by numpy land at or above the observed sum as often as the count says."""
    rng = random.Random(5)
    xs, ys = correlated_pairs(rng, 100, 0.05)
    weights, seen = pairs.distances(xs, ys)
    draws = np.random.default_rng(5).integers(0, 2, size=(400_000, len(weights)))
    monte_carlo = float(((draws * np.array(weights)).sum(axis=1) >= seen).mean())
    assert 0.001 < monte_carlo < 0.999  # a tail worth checking
    assert pairs.greater_p(weights, seen) == pytest.approx(monte_carlo, abs=0.003)


def scanned_interval(xs: list[float], ys: list[float], confidence: float):
    """The hull of the shifts that neither one-sided test rejects, testing one shift inside
    every segment between the sorted differences by enumeration."""
    diffs = sorted(y - x for x in xs for y in ys)
    probes = [diffs[0] - 1] + [(a + b) / 2 for a, b in itertools.pairwise(diffs)]
    probes.append(diffs[-1] + 1)
    half = (1 - confidence) / 2
    kept = [
        k
        for k, shift in enumerate(probes)
        if enumerated_p(xs, ys, shift) > half
        and enumerated_p([-x for x in xs], [-(y - shift) for y in ys]) > half
    ]
    low = -math.inf if kept[0] == 0 else diffs[kept[0] - 1]
    high = math.inf if kept[-1] == len(diffs) else diffs[kept[-1]]
    return low, high


@pytest.mark.parametrize(("seed", "n", "confidence"), [(1, 6, 0.9), (2, 7, 0.95), (3, 8, 0.98)])
def test_interval_is_every_shift_the_test_does_not_reject(
    seed: int, n: int, confidence: float
) -> None:
    rng = random.Random(seed)
    xs, ys = correlated_pairs(rng, n, 0.4, digits=1 if seed == 3 else None)
    estimate, low, high = pairs.interval(xs, ys, confidence)
    assert (low, high) == pytest.approx(scanned_interval(xs, ys, confidence))
    assert estimate == pytest.approx(float(np.median([y - x for x in xs for y in ys])))


def test_too_few_pairs_give_an_unbounded_interval() -> None:
    """4 pairs: the smallest p is 1/16 > 2.5%, so no shift is ruled out at 95%."""
    _, low, high = pairs.interval([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5], 0.95)
    assert (low, high) == (-math.inf, math.inf)


def _share_rejected(test, trials: list[tuple[list[float], list[float]]], level: float) -> float:
    return sum(test(xs, ys) <= level for xs, ys in trials) / len(trials)


def _mann_whitney(xs: list[float], ys: list[float]) -> float:
    return ranks.mann_whitney_greater_p(xs, ys)


def _swaps(xs: list[float], ys: list[float]) -> float:
    return pairs.p_values(xs, ys)[0]


def test_keeps_its_level_when_the_first_run_of_a_pair_is_slower() -> None:
    """Identical code, a cold first run (+40%) in every pair, the order a coin flip per
    pair as the runner does it: the swap test rejects at most about 5% at the 5% level
    (its level is exact by construction); the two-sample test, which assumes all runs
    exchangeable, rejects far more often."""
    rng = random.Random(2026)
    trials = []
    for _ in range(1500):
        xs, ys = [], []
        for _ in range(10):
            first, second = math.log(1.4) + rng.gauss(0, 0.05), rng.gauss(0, 0.05)
            base_first = rng.random() < 0.5
            xs.append(first if base_first else second)
            ys.append(second if base_first else first)
        trials.append((xs, ys))
    swaps, two_sample = (
        _share_rejected(_swaps, trials, 0.05),
        _share_rejected(_mann_whitney, trials, 0.05),
    )
    standard_error = math.sqrt(0.05 * 0.95 / len(trials))
    assert swaps <= 0.05 + 3 * standard_error
    assert two_sample > 0.08  # 9.5% with this seed; the swap test 4.3%


def test_finds_a_slowdown_that_drift_hides_from_the_two_sample_test() -> None:
    """A machine whose load swings by ±40% over the gate, a 10% slowdown: every pair sees
    it, the pooled runs barely do."""
    rng = random.Random(7)
    xs, ys = [], []
    for k in range(20):
        level = 0.4 * math.sin(k / 3) + rng.gauss(0, 0.02)
        xs.append(level)
        ys.append(level + math.log(1.1) + rng.gauss(0, 0.02))
    assert pairs.p_values(xs, ys)[0] < 1e-4
    assert ranks.mann_whitney_greater_p(xs, ys) > 0.05
