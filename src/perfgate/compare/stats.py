"""The decision over whole runs: each metric compared, the verdict, the noise (pure).

The rank tests and intervals are compare/ranks.py's, the planned looks and their
levels compare/sequential.py's; numbers in, dataclasses out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .. import metrics
from ..results import Comparison, Side, measured_metrics
from . import pairs as pair_tests
from .counts import agree, compare_counts
from .ranks import CONFIDENCE, _ranks, mann_whitney_greater_p, moses_interval
from .sequential import _NORMAL, ALPHA, FIXED, INTERIM_MARGIN, POWER, Look, Plan


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


#: Whether interleaved runs are judged against their pairs' coin flips (compare/pairs.py:
#: Mann-Whitney's statistic, the within-pair swaps as its null) or as two samples (plain
#: Mann-Whitney).  The swaps are the null the design guarantees; on the recorded noise
#: they find as much as the two-sample test on the quiet corpus (a 10% slowdown at 20
#: runs: 97.8% against 97.6%) and three times as much on the loaded one (27.8% against
#: 8.9%), where drift makes the two-sample test's null too wide (docs/benchmarks.md).
#: The Wilcoxon signed-rank test on the pairs' ratios, tried first, lost to both: one
#: burst spoils a whole pair's ratio, but moves only one run in the pooled ranking.
PAIRED = True
PAIRED_METHOD = "paired: Mann-Whitney U against the pairs' coin flips, Hodges-Lehmann interval"
UNPAIRED_METHOD = "unpaired: Mann-Whitney U, Hodges-Lehmann (Moses) interval"

# --- Comparing two sides ----------------------------------------------------------------------


def paired_values(base: Side, head: Side, metric: str) -> list[tuple[float, float]] | None:
    """(base, head) values of each interleaved pair, or None when the runs do not pair.

    Runs 2k and 2k + 1 of the schedule form pair k.  Two separately recorded
    runs (`perfgate compare a.json b.json`) number their runs from 0 each and
    do not pair: their orders collide.  Instructions counted in some runs only
    (counts.py) do not pair either.
    """
    by_pair: dict[int, dict[str, tuple[int, float]]] = {}
    for name, side in (("base", base), ("head", head)):
        for sample in side.samples:
            if sample.order < 0:
                return None
            slot = by_pair.setdefault(sample.order // 2, {})
            if name in slot or not sample.has(metric):
                return None  # orders collide, or a count of some runs only (counts.py)
            slot[name] = (sample.order, sample.value(metric))
    if not by_pair or any(
        len(slot) != 2 or slot["base"][0] == slot["head"][0] for slot in by_pair.values()
    ):
        return None  # a run without its partner, or two runs at one place in the order
    return [(slot["base"][1], slot["head"][1]) for _, slot in sorted(by_pair.items())]


#: Fewest runs per side for a 95% interval: with 3 and 3 no order statistic of the
#: pairwise differences reaches 95% coverage (the best is 90%).
MIN_RUNS = 4
#: Below this base median a time is too short to compare as a ratio: timers and CPU
#: accounting resolve about a millisecond, and 0 s against 4 ms is no percentage.
TIME_FLOOR_S = 0.001


#: The most pairs judged by their coin flips: the swap distribution is counted exactly,
#: which costs about 7 ms per tail at 100 pairs and 170 ms at 200, and the interval's
#: search needs some 40 tails.  More runs than that are judged as two samples.
MAX_PAIRS = 100


def use_pairs(pairs: int, alpha: float) -> bool:
    """Judge by the pairs once there are enough of them for the swap test to reach
    `alpha` without every pair agreeing (its smallest p is 1 / 2^n); below that the
    two-sample test resolves more (5 runs a side can reach p = 0.004).  The choice
    depends on the run count and the level only, never on the runs, so each look's
    test keeps its level.  Beyond MAX_PAIRS the pairs' exact distribution and interval
    would cost seconds per look, and the two-sample one is cheap."""
    return pair_tests.smallest_p(pairs) <= alpha / 4 and pairs <= MAX_PAIRS


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
    With `paired` (the default, see PAIRED), interleaved runs are judged against their
    pairs' coin flips once there are enough pairs (`use_pairs`).  A `test` replaces both:
    the merged shards' stratified test is judged by these same rules.
    """
    a, b = base.values(metric), head.values(metric)
    if metrics.unit(metric) == metrics.COUNT and agree(a, threshold) and agree(b, threshold):
        return compare_counts(metric, a, b, threshold)  # few runs, nearly equal (counts.py)
    if test is not None and (len(a), len(b)) != (len(base.samples), len(head.samples)):
        test = None  # counts of some runs only (counts.py): the blocks no longer line up
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
    # Instructions are counted in runs of their own, base before head (measure/schedule.py):
    # no coin flip set their order, so they are not judged against one.
    counted = metrics.unit(metric) == metrics.COUNT
    pairs = paired_values(base, head, metric) if paired and test is None and not counted else None
    if test is not None:
        greater, less, interval, method = test(xs, ys)
    elif pairs is not None and use_pairs(len(pairs), look.regression_level):
        xs, ys = [math.log(x) for x, _ in pairs], [math.log(h) for _, h in pairs]
        greater, less = pair_tests.p_values(xs, ys)

        def interval(confidence: float) -> tuple[float, float, float]:
            return pair_tests.interval(xs, ys, confidence)

        method = PAIRED_METHOD
    else:
        greater, less = mann_whitney_greater_p(xs, ys), mann_whitney_greater_p(ys, xs)

        def interval(confidence: float) -> tuple[float, float, float]:
            return moses_interval(xs, ys, confidence)

        method = UNPAIRED_METHOD
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
