"""Estimators, intervals, tests and verdicts: numbers in, dataclasses out (pure)."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .results import Comparison, Side, measured_metrics


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

#: Significance level of a whole gate, split evenly over its looks at the data
#: (see `looks`).  A gate that cries wolf gets switched off: 1%, not 5%.  Tuned
#: on the noise corpus (bench/decision_rules.py --tune): 2% pushes false alarms
#: to 1.0-1.3% at 10 runs; 1% keeps every cell at or under 0.7%.
ALPHA = 0.01
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
#: The z that separates "could have detected" from "could not": 80% power.
Z_POWER = 0.8416212335729143


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


def _two_sided_exact(counts: Sequence[int], statistic: float) -> float:
    total = sum(counts)
    centre = (len(counts) - 1) / 2
    distance = abs(statistic - centre)
    extreme = sum(c for s, c in enumerate(counts) if abs(s - centre) >= distance - 1e-9)
    return min(1.0, extreme / total)


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


def _two_sided_from_sums(counts: Mapping[int, int], observed: int, mean: float) -> float:
    distance = abs(observed - mean)
    extreme = sum(c for total, c in counts.items() if abs(total - mean) >= distance - 1e-9)
    return min(1.0, extreme / sum(counts.values()))


def signed_rank_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zero differences are dropped (as scipy's
    zero_method='wilcox').  Exact (with ties: over the mid-ranks) up to the limits,
    normal with tie correction beyond."""
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks, ties = _ranks([abs(d) for d in nonzero])
    t_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if n <= EXACT_LIMIT and all(t == 1 for t in ties):
        return _two_sided_exact(_signed_rank_counts(n), t_plus)
    if n <= EXACT_TIES_LIMIT:
        doubled = [round(2 * r) for r in ranks]
        return _two_sided_from_sums(_subset_sums(doubled), round(2 * t_plus), sum(doubled) / 2)
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties) / 48
    if var <= 0:
        return 1.0
    z = max(abs(t_plus - mean) - 0.5, 0) / math.sqrt(var)
    return min(1.0, 2 * _norm_sf(z))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value: exact without ties (up to EXACT_LIMIT per side),
    exact over the mid-ranks with ties (up to EXACT_TIES_LIMIT runs in all), else normal
    with tie and continuity correction (scipy's 'asymptotic')."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return 1.0
    ranks, ties = _ranks(list(a) + list(b))
    u = sum(ranks[:m]) - m * (m + 1) / 2
    if max(m, n) <= EXACT_LIMIT and all(t == 1 for t in ties):
        return _two_sided_exact(_rank_sum_counts(m, n), u)
    total = m + n
    if total <= EXACT_TIES_LIMIT:
        doubled = [round(2 * r) for r in ranks]
        observed = sum(doubled[:m])
        return _two_sided_from_sums(_subset_sums(doubled, m), observed, m * sum(doubled) / total)
    var = m * n / 12 * ((total + 1) - sum(t**3 - t for t in ties) / (total * (total - 1)))
    if var <= 0:
        return 1.0
    z = max(abs(u - m * n / 2) - 0.5, 0) / math.sqrt(var)
    return min(1.0, 2 * _norm_sf(z))


def _interval_from_sorted(values: list[float], k: int) -> tuple[float, float]:
    k = max(k, 1)
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


def looks(runs: int, max_runs: int) -> list[int]:
    """Run counts at which an adaptive gate looks at its data: `runs`, then about
    1.5 times more each time, up to `max_runs`.

    Testing after every added pair and stopping at the first `regression` would
    multiply false alarms; a few planned looks, each at ALPHA / len(looks)
    (Bonferroni), keep the whole gate at ALPHA while clear changes stop early.
    """
    points = [runs]
    while points[-1] < max_runs:
        points.append(min(max_runs, math.ceil(points[-1] * 1.5)))
    return points


def use_pairs(pairs: int, alpha: float) -> bool:
    """Pair the runs once there are enough pairs for the signed-rank test to reach
    `alpha` without every pair agreeing (its smallest p is 2 / 2^n); below that the
    unpaired test resolves more (5 runs a side can reach p = 0.008)."""
    return pairs >= math.log2(8 / alpha)  # 2 / 2^n <= alpha / 4


def compare_metric(
    base: Side,
    head: Side,
    metric: str,
    threshold: float,
    alpha: float = ALPHA,
    *,
    paired: bool = PAIRED,
) -> Comparison:
    """Base against head for one metric, decided by the rules of DESIGN.md.

    `change` is the Hodges-Lehmann estimate of the relative shift (the median of
    the pairwise log-ratios), from the same method as its interval and p-value,
    so that a reader never sees an estimate its own interval rules out.  With
    `paired`, interleaved runs are compared pair by pair once there are enough
    pairs (see PAIRED for why that is not the default).
    """
    a, b = base.values(metric), head.values(metric)
    if len(a) < MIN_RUNS or len(b) < MIN_RUNS:
        raise ValueError(
            f"{metric}: need at least {MIN_RUNS} runs per side for a 95% interval, "
            f"got {len(a)} and {len(b)}"
        )
    pairs = paired_values(base, head, metric) if paired else None
    to_scale, from_scale = _scale(a, b)
    if pairs is not None and use_pairs(len(pairs), alpha):
        differences = [to_scale(h) - to_scale(x) for x, h in pairs]
        p_value = signed_rank_p(differences)
        estimate, low, high = walsh_interval(differences)
        method = "paired: Wilcoxon signed-rank, Hodges-Lehmann interval"
    else:
        p_value = mann_whitney_p(a, b)
        estimate, low, high = moses_interval([to_scale(x) for x in a], [to_scale(y) for y in b])
        method = "unpaired: Mann-Whitney U, Hodges-Lehmann (Moses) interval"
    change, ci = from_scale(estimate), (from_scale(low), from_scale(high))
    return Comparison(
        metric=metric,
        base_median=statistics.median(a),
        head_median=statistics.median(b),
        change=change,
        ci=ci,
        p_value=p_value,
        threshold=threshold,
        verdict=decide(change, ci, p_value, threshold, alpha),
        detectable_change=detectable_change(ci, alpha),
        method=method,
    )


def decide(
    change: float, ci: tuple[float, float], p_value: float, threshold: float, alpha: float = ALPHA
) -> str:
    """The verdict rules: significant and beyond the threshold, or inside it, or unknown."""
    low, high = ci
    significant = p_value < alpha
    if significant and change > threshold and low > 0:
        return "regression"
    if significant and change < -threshold and high < 0:
        return "improvement"
    if -threshold <= low and high <= threshold:
        return "unchanged"
    return "inconclusive"


def detectable_change(ci: tuple[float, float], alpha: float = ALPHA) -> float:
    """The smallest change this run would have caught four times out of five.

    A change of (z_alpha/2 + z_power) standard errors is detected with 80%
    power at level alpha; the 95% interval's half-width is 1.96 standard errors.
    """
    half_width = (ci[1] - ci[0]) / 2
    z_interval = _norm_ppf(1 - (1 - CONFIDENCE) / 2)
    return half_width * (_norm_ppf(1 - alpha / 2) + Z_POWER) / z_interval


def compare(
    base: Side,
    head: Side,
    thresholds: Mapping[str, float],
    alpha: float = ALPHA,
    *,
    paired: bool = PAIRED,
) -> tuple[Comparison, ...]:
    """One comparison per metric of METRIC_FIELDS that both sides measured (instructions
    only when counted), each tested at `alpha`."""
    return tuple(
        compare_metric(base, head, m, thresholds[m], alpha, paired=paired)
        for m in measured_metrics(base, head)
    )


def gate_verdict(comparisons: Sequence[Comparison]) -> str:
    """`fail` when any metric regressed, else `pass`."""
    return "fail" if any(c.verdict == "regression" for c in comparisons) else "pass"


def settled(comparisons: Sequence[Comparison]) -> bool:
    """Whether more runs could still change the verdict: no metric is inconclusive."""
    return all(c.verdict != "inconclusive" for c in comparisons)


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
                f"{label}: wall time varies a lot between runs (CV {summary.cv:.0%}); "
                "add runs, gate on CPU time, or use a quieter runner"
            )
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
