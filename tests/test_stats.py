"""Statistics against independent reference values (scipy, brute force) and the verdict rules."""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import random
import statistics

import pytest
from pair_reference import pair_swap_p
from scipy import stats as scipy_stats

from perfgate.compare import ranks, sequential, stats, stratified
from perfgate.results import Sample, Side


def interleaved(base: list[float], head: list[float], memory: tuple[float, float] = (1e7, 1e7)):
    """Sides whose runs pair up as the runner schedules them (pair k = orders 2k, 2k+1)."""
    rng = random.Random(0)
    base_samples, head_samples = [], []
    for k, (b, h) in enumerate(zip(base, head, strict=True)):
        first = rng.random() < 0.5
        base_samples.append(_sample(b, memory[0], 2 * k + (0 if first else 1)))
        head_samples.append(_sample(h, memory[1], 2 * k + (1 if first else 0)))
    return Side("base", "a", tuple(base_samples)), Side("head", "b", tuple(head_samples))


def separate(base: list[float], head: list[float]):
    """Sides from two separate `perfgate run`s: orders collide, so they do not pair."""
    return (
        Side("a", "", tuple(_sample(v, 1e7, i) for i, v in enumerate(base))),
        Side("b", "", tuple(_sample(v, 1e7, i) for i, v in enumerate(head))),
    )


def _sample(wall: float, memory: float, order: int) -> Sample:
    return Sample(wall, wall, int(memory), int(memory), 0, order)


def noisy(rng: random.Random, n: int, centre: float, cv: float) -> list[float]:
    return [centre * math.exp(rng.gauss(0, cv)) for _ in range(n)]


THRESHOLDS = {"wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10}


# --- against scipy ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_matches_scipy_exact_without_ties(seed: int) -> None:
    rng = random.Random(seed)
    a = [rng.gauss(1, 0.1) for _ in range(rng.randint(3, 12))]
    b = [rng.gauss(1.08, 0.1) for _ in range(rng.randint(3, 12))]
    expected = scipy_stats.mannwhitneyu(a, b, method="exact").pvalue
    assert ranks.mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_mann_whitney_matches_scipy_asymptotic_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    a = [round(rng.gauss(1, 0.1), 1) for _ in range(25)]
    b = [round(rng.gauss(1.1, 0.1), 1) for _ in range(27)]
    expected = scipy_stats.mannwhitneyu(a, b, method="asymptotic").pvalue
    assert ranks.mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-9)


def test_mann_whitney_large_samples_use_the_normal_approximation() -> None:
    rng = random.Random(3)
    a = [rng.gauss(1, 0.1) for _ in range(60)]
    b = [rng.gauss(1.03, 0.1) for _ in range(60)]
    expected = scipy_stats.mannwhitneyu(a, b, method="asymptotic").pvalue
    assert ranks.mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-9)


def _rank_sum(x, y, axis=-1):
    import numpy as np

    ranks = scipy_stats.rankdata(np.concatenate([x, y], axis=axis), axis=axis)
    total = x.shape[axis] + y.shape[axis]
    # Two-sided as perfgate (and scipy's asymptotic test) define it: distance from the mean.
    return np.abs(ranks[..., : x.shape[axis]].sum(axis=axis) - x.shape[axis] * (total + 1) / 2)


@pytest.mark.parametrize("seed", range(3))
def test_mann_whitney_with_ties_is_the_exact_permutation_p(seed: int) -> None:
    rng = random.Random(seed)
    a = [round(rng.gauss(1, 0.1), 1) for _ in range(6)]
    b = [round(rng.gauss(1.1, 0.1), 1) for _ in range(7)]
    reference = scipy_stats.permutation_test(
        (a, b),
        _rank_sum,
        permutation_type="independent",
        n_resamples=10**6,
        vectorized=True,
        alternative="greater",
    ).pvalue
    assert ranks.mann_whitney_p(a, b) == pytest.approx(reference, rel=1e-9)


def test_constant_memory_growth_is_significant_with_five_runs() -> None:
    assert ranks.mann_whitney_p([5e6] * 5, [6e7] * 5) == pytest.approx(2 / 252)
    base, head = separate([1.0, 1.01, 0.99, 1.0, 1.02], [1.0, 1.01, 0.99, 1.0, 1.02])
    memory_head = Side("b", "", tuple(Sample(1, 1, 1, int(6e7), 0, i) for i in range(5)))
    memory = stats.compare_metric(base, memory_head, "peak_memory", 0.1)
    assert memory.verdict == "regression"


def brute_force_interval(values: list[float], k: int) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[k - 1], ordered[len(ordered) - k]


def test_moses_interval_covers_the_true_shift_about_95_percent_of_the_time() -> None:
    rng = random.Random(5)
    covered = 0
    trials = 400
    for _ in range(trials):
        a = [rng.gauss(0, 1) for _ in range(10)]
        b = [rng.gauss(0.5, 1) for _ in range(10)]
        _, low, high = ranks.moses_interval(a, b)
        covered += low <= 0.5 <= high
    assert 0.92 <= covered / trials <= 0.99


def test_moses_estimate_is_the_median_of_pairwise_differences() -> None:
    a, b = [1.0, 2.0, 4.0], [2.5, 3.0, 7.0, 8.0]
    estimate, low, high = ranks.moses_interval(a, b)
    assert estimate == statistics.median([y - x for x in a for y in b])
    assert low <= estimate <= high


def test_shift_interval_is_relative_on_the_log_scale() -> None:
    a = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    b = [v * 1.2 for v in a]
    estimate, low, high = ranks.shift_interval(a, b)
    assert estimate == pytest.approx(0.2)
    assert low <= 0.2 <= high


def test_shift_interval_with_zeros_falls_back_to_differences() -> None:
    estimate, low, high = ranks.shift_interval([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    assert estimate == pytest.approx(1.0)
    assert low <= estimate <= high


def test_holm_matches_the_textbook_adjustment() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_spearman_matches_scipy() -> None:
    rng = random.Random(2)
    x = [float(i) for i in range(20)]
    y = [i + rng.gauss(0, 5) for i in range(20)]
    assert stats.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert stats.spearman(x, [1.0] * 20) == 0.0


def test_summarize_matches_statistics_module() -> None:
    s = stats.summarize([1.0, 2.0, 4.0])
    assert (s.n, s.mean, s.median, s.min, s.max) == (3, 7 / 3, 2.0, 1.0, 4.0)
    assert s.stdev == pytest.approx(statistics.stdev([1.0, 2.0, 4.0]))
    assert stats.summarize([5.0]).stdev == 0.0
    with pytest.raises(ValueError):
        stats.summarize([])


# --- verdicts --------------------------------------------------------------------------------


def by_metric(base: Side, head: Side):
    return {c.metric: c for c in stats.compare(base, head, THRESHOLDS)}


def test_clear_slowdown_is_a_regression_paired() -> None:
    rng = random.Random(11)
    base, head = interleaved(noisy(rng, 12, 1.0, 0.03), noisy(rng, 12, 1.3, 0.03))
    wall = stats.compare_metric(base, head, "wall_time", 0.05, paired=True)
    assert wall.verdict == "regression"
    assert wall.method.startswith("paired")
    assert wall.ci[0] > 0.05 and wall.change == pytest.approx(0.3, abs=0.06)
    assert wall.p_value < sequential.ALPHA


def test_interleaved_runs_are_judged_against_their_pairs_coin_flips_by_default() -> None:
    """stats.PAIRED: the p-value is the share of the 2^12 within-pair label swaps whose
    head rank sum is as high (scipy's permutation test over the pairs), and the change
    is still the Hodges-Lehmann shift of the logs."""
    rng = random.Random(11)
    base, head = interleaved(noisy(rng, 12, 1.0, 0.03), noisy(rng, 12, 1.3, 0.03))
    wall = by_metric(base, head)["wall_time"]
    assert wall.method.startswith("paired")
    assert wall.verdict == "regression"
    by_order = sorted(base.samples + head.samples, key=lambda s: s.order)
    pairs = {}
    for sample in by_order:
        pairs.setdefault(sample.order // 2, {})["head" if sample in head.samples else "base"] = (
            math.log(sample.wall_s)
        )
    xs = [pairs[k]["base"] for k in sorted(pairs)]
    ys = [pairs[k]["head"] for k in sorted(pairs)]
    expected_p = pair_swap_p(xs, ys)
    assert expected_p == pytest.approx(2**-12)  # every pair has head above base
    assert wall.p_value == pytest.approx(expected_p, rel=1e-9)
    a, b = base.values("wall_time"), head.values("wall_time")
    log_shifts = [math.log(y) - math.log(x) for x in a for y in b]
    assert wall.change == pytest.approx(math.expm1(statistics.median(log_shifts)), rel=1e-9)


def test_clear_speedup_is_an_improvement_unpaired() -> None:
    rng = random.Random(12)
    base, head = separate(noisy(rng, 10, 1.0, 0.03), noisy(rng, 10, 0.7, 0.03))
    wall = by_metric(base, head)["wall_time"]
    assert wall.verdict == "improvement"
    assert wall.method.startswith("unpaired")


def test_identical_distributions_are_unchanged_when_quiet() -> None:
    rng = random.Random(13)
    base, head = interleaved(noisy(rng, 20, 1.0, 0.01), noisy(rng, 20, 1.0, 0.01))
    assert by_metric(base, head)["wall_time"].verdict == "unchanged"


def test_noisy_small_difference_is_inconclusive() -> None:
    rng = random.Random(14)
    base, head = interleaved(noisy(rng, 6, 1.0, 0.3), noisy(rng, 6, 1.05, 0.3))
    comparison = by_metric(base, head)["wall_time"]
    assert comparison.verdict == "inconclusive"
    assert comparison.detectable_change > 0.05
    assert not stats.settled(stats.compare(base, head, THRESHOLDS))


def test_deterministic_memory_identical_is_unchanged_and_plus_30mb_is_regression() -> None:
    walls = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98]
    base, head = interleaved(walls, walls, memory=(60e6, 60e6))
    memory = by_metric(base, head)["peak_memory"]
    assert memory.verdict == "unchanged" and memory.change == 0
    base, head = interleaved(walls, walls, memory=(60e6, 90e6))
    memory = by_metric(base, head)["peak_memory"]
    assert memory.verdict == "regression"
    assert memory.ci == pytest.approx((0.5, 0.5))


def test_change_below_threshold_is_not_a_regression_even_if_significant() -> None:
    rng = random.Random(15)
    base = noisy(rng, 30, 1.0, 0.002)
    base, head = interleaved(base, [v * 1.02 for v in base])
    wall = by_metric(base, head)["wall_time"]
    assert wall.p_value < sequential.ALPHA
    assert wall.verdict == "unchanged"


def test_too_few_runs_are_refused() -> None:
    base, head = separate([1.0, 1.1, 1.2], [1.0, 1.1, 1.2])
    with pytest.raises(ValueError, match="at least 4 runs per side"):
        stats.compare(base, head, THRESHOLDS)


def test_zero_cpu_time_does_not_divide_by_zero() -> None:
    base = Side("a", "", tuple(Sample(0.1, 0.0, 1, 1, 0, i) for i in range(6)))
    head = Side("b", "", tuple(Sample(0.1, 0.0, 1, 1, 0, i) for i in range(6)))
    cpu = by_metric(base, head)["cpu_time"]
    assert cpu.verdict == "too short"


def test_a_zero_baseline_is_too_short_to_compare_never_a_percentage() -> None:
    """0 s of CPU against 4 ms (a very short command): before, the difference was divided
    by 1.0 and read "+0.4%, unchanged" at p = 1e-5."""
    base = Side("a", "", tuple(Sample(0.1, 0.0, 1, 1, 0, 2 * i) for i in range(8)))
    head = Side("b", "", tuple(Sample(0.1, 0.004, 1, 1, 0, 2 * i + 1) for i in range(8)))
    cpu = by_metric(base, head)["cpu_time"]
    assert cpu.verdict == "too short" and "0" in cpu.note
    assert math.isnan(cpu.change) and math.isnan(cpu.ci[0]) and math.isnan(cpu.p_value)
    assert (cpu.base_median, cpu.head_median) == (0.0, 0.004)
    short = Side("c", "", tuple(Sample(0.1, 0.0004, 1, 1, 0, 2 * i + 1) for i in range(8)))
    assert "under 1 ms" in by_metric(short, head)["cpu_time"].note


def test_pairing_is_refused_when_orders_collide_or_are_missing() -> None:
    base, head = separate([1.0, 2.0], [1.0, 2.0])
    assert stats.paired_values(base, head, "wall_time") is None
    base, head = interleaved([1.0, 2.0], [3.0, 4.0])
    assert stats.paired_values(base, head, "wall_time") == [(1.0, 3.0), (2.0, 4.0)]
    lonely = Side("h", "", (_sample(1.0, 1, 1), _sample(1.0, 1, 5)))
    assert stats.paired_values(base, lonely, "wall_time") is None
    warm = Side("h", "", (_sample(1.0, 1, -1),))
    assert stats.paired_values(base, warm, "wall_time") is None


def test_gate_verdict_fails_on_any_regression() -> None:
    rng = random.Random(16)
    base, head = interleaved(noisy(rng, 10, 1.0, 0.01), noisy(rng, 10, 1.0, 0.01), (1e7, 3e7))
    comparisons = stats.compare(base, head, THRESHOLDS)
    assert stats.gate_verdict(comparisons) == "fail"
    base, head = interleaved(noisy(rng, 10, 1.0, 0.01), noisy(rng, 10, 1.0, 0.01))
    assert stats.gate_verdict(stats.compare(base, head, THRESHOLDS)) == "pass"


# --- noise ------------------------------------------------------------------------------------


def test_noise_warnings_name_high_cv_outliers_and_drift() -> None:
    rng = random.Random(17)
    noisy_side = Side(
        "x", "", tuple(_sample(v, 1, i) for i, v in enumerate(noisy(rng, 10, 1, 0.3)))
    )
    assert any("varies a lot" in w for w in stats.noise_warnings(noisy_side))
    spiky = [1.0, 1.01, 0.99, 1.0, 1.02, 5.0, 1.0, 0.98]
    spiky_side = Side("x", "", tuple(_sample(v, 1, i) for i, v in enumerate(spiky)))
    assert any("outlier" in w for w in stats.noise_warnings(spiky_side))
    drifting = Side("x", "", tuple(_sample(1 + 0.01 * i, 1, i) for i in range(12)))
    assert any("slower over time" in w for w in stats.noise_warnings(drifting, "base"))
    quiet = Side("x", "", tuple(_sample(1.0 + 0.001 * (i % 2), 1, i) for i in range(12)))
    assert stats.noise_warnings(quiet) == []


def test_outliers_need_enough_values_and_spread() -> None:
    assert stats.outliers([1, 2, 100]) == []
    assert stats.outliers([1, 1, 1, 1, 1, 9]) == []  # no spread at all: nothing to judge by


def test_change_never_lies_outside_its_interval_on_two_clusters() -> None:
    """Warm and cold runs: the median can jump clusters, the Hodges-Lehmann shift cannot."""
    base = [1.0] * 6 + [2.0] * 5
    head = [1.01] * 5 + [2.02] * 6
    b, h = interleaved(base, head)
    wall = by_metric(b, h)["wall_time"]
    assert wall.ci[0] <= wall.change <= wall.ci[1]
    assert wall.change == pytest.approx(0.01, abs=0.005)
    assert wall.verdict != "regression"


def test_looks_grow_by_half_up_to_max_runs() -> None:
    assert sequential.looks(10, 30) == [10, 15, 23, 30]
    assert sequential.looks(10, 10) == [10]
    assert sequential.looks(4, 5) == [4, 5]


def test_pairs_are_used_once_they_can_reach_significance() -> None:
    assert not stats.use_pairs(8, 0.01)  # 1 / 2^8 = 0.0039 > 0.01 / 4
    assert stats.use_pairs(9, 0.01)  # 1 / 2^9 = 0.0020 <= 0.0025
    assert not stats.use_pairs(10, 0.0025) and stats.use_pairs(11, 0.0025)


def test_a_stricter_look_needs_stronger_evidence() -> None:
    rng = random.Random(21)
    base, head = separate(noisy(rng, 5, 1.0, 0.05), noisy(rng, 5, 1.3, 0.05))
    loose = sequential.Look(runs=5, regression_level=0.01)
    assert stats.compare_metric(base, head, "wall_time", 0.05, loose).verdict == "regression"
    strict = sequential.Look(runs=5, regression_level=0.001)
    assert stats.compare_metric(base, head, "wall_time", 0.05, strict).verdict == "inconclusive"


# --- instructions: a metric only when counted ------------------------------------------------


def counted(side: Side, counts: list[int]) -> Side:
    """`side` with an instruction count per run, as a gate with `instructions: true` has."""
    samples = tuple(
        dataclasses.replace(s, instructions=c) for s, c in zip(side.samples, counts, strict=True)
    )
    return dataclasses.replace(side, samples=samples)


def test_instructions_are_compared_only_when_both_sides_carry_counts() -> None:
    walls = [1.0, 1.01, 0.99, 1.0, 1.02]
    base, head = interleaved(walls, walls)
    thresholds = {**THRESHOLDS, "instructions": 0.01}
    assert "instructions" not in by_metric(base, head)  # no counts: no metric, no crash
    with_counts = counted(base, [10**9] * 5)
    assert [c.metric for c in stats.compare(with_counts, head, thresholds)] == [
        "wall_time", "cpu_time", "peak_memory",
    ]  # fmt: skip
    head_counts = counted(head, [int(1.02e9) + k for k in range(5)])
    found = {c.metric: c for c in stats.compare(with_counts, head_counts, thresholds)}
    assert found["instructions"].verdict == "regression"
    assert found["instructions"].change == pytest.approx(0.02, abs=1e-5)
    assert stats.gate_verdict(tuple(found.values())) == "fail"


def test_a_count_that_moved_less_than_its_threshold_is_unchanged() -> None:
    walls = [1.0, 1.01, 0.99, 1.0, 1.02]
    base, head = interleaved(walls, walls)
    base = counted(base, [10**9 + k for k in range(5)])
    head = counted(head, [int(1.005e9) + k for k in range(5)])
    found = stats.compare_metric(base, head, "instructions", 0.01)
    assert found.verdict == "unchanged" and found.change == pytest.approx(0.005, abs=1e-5)


def test_three_counts_that_agree_decide_where_the_rank_test_cannot() -> None:
    """3 identical counts against 3: the smallest one-sided Mann-Whitney p is 1/20, so the
    rank statistics could call nothing; the rule for counts that agree calls +2% (against
    a 1% threshold) a regression.  The later runs carry no count."""
    walls = [1.0, 1.01, 0.99, 1.0, 1.02, 1.01, 1.0, 0.98, 1.0, 1.01]
    base, head = interleaved(walls, walls)
    base = counted(base, [10**9] * 3 + [None] * 7)
    head = counted(head, [int(1.02e9)] * 3 + [None] * 7)
    found = stats.compare_metric(base, head, "instructions", 0.01)
    assert found.verdict == "regression" and found.change == pytest.approx(0.02)
    assert found.method.startswith("counts that agree") and math.isnan(found.p_value)
    best = scipy_stats.mannwhitneyu([4, 5, 6], [1, 2, 3], alternative="greater", method="exact")
    assert best.pvalue == pytest.approx(1 / 20) and best.pvalue > stats.ALPHA
    # Wall time of the same runs is still judged over all ten, pair by pair.
    assert stats.compare_metric(base, head, "wall_time", 0.05).method.startswith("paired")


def test_counts_that_vary_more_than_a_quarter_of_the_threshold_get_the_rank_test() -> None:
    """Spread 20/1010 = 2% > 0.25%: judged like time, over every counted run."""
    walls = [1.0, 1.01, 0.99, 1.0, 1.02]
    base, head = interleaved(walls, walls)
    base = counted(base, [1000, 1010, 1020, 1005, 1015])
    head = counted(head, [1000, 1010, 1020, 1005, 1015])
    found = stats.compare_metric(base, head, "instructions", 0.01)
    assert found.method.startswith("unpaired") and found.verdict != "regression"


def test_merged_shards_whose_counts_disagree_are_judged_unstratified() -> None:
    """Two shards: one whose counts agreed (3 counted of 5 runs), one whose did not (all 5
    counted), and the two machines count 5% apart: 8 counts a side against 10 block labels,
    so the stratified test cannot line them up; the plain rank test judges them."""
    walls = [1.0, 1.01, 0.99, 1.0, 1.02, 1.01, 1.0, 0.98, 1.0, 1.01]
    base, head = interleaved(walls, walls)
    first = [1000, 1000, 1000, None, None]
    second = [1050, 1060, 1040, 1055, 1045]
    base, head = counted(base, first + second), counted(head, first + second)
    test = stratified.blocked_test([0] * 5 + [1] * 5, [0] * 5 + [1] * 5)
    found = stats.compare_metric(base, head, "instructions", 0.01, test=test)
    assert found.method.startswith("unpaired") and found.verdict != "regression"
    # Wall time, every run with its block, keeps the stratified test.
    assert stats.compare_metric(base, head, "wall_time", 0.05, test=test).method.startswith(
        "stratified"
    )


# --- the group-sequential design --------------------------------------------------------------

#: Lan-DeMets O'Brien-Fleming-type boundaries, one-sided 2.5%, equally spaced looks, as
#: tabulated in the group-sequential literature (e.g. gsDesign's sfLDOF, Jennison and
#: Turnbull's tables), to four decimals.
PUBLISHED = {
    2: (2.9626, 1.9686),
    3: (3.7103, 2.5114, 1.9930),
    4: (4.3326, 2.9631, 2.3590, 2.0141),
    5: (4.8769, 3.3569, 2.6803, 2.2898, 2.0310),
}


@pytest.mark.parametrize("looks", sorted(PUBLISHED))
def test_boundaries_match_the_published_tables(looks: int) -> None:
    fractions = tuple((k + 1) / looks for k in range(looks))
    found = sequential.boundaries(fractions, 0.025)
    assert found == pytest.approx(PUBLISHED[looks], abs=2e-4)


def test_boundaries_spend_the_level_as_promised_by_scipy() -> None:
    """The default looks (10, 15, 23, 30 of 30) at 1%: by scipy's multivariate normal,
    the chance of crossing by look k is the spending function's 2 - 2 Phi(z / sqrt(t))."""
    fractions = (10 / 30, 15 / 30, 23 / 30, 1.0)
    bounds = sequential.boundaries(fractions, 0.01)
    z = scipy_stats.norm.ppf(1 - 0.01 / 2)
    for k in range(2, 5):
        t = fractions[:k]
        cov = [[math.sqrt(min(a, b) / max(a, b)) for b in t] for a in t]
        stay = scipy_stats.multivariate_normal.cdf(
            list(bounds[:k]), mean=[0] * k, cov=cov, maxpts=10**6, abseps=1e-7, releps=1e-7
        )
        spent = 2 - 2 * scipy_stats.norm.cdf(z / math.sqrt(t[-1]))
        assert 1 - stay == pytest.approx(spent, abs=2e-5)


def test_a_single_look_is_the_fixed_level() -> None:
    look = sequential.Plan({}, 10, 10).look(10)
    assert look.regression_level == pytest.approx(0.01, rel=1e-6)
    assert look.equivalence_level == pytest.approx(0.025, rel=1e-6)
    assert look.final and look.index == look.count == 1


def test_early_looks_are_strict_and_the_last_near_the_level() -> None:
    plan = sequential.Plan({}, 10, 30)
    first, last = plan.look(10), plan.look(30)
    # First look: 2 - 2 Phi(2.5758 * sqrt(3)) by hand.
    normal = statistics.NormalDist()
    spent = 2 - 2 * normal.cdf(normal.inv_cdf(0.995) * math.sqrt(3))
    assert first.regression_level == pytest.approx(spent, rel=1e-6)
    assert not first.final and (first.index, first.count) == (1, 4)
    assert 0.008 < last.regression_level < 0.01 and last.final
    budget_stop = plan.look(20)  # between planned looks: a look of its own
    assert plan.look(15).regression_level < budget_stop.regression_level
    assert budget_stop.regression_level < plan.look(23).regression_level


def test_settings_that_cannot_reach_the_level_name_the_fewest_runs() -> None:
    assert 1 / math.comb(8, 4) > 0.01 > 1 / math.comb(10, 5)
    problem = sequential.Plan({}, 4, 4).unreachable()
    assert problem and "use at least 5 runs per side" in problem and "0.0143" in problem
    assert sequential.Plan({}, 5, 5).unreachable() is None
    assert sequential.Plan({}, 4, 30).unreachable() is None


@pytest.mark.parametrize("seed", range(4))
def test_one_sided_mann_whitney_matches_scipy(seed: int) -> None:
    rng = random.Random(seed)
    a = [rng.gauss(0, 1) for _ in range(rng.randint(4, 12))]
    b = [rng.gauss(0.8, 1) for _ in range(rng.randint(4, 12))]
    exact = scipy_stats.mannwhitneyu(b, a, alternative="greater", method="exact").pvalue
    assert ranks.mann_whitney_greater_p(a, b) == pytest.approx(exact, rel=1e-9)
    big_a = [rng.gauss(0, 1) for _ in range(60)]
    big_b = [round(rng.gauss(0.3, 1), 1) for _ in range(55)]  # ties: normal with correction
    asymptotic = scipy_stats.mannwhitneyu(
        big_b, big_a, alternative="greater", method="asymptotic"
    ).pvalue
    assert ranks.mann_whitney_greater_p(big_a, big_b) == pytest.approx(asymptotic, rel=1e-9)


def test_one_sided_mann_whitney_with_ties_is_the_exact_permutation_p() -> None:
    a, b = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [2.0, 3.0, 3.0, 4.0, 4.0, 5.0]
    reference = scipy_stats.permutation_test(
        (b, a),
        lambda x, y, axis: scipy_stats.mannwhitneyu(x, y, axis=axis).statistic,
        permutation_type="independent",
        alternative="greater",
        n_resamples=math.inf,
    ).pvalue
    assert ranks.mann_whitney_greater_p(a, b) == pytest.approx(reference, rel=1e-9)


def test_a_regression_found_is_never_above_the_detectable_change() -> None:
    """The demo's contradiction: a +33% regression printed with "could not have detected
    under 33.4%" (power against zero at 80%).  Now: the change this run calls a
    regression 80% of the time, given the threshold: max(log 1.05, z(0.99) se) +
    z(0.8) se on the log scale, se = the 95% interval's log width / (2 x 1.96)."""
    rng = random.Random(0)
    base = [0.4 * math.exp(rng.gauss(0, 0.12)) for _ in range(10)]
    head = [0.4 * 1.27 * math.exp(rng.gauss(0, 0.12)) for _ in range(10)]
    wall = by_metric(*interleaved(base, head))["wall_time"]
    assert wall.verdict == "regression"
    assert wall.detectable_change <= wall.change
    low, high = (math.log1p(v) for v in wall.ci)
    se = (high - low) / (2 * scipy_stats.norm.ppf(0.975))
    by_hand = max(math.log(1.05), scipy_stats.norm.ppf(0.99) * se) + scipy_stats.norm.ppf(0.8) * se
    assert wall.detectable_change == pytest.approx(math.expm1(by_hand), rel=1e-9)


def test_the_detectable_change_of_a_quiet_run_is_just_past_the_threshold() -> None:
    """With little noise the threshold binds: never a figure under it."""
    rng = random.Random(3)
    base, head = interleaved(noisy(rng, 20, 1.0, 0.003), noisy(rng, 20, 1.0, 0.003))
    wall = by_metric(base, head)["wall_time"]
    assert wall.verdict == "unchanged"
    assert 0.05 < wall.detectable_change < 0.06


def test_medians_that_jump_between_clusters_say_why() -> None:
    """Peak memory in two clusters (68 MB and 52 MB): base mostly high, head mostly low,
    yet the typical pair did not move (112 of 225 pairs equal, 64 lower, 49 higher: the
    95% interval is 0 ... 0); the medians (68 -> 52 MB) disagree with the shift, and the
    row must say so."""
    mb = 1e6
    base = Side("a", "", tuple(
        Sample(1, 1, 1, int(v * mb), 0, 2 * i) for i, v in enumerate([68] * 8 + [52] * 7)
    ))  # fmt: skip
    head = Side("b", "", tuple(
        Sample(1, 1, 1, int(v * mb), 0, 2 * i + 1) for i, v in enumerate([68] * 7 + [52] * 8)
    ))  # fmt: skip
    memory = stats.compare(base, head, THRESHOLDS)[2]
    assert memory.metric == "peak_memory"
    assert memory.base_median == 68 * mb and memory.head_median == 52 * mb
    assert memory.ci == (0.0, 0.0) and memory.change == 0.0
    assert memory.verdict == "unchanged" and "clusters" in memory.note
    assert stats.clusters([68 * mb] * 8 + [52 * mb] * 7) == [(52 * mb, 7), (68 * mb, 8)]
    quiet = Side("c", "", tuple(Sample(1, 1, 1, 60_000_000, 0, 2 * i) for i in range(6)))
    assert stats.compare(quiet, quiet, THRESHOLDS)[2].note == ""
    assert stats.clusters([1.0, 1.01, 0.99, 1.02]) == [(1.005, 4)]


def test_settled_stops_for_a_regression_whatever_the_other_metrics_say() -> None:
    rng = random.Random(16)
    base, head = interleaved(noisy(rng, 10, 1.0, 0.3), noisy(rng, 10, 1.0, 0.3), (1e7, 3e7))
    comparisons = {c.metric: c for c in stats.compare(base, head, THRESHOLDS)}
    assert comparisons["peak_memory"].verdict == "regression"
    assert comparisons["wall_time"].verdict == "inconclusive"
    assert stats.settled(tuple(comparisons.values()))


def test_before_the_last_look_a_regression_must_be_past_the_threshold_beyond_doubt() -> None:
    """+6.5% with 1.2% noise at the first of looks 10, 15, 23, 30: every head run is above
    every base run (p = 1/C(20, 10) = 5.4e-6, under the look's 8.1e-6) and the shift is
    past 5%, but the smallest head/base ratio is under 1.05, so the one-sided bound at
    the look's level (the smallest of the 100 ratios) does not clear the threshold:
    not yet.  The same runs at a last look are a regression."""
    rng = random.Random(0)
    base = [math.exp(rng.gauss(0, 0.012)) for _ in range(10)]
    head = [1.065 * math.exp(rng.gauss(0, 0.012)) for _ in range(10)]
    assert min(head) > max(base) and 1 / math.comb(20, 10) < 8.1e-6
    assert min(y / x for x in base for y in head) < 1.05
    assert statistics.median(y / x for x in base for y in head) > 1.05
    sides = interleaved(base, head)
    early = sequential.Plan(THRESHOLDS, 10, 30).look(10)
    assert stats.compare_metric(*sides, "wall_time", 0.05, early).verdict == "inconclusive"
    assert stats.compare_metric(*sides, "wall_time", 0.05).verdict == "regression"


def _moses_k(m: int, n: int, tail: float) -> int:
    """Largest k with P(U < k) <= tail, U counted by brute force over every arrangement."""
    counts = collections.Counter(
        sum(ranks) - m * (m + 1) // 2 for ranks in itertools.combinations(range(1, m + n + 1), m)
    )
    total, below, k = sum(counts.values()), 0, 0
    while (below + counts[k]) / total <= tail:
        below += counts[k]
        k += 1
    return k


def test_before_the_last_look_unchanged_needs_half_the_threshold() -> None:
    """Identical code with 1.2% noise at the first look: its interval (one-sided 1.04e-4 a
    side: the 6th smallest and largest of the 100 log ratios, by brute force) lies within
    +-5% but not within +-2.5%: unchanged only at a last look."""
    rng = random.Random(0)
    base = noisy(rng, 10, 1.0, 0.012)
    head = noisy(rng, 10, 1.0, 0.012)
    early = sequential.Plan(THRESHOLDS, 10, 30).look(10)
    normal = statistics.NormalDist()  # the first look spends 2 - 2 Phi(z(1 - 0.025/2) sqrt(3))
    spent = 2 - 2 * normal.cdf(normal.inv_cdf(1 - 0.025 / 2) * math.sqrt(3))
    assert early.equivalence_level == pytest.approx(spent, rel=1e-9)
    k = _moses_k(10, 10, spent)
    assert k == 6
    ratios = sorted(math.log(y / x) for x in base for y in head)
    low, high = ratios[k - 1], ratios[-k]
    assert -math.log(1.05) < low and high < math.log(1.05)
    assert not (-math.log(1.025) < low and high < math.log(1.025))
    sides = interleaved(base, head)
    assert stats.compare_metric(*sides, "wall_time", 0.05, early).verdict == "inconclusive"
    assert stats.compare_metric(*sides, "wall_time", 0.05).verdict == "unchanged"


def test_more_runs_than_planned_are_one_last_look() -> None:
    """A results file with more runs than its max-runs (written by hand, or an older
    perfgate) is judged at the last look, never at a look of zero width."""
    look = sequential.Plan({}, 10, 30).look(35)
    assert (
        look.final
        and look.regression_level == sequential.Plan({}, 10, 30).look(30).regression_level
    )


def test_more_pairs_than_counting_can_afford_are_judged_as_two_samples() -> None:
    """Up to stats.MAX_PAIRS (100) pairs the coin flips judge; at 101 the two-sample test."""
    rng = random.Random(8)
    for n, method in ((100, "paired"), (101, "unpaired")):
        walls = noisy(rng, n, 1.0, 0.02)
        base, head = interleaved(walls, [w * 1.3 for w in walls])
        found = stats.compare_metric(base, head, "wall_time", 0.05)
        assert found.method.startswith(method) and found.verdict == "regression"


def test_runs_that_never_shared_a_coin_flip_are_not_paired() -> None:
    """Two recordings each numbered from 0: base at 2k and head at 2k is no pair; and
    instruction counts, counted base before head, are never judged against coin flips."""
    walls = [1.0, 1.01, 0.99, 1.0, 1.02, 1.01, 1.0, 0.98, 1.0, 1.01]
    base, head = interleaved(walls, [w * 1.3 for w in walls])
    assert stats.paired_values(base, head, "wall_time") is not None
    both_even = Side("b", "", tuple(_sample(w * 1.3, 1e7, 2 * k) for k, w in enumerate(walls)))
    base_even = Side("a", "", tuple(_sample(w, 1e7, 2 * k) for k, w in enumerate(walls)))
    assert stats.paired_values(base_even, both_even, "wall_time") is None
    assert stats.compare_metric(base_even, both_even, "wall_time", 0.05).method.startswith(
        "unpaired"
    )
    counts = [1000, 1010, 1020, 1005, 1015, 1000, 1010, 1020, 1005, 1015]
    found = stats.compare_metric(
        counted(base, counts), counted(head, [c * 2 for c in counts]), "instructions", 0.01
    )
    assert found.method.startswith("unpaired") and found.verdict == "regression"
