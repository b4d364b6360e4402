"""Estimators, intervals, tests and verdicts: numbers in, dataclasses out (pure)."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..results import Comparison, Side, measured_metrics


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


# --- Distribution-free tests and intervals --------------------------------------------------
#
# Why rank methods: run times are skewed (a run can be much slower, never much
# faster) and shared runners throw outliers; ranks are not moved by either.
# Why logs: a slowdown multiplies run time, so on the log scale it is a shift,
# which is what the Hodges-Lehmann estimators measure.

#: Whether interleaved runs are compared pair by pair (Wilcoxon signed-rank on
#: the log-ratios) or as two samples (Mann-Whitney U).  Tuned on the noise
#: corpus: the unpaired test found more at every run count at equal or fewer
#: false alarms (a 5% slowdown at 20 runs: 80% against 68%; 10%: 97% against
#: 88%), because a single burst spoils a whole pair's difference but only one
#: rank of the unpaired test.  The interleaving still matters: alternating runs
#: let drift hit both sides alike, so the unpaired comparison is not biased by it.
PAIRED = False
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


@functools.lru_cache(maxsize=256)
def _signed_rank_counts(n: int) -> tuple[int, ...]:
    """How many of the 2^n sign patterns give each rank sum T+ = 0 .. n(n+1)/2."""
    counts = [1]
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for t, c in enumerate(counts):
            grown[t + rank] += c
        counts = grown
    return tuple(counts)


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


def signed_rank_p(differences: Sequence[float], tail: str = "two-sided") -> float:
    """Wilcoxon signed-rank p-value, two-sided or that the differences tend to be positive
    (`greater`); zero differences are dropped (as scipy's zero_method='wilcox').  Exact
    (with ties: over the mid-ranks) up to the limits, normal with tie correction beyond."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks, ties = _ranks([abs(d) for d in nonzero])
    t_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if n <= EXACT_LIMIT and all(t == 1 for t in ties):
        return _tail_p(_signed_rank_counts(n), t_plus, n * (n + 1) / 4, tail)
    if n <= EXACT_TIES_LIMIT:
        doubled = [round(2 * r) for r in ranks]
        return _tail_p(_subset_sums(doubled), round(2 * t_plus), sum(doubled) / 2, tail)
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties) / 48
    return _normal_p(t_plus, n * (n + 1) / 4, var, tail)


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


def signed_rank_greater_p(differences: Sequence[float]) -> float:
    """One-sided p-value that the differences (head - base) tend to be positive."""
    return signed_rank_p(differences, "greater")


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


def walsh_interval(
    differences: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """Hodges-Lehmann estimate of a paired shift (median of the Walsh averages) and its
    distribution-free interval from the signed-rank distribution."""
    differences = _thinned(differences)
    n = len(differences)
    walsh = sorted((differences[i] + differences[j]) / 2 for i in range(n) for j in range(i, n))
    alpha = 1 - confidence
    if n <= EXACT_LIMIT:
        k = _critical_count(_signed_rank_counts(n), alpha)
    else:
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        k = int(math.floor(n * (n + 1) / 4 - _norm_ppf(1 - alpha / 2) * sd))
    low, high = _interval_from_sorted(walsh, k)
    return statistics.median(walsh), low, high


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


# --- Planned looks, and how they spend the error ----------------------------------------------
#
# A gate looks at its data at a few planned run counts and stops adding runs
# once the verdict is settled.  Testing at the full level at every look would
# multiply false alarms (and "unchanged" calls of real changes); testing at
# level / looks (Bonferroni) wastes most of the level on early looks that can
# hardly use it.  perfgate uses a group-sequential design instead: the level
# is spent over the looks by the Lan-DeMets spending function of O'Brien-
# Fleming type, which spends almost nothing early (4.3 standard errors needed
# at a third of the runs) and keeps the last look close to the fixed-run level.
# The boundaries are the exact ones of the canonical joint normal distribution
# of the look statistics (Armitage, McPherson and Rowe's recursive integration),
# and each look's p-value is compared with the nominal level of its boundary.
# docs/statistics.md writes the whole procedure down.

#: One-sided level of the regression test, per metric, over all the looks of a gate.
#: A gate that cries wolf gets switched off: 1%, not 5%.
ALPHA = 0.01
#: One-sided error of calling a change of the threshold's size `unchanged`, over all
#: the looks: the 95% interval of a fixed-run comparison has 2.5% on each side.
EQUIVALENCE = 0.025
#: Before the last look, `unchanged` needs the interval within this share of the
#: threshold: the intervals' coverage on real, bursty noise is a little below nominal
#: (bench/error_rates.py), and every early look is one more chance to be fooled.
INTERIM_MARGIN = 0.5
#: Power at which `detectable_change` is stated.
POWER = 0.8


def obrien_fleming_spent(fraction: float, level: float) -> float:
    """Error spent by the time `fraction` of the runs are in: 2 - 2 Phi(z(1 - level/2) /
    sqrt(fraction)) (Lan and DeMets 1983); all of `level` at the last look."""
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return level
    return min(level, 2 - 2 * _NORMAL.cdf(_NORMAL.inv_cdf(1 - level / 2) / math.sqrt(fraction)))


_NORMAL = statistics.NormalDist()
#: Simpson intervals per look in the recursive integration: enough for boundaries to 4
#: decimals (checked against published Lan-DeMets tables in tests/test_stats.py).
_GRID = 120


def _simpson(low: float, high: float, intervals: int) -> tuple[list[float], list[float]]:
    h = (high - low) / intervals
    xs = [low + i * h for i in range(intervals + 1)]
    ws = [(1 if i in (0, intervals) else 4 if i % 2 else 2) * h / 3 for i in range(intervals + 1)]
    return xs, ws


@functools.lru_cache(maxsize=128)
def boundaries(fractions: tuple[float, ...], level: float) -> tuple[float, ...]:
    """z boundaries of a one-sided group-sequential test at the given information
    fractions (0 < t1 < ... <= 1) that spend `level` by `obrien_fleming_spent`.

    The score W(t) is Brownian motion; its density on the region where no look has
    stopped is carried from look to look (a Gaussian step of variance t_k - t_(k-1)),
    and each boundary is the one whose crossing probability is the look's share.
    """
    found: list[float] = []
    density: tuple[list[float], list[float], list[float]] | None = None
    previous_t = previous_spent = 0.0
    for t in fractions:
        share = obrien_fleming_spent(t, level) - previous_spent
        step = math.sqrt(t - previous_t)
        if density is None:
            bound = _NORMAL.inv_cdf(1 - share) * math.sqrt(t)
        else:
            xs, ws, fs = density
            mass = [w * f for w, f in zip(ws, fs, strict=True)]

            def crossing(b: float, xs=xs, mass=mass, step=step) -> float:
                return sum(a * _norm_sf((b - x) / step) for x, a in zip(xs, mass, strict=True))

            low, high = -10.0, 12.0
            for _ in range(50):
                mid = (low + high) / 2
                low, high = (mid, high) if crossing(mid) > share else (low, mid)
            bound = (low + high) / 2
        found.append(bound / math.sqrt(t))
        nxs, nws = _simpson(-8 * math.sqrt(t), bound, _GRID)
        if density is None:
            scale = math.sqrt(t)
            norm = 1 / (scale * math.sqrt(2 * math.pi))
            nfs = [norm * math.exp(-0.5 * (x / scale) ** 2) for x in nxs]
        else:
            nfs = [_carried(y, xs, mass, step) for y in nxs]
        density = (nxs, nws, nfs)
        previous_t, previous_spent = t, obrien_fleming_spent(t, level)
    return tuple(found)


def _carried(y: float, xs: Sequence[float], mass: Sequence[float], step: float) -> float:
    """Density at y of the score one Gaussian step (sd `step`) after the points `xs`."""
    total = sum(a * math.exp(-0.5 * ((y - x) / step) ** 2) for x, a in zip(xs, mass, strict=True))
    return total / (step * math.sqrt(2 * math.pi))


def looks(runs: int, max_runs: int) -> list[int]:
    """Run counts at which an adaptive gate looks at its data: `runs`, then about
    1.5 times more each time, up to `max_runs` (10, 15, 23, 30 by default)."""
    points = [runs]
    while points[-1] < max_runs:
        points.append(min(max_runs, math.ceil(points[-1] * 1.5)))
    return points


@dataclass(frozen=True)
class Look:
    """Where a comparison stands in its gate's looks, and the levels it is judged at.

    `regression_level` is the one-sided p-value a change must reach at this look;
    `equivalence_level` the one-sided error of each end of the interval that must lie
    within the threshold for `unchanged`.  A fixed-run comparison is one final look.
    """

    runs: int
    index: int = 1
    count: int = 1
    regression_level: float = ALPHA
    equivalence_level: float = EQUIVALENCE
    final: bool = True


FIXED = Look(runs=0)


@dataclass(frozen=True)
class Plan:
    """How a gate decides: thresholds per metric, the planned looks, the levels.

    The gate and `perfgate compare` both build the verdict from a Plan and the
    samples (`judge`), so that a gate's results re-judged give the gate's verdict.
    """

    thresholds: Mapping[str, float]
    runs: int
    max_runs: int
    level: float = ALPHA
    equivalence: float = EQUIVALENCE

    @classmethod
    def fixed(cls, thresholds: Mapping[str, float], runs: int) -> Plan:
        """One look at `runs` (two saved runs compared, or runs == max-runs)."""
        return cls(dict(thresholds), runs, runs)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], thresholds: Mapping[str, float]) -> Plan:
        """The plan a gate recorded in its results' settings (see `settings`)."""
        runs, max_runs = int(settings["runs"]), int(settings["max_runs"])
        level = float(settings.get("level", ALPHA))
        equivalence = float(settings.get("equivalence_level", EQUIVALENCE))
        return cls(dict(thresholds), runs, max_runs, level, equivalence)

    def settings(self) -> dict[str, Any]:
        """What the results JSON records, so that the verdict can be re-judged exactly."""
        return {
            "level": self.level,
            "equivalence_level": self.equivalence,
            "looks": self.looks(),
            "spending": "O'Brien-Fleming (Lan-DeMets), one-sided, per metric",
        }

    def looks(self) -> list[int]:
        return looks(self.runs, self.max_runs)

    def look(self, runs: int) -> Look:
        """The look at `runs` runs per side: the planned looks below it were taken, and
        this one is final when it reaches max-runs.  A gate stopped between planned looks
        (by its time budget) is judged at a look of its own: spending functions allow
        looks at any time, as long as the levels follow from the fractions alone."""
        taken = [n for n in self.looks() if n < min(runs, self.max_runs)] + [runs]
        fractions = tuple(min(1.0, n / self.max_runs) for n in taken)
        regression = boundaries(fractions, self.level)[-1]
        equivalence = boundaries(fractions, self.equivalence)[-1]
        return Look(
            runs=runs,
            index=len(taken),
            count=max(len(taken), len(self.looks())),
            regression_level=_norm_sf(regression),
            equivalence_level=_norm_sf(equivalence),
            final=runs >= self.max_runs,
        )

    def unreachable(self) -> str | None:
        """Why these settings can never find a regression, or None when they can.

        With n runs a side the smallest p-value is 1 / C(2n, n); when even the last
        look's level is below it, a threefold slowdown would pass as inconclusive.
        """
        last = self.look(self.max_runs)
        if smallest_p(self.max_runs, self.max_runs) <= last.regression_level:
            return None
        fewest = self.max_runs
        while (
            smallest_p(fewest, fewest)
            > Plan(self.thresholds, min(self.runs, fewest), fewest, self.level, self.equivalence)
            .look(fewest)
            .regression_level
        ):
            fewest += 1
        key = "max-runs" if self.max_runs > self.runs else "runs"
        return (
            f"{key}: {self.max_runs} runs per side can never show a regression at the "
            f"{self.level:.0%} level (the smallest p-value of {self.max_runs} runs a side is "
            f"{smallest_p(self.max_runs, self.max_runs):.3g}, the last look needs "
            f"{last.regression_level:.3g} or less); use at least {fewest} runs per side"
        )


# --- Comparing two sides ----------------------------------------------------------------------


def paired_values(base: Side, head: Side, metric: str) -> list[tuple[float, float]] | None:
    """(base, head) values of each interleaved pair, or None when the runs do not pair.

    Runs 2k and 2k + 1 of the schedule form pair k.  Two separately recorded
    runs (`perfgate compare a.json b.json`) number their runs from 0 each and
    do not pair: their orders collide.
    """
    by_pair: dict[int, dict[str, float]] = {}
    for name, side in (("base", base), ("head", head)):
        for sample in side.samples:
            if sample.order < 0:
                return None
            slot = by_pair.setdefault(sample.order // 2, {})
            if name in slot:
                return None
            slot[name] = sample.value(metric)
    if not by_pair or any(len(slot) != 2 for slot in by_pair.values()):
        return None
    return [(slot["base"], slot["head"]) for _, slot in sorted(by_pair.items())]


#: Fewest runs per side for a 95% interval: with 3 and 3 no order statistic of the
#: pairwise differences reaches 95% coverage (the best is 90%).
MIN_RUNS = 4
#: Below this base median a time is too short to compare as a ratio: timers and CPU
#: accounting resolve about a millisecond, and 0 s against 4 ms is no percentage.
TIME_FLOOR_S = 0.001


def use_pairs(pairs: int, alpha: float) -> bool:
    """Pair the runs once there are enough pairs for the signed-rank test to reach
    `alpha` without every pair agreeing (its smallest p is 1 / 2^n); below that the
    unpaired test resolves more (5 runs a side can reach p = 0.004)."""
    return pairs >= math.log2(4 / alpha)  # 1 / 2^n <= alpha / 4


def too_short(metric: str, a: Sequence[float], b: Sequence[float]) -> str | None:
    """Why base and head cannot be compared as a relative change, or None."""
    if any(v <= 0 for v in a) or any(v <= 0 for v in b):
        return "too short to compare: some runs measured 0"
    if metrics.unit(metric) == metrics.SECONDS and statistics.median(a) < TIME_FLOOR_S:
        return f"too short to compare: the base median is under {TIME_FLOOR_S * 1e3:g} ms"
    return None


#: A rank test other than the two built in (stratified.blocked_test): the logs of base and
#: head in, the one-sided p-values (head higher, head lower), the shift with its interval
#: at a confidence, and the method's name out.
RankTest = Callable[
    [Sequence[float], Sequence[float]],
    tuple[float, float, Callable[[float], tuple[float, float, float]], str],
]


def compare_metric(
    base: Side,
    head: Side,
    metric: str,
    threshold: float,
    look: Look = FIXED,
    *,
    paired: bool = PAIRED,
    test: RankTest | None = None,
) -> Comparison:
    """Base against head for one metric at one look, by the rules of docs/statistics.md.

    `change` is the Hodges-Lehmann estimate of the relative shift (the median of
    all head/base ratios, minus one), from the same ranks as its interval and its
    p-value, so that a reader never sees an estimate its own interval rules out.
    With `paired`, interleaved runs are compared pair by pair once there are enough
    pairs (see PAIRED for why that is not the default).  A `test` replaces both: the
    merged shards' stratified test is judged by these same rules.
    """
    a, b = base.values(metric), head.values(metric)
    if len(a) < MIN_RUNS or len(b) < MIN_RUNS:
        raise ValueError(
            f"{metric}: need at least {MIN_RUNS} runs per side for a 95% interval, "
            f"got {len(a)} and {len(b)}"
        )
    base_median, head_median = statistics.median(a), statistics.median(b)
    short = too_short(metric, a, b)
    if short:
        nan = math.nan
        return Comparison(
            metric, base_median, head_median, nan, (nan, nan), nan, threshold, "too short",
            None, "", look.regression_level, short,
        )  # fmt: skip
    xs, ys = [math.log(v) for v in a], [math.log(v) for v in b]
    pairs = paired_values(base, head, metric) if paired and test is None else None
    if test is not None:
        greater, less, interval, method = test(xs, ys)
    elif pairs is not None and use_pairs(len(pairs), look.regression_level):
        differences = [math.log(h) - math.log(x) for x, h in pairs]
        greater = signed_rank_greater_p(differences)
        less = signed_rank_greater_p([-d for d in differences])

        def interval(confidence: float) -> tuple[float, float, float]:
            return walsh_interval(differences, confidence)

        method = "paired: Wilcoxon signed-rank, Hodges-Lehmann interval"
    else:
        greater, less = mann_whitney_greater_p(xs, ys), mann_whitney_greater_p(ys, xs)

        def interval(confidence: float) -> tuple[float, float, float]:
            return moses_interval(xs, ys, confidence)

        method = "unpaired: Mann-Whitney U, Hodges-Lehmann (Moses) interval"
    estimate, low, high = interval(CONFIDENCE)
    _, eq_low, eq_high = interval(1 - 2 * look.equivalence_level)
    # Before the last look a change must be past the threshold beyond doubt, not only
    # past zero: else each early look is one more chance for a sub-threshold change's
    # noisy estimate to cross the threshold (docs/statistics.md).
    beyond = (-math.inf, math.inf) if look.final else interval(1 - 2 * look.regression_level)[1:]
    p_value = greater if estimate >= 0 else less
    log_threshold = math.log1p(threshold)
    margin = log_threshold if look.final else math.log1p(threshold * INTERIM_MARGIN)
    up = estimate > log_threshold and (look.final or beyond[0] > log_threshold)
    down = estimate < -log_threshold and (look.final or beyond[1] < -log_threshold)
    if greater <= look.regression_level and up:
        verdict = "regression"
    elif less <= look.regression_level and down:
        verdict = "improvement"
    elif -margin <= eq_low and eq_high <= margin:
        verdict = "unchanged"
    else:
        verdict = "inconclusive"
    detectable = _detectable(low, high, log_threshold, look.regression_level)
    if verdict == "regression":
        detectable = min(detectable, estimate)  # it did detect this one
    return Comparison(
        metric=metric,
        base_median=base_median,
        head_median=head_median,
        change=math.expm1(estimate),
        ci=(math.expm1(low), math.expm1(high)),
        p_value=p_value,
        threshold=threshold,
        verdict=verdict,
        detectable_change=math.expm1(detectable),
        method=method,
        alpha=look.regression_level,
        note=medians_note(base_median, head_median, math.expm1(low), math.expm1(high)),
    )


def _detectable(low: float, high: float, log_threshold: float, level: float) -> float:
    """The log change this run calls a regression with probability POWER.

    A regression needs the estimate beyond the threshold and z beyond the look's
    boundary; with standard error se (the 95% interval is 2 x 1.96 se wide) a true
    change of max(threshold, z_level * se) + z_power * se clears both POWER of the time.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return math.inf
    se = (high - low) / (2 * _NORMAL.inv_cdf(1 - (1 - CONFIDENCE) / 2))
    return max(log_threshold, _NORMAL.inv_cdf(1 - level) * se) + _NORMAL.inv_cdf(POWER) * se


def medians_note(base: float, head: float, low: float, high: float) -> str:
    """Why the medians say something else than the shift, when they do.

    The shift compares every head run with every base run; the medians pick one
    run each.  With two clusters of runs (warm and cold caches, a bimodal peak
    memory) a median can jump between clusters while most runs did not move.
    """
    if base <= 0 or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    of_medians = head / base - 1
    if low - 1e-12 <= of_medians <= high + 1e-12:
        return ""
    return (
        f"the medians moved by {of_medians:+.1%}, outside the interval of the shift: "
        "the runs fall in clusters and the medians jumped between them (see the runs)"
    )


def clusters(values: Sequence[float]) -> list[tuple[float, int]]:
    """The runs as one cluster, or two when a gap splits them clearly: (median, runs) each,
    lowest first.  Two clusters need 2 runs each and a gap over 3 times either's spread
    (warm and cold caches; a peak memory that depends on when a collection ran)."""
    ordered = sorted(values)
    whole = [(statistics.median(ordered), len(ordered))] if ordered else []
    if len(ordered) < 4:
        return whole
    gaps = [ordered[i + 1] - ordered[i] for i in range(len(ordered) - 1)]
    at = max(range(len(gaps)), key=gaps.__getitem__) + 1
    low, high = ordered[:at], ordered[at:]
    spread = max(low[-1] - low[0], high[-1] - high[0])
    if min(len(low), len(high)) < 2 or gaps[at - 1] <= 3 * spread:
        return whole
    return [(statistics.median(low), len(low)), (statistics.median(high), len(high))]


def decide(
    change: float, ci: tuple[float, float], p_value: float, threshold: float, alpha: float = ALPHA
) -> str:
    """The two-sided rule of the per-test and per-import evidence (compare/tests.py,
    compare/imports.py): significant and beyond the threshold, or inside it, or unknown."""
    low, high = ci
    significant = p_value < alpha
    if significant and change > threshold and low > 0:
        return "regression"
    if significant and change < -threshold and high < 0:
        return "improvement"
    if -threshold <= low and high <= threshold:
        return "unchanged"
    return "inconclusive"


def compare(
    base: Side,
    head: Side,
    thresholds: Mapping[str, float],
    look: Look = FIXED,
    *,
    paired: bool = PAIRED,
    test: RankTest | None = None,
) -> tuple[Comparison, ...]:
    """One comparison per metric of the registry that both sides measured (instructions
    only when counted), each judged at `look`."""
    return tuple(
        compare_metric(base, head, m, thresholds[m], look, paired=paired, test=test)
        for m in measured_metrics(base, head)
    )


def gate_verdict(comparisons: Sequence[Comparison]) -> str:
    """`fail` when any metric regressed, else `pass`."""
    return "fail" if any(c.verdict == "regression" for c in comparisons) else "pass"


def settled(comparisons: Sequence[Comparison]) -> bool:
    """Whether more runs could still change the gate's outcome: a regression found at a
    look fails the gate whatever the other metrics would say, and with none, the gate is
    settled once no metric is inconclusive."""
    if any(c.verdict == "regression" for c in comparisons):
        return True
    return all(c.verdict != "inconclusive" for c in comparisons)


@dataclass(frozen=True)
class Judgement:
    """A gate's decision at one look: every metric, the verdict, and whether to stop."""

    comparisons: tuple[Comparison, ...]
    verdict: str
    settled: bool
    look: Look


def judge(
    base: Side, head: Side, plan: Plan, *, paired: bool = PAIRED, test: RankTest | None = None
) -> Judgement:
    """The verdict of base against head under `plan`, at the look their run count is.

    The one function that decides: the gate at each planned look and at its end,
    and `perfgate compare` on the gate's results, so that both always agree.
    """
    runs = min(len(base.samples), len(head.samples))
    look = plan.look(runs)
    comparisons = compare(base, head, plan.thresholds, look, paired=paired, test=test)
    return Judgement(comparisons, gate_verdict(comparisons), settled(comparisons), look)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: testing 500 tests at once must not find
    25 culprits by chance, and Holm controls that without assuming independence."""
    m = len(p_values)
    order = sorted(range(m), key=p_values.__getitem__)
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


# --- Noise that a reader should know about ---------------------------------------------------

#: Coefficient of variation above which timings are too noisy to trust.
NOISY_CV = 0.10
#: Spearman correlation of value with run order above which a side drifts.
DRIFT_RHO = 0.6


#: An outlier must also be this far from the median, relatively: a run 0.5%
#: off a very quiet median is not worth a reader's attention.
OUTLIER_MIN_DEVIATION = 0.05


def outliers(values: Sequence[float]) -> list[int]:
    """Indices of values more than 3.5 robust standard deviations (and 5%) from the median."""
    if len(values) < 5:
        return []
    centre = statistics.median(values)
    mad = statistics.median(abs(v - centre) for v in values) * 1.4826
    if mad == 0:
        return []
    return [
        i
        for i, v in enumerate(values)
        if abs(v - centre) / mad > 3.5 and abs(v - centre) > OUTLIER_MIN_DEVIATION * abs(centre)
    ]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Rank correlation; 0 when either side is constant."""
    rx, _ = _ranks(x)
    ry, _ = _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def noise_warnings(side: Side, name: str = "") -> list[str]:
    """What makes this side's timings hard to trust, in words for the report."""
    label = name or side.ref or "runs"
    warnings = []
    walls = side.values("wall_time")
    if len(walls) >= 2:
        summary = summarize(walls)
        if summary.cv > NOISY_CV:
            warnings.append(
                f"{label}: wall time varies a lot between runs (CV {summary.cv:.0%})"
            )  # what to do about it is the report's advice, said once
        flagged = outliers(walls)
        if flagged:
            warnings.append(f"{label}: {len(flagged)} outlier run(s) in wall time")
        if len(walls) >= 8:
            rho = spearman([float(s.order) for s in side.samples], walls)
            if abs(rho) > DRIFT_RHO:
                trend = "slower" if rho > 0 else "faster"
                warnings.append(
                    f"{label}: runs got {trend} over time (rank correlation {rho:+.2f}); "
                    "the machine drifted"
                )
    return warnings
