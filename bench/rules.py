"""Decision rules side by side: perfgate's and the established ones, as documented.

Each rule takes base and head run times (in run order, base[k] and head[k]
ran back to back) and says whether head regressed.  The established rules are
re-implemented here, for this benchmark only, from their documentation:

- `mean-threshold`: continuous-benchmark actions compare one result (a mean)
  with the previous one and alert above a ratio (github-action-benchmark's
  `alert-threshold`); here at the same 5% perfgate uses.
- `pytest-benchmark min:5%`: `--benchmark-compare-fail=min:5%` fails when the
  minimum got more than 5% slower.
- `asv`: `asv compare` reports a change when the ratio of the medians exceeds
  `--factor` (default 1.1) and `asv.statistics.is_different` holds: Mann-Whitney
  U with p < 0.002 when the sample sizes let the test reach that (6 runs a side
  and more), else the 99% confidence intervals of the two medians must not
  overlap.  Those come from order statistics; where the runs are too few for
  that, asv widens them with a Laplace posterior, which this stand-in replaces
  by the sample's range (a narrower interval: it flatters asv, never perfgate).
  Shown at the default factor and at 1.05, asv's setting for a 5% target.
- `hyperfine mean±sd`: head slower when mean - sd of head lies above
  mean + sd of base (the intervals hyperfine prints do not overlap).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

from perfgate.compare import ranks, sequential, stats
from perfgate.results import Sample, Side

Rule = Callable[[Sequence[float], Sequence[float]], bool]


def mean_threshold(base: Sequence[float], head: Sequence[float], threshold: float = 0.05) -> bool:
    return statistics.fmean(head) / statistics.fmean(base) - 1 > threshold


def pytest_benchmark_min(base: Sequence[float], head: Sequence[float]) -> bool:
    return min(head) / min(base) - 1 > 0.05


def _median_ci99(values: Sequence[float]) -> tuple[float, float]:
    """Order statistics (r, s) with P(K < r) <= 0.5% and P(K < s) >= 99.5%, K ~ Bin(n, 1/2);
    the sample's range where no such order statistic exists."""
    ordered = sorted(values)
    n = len(ordered)
    low, high = ordered[0], ordered[-1]
    cumulative = 0.0
    for k, value in enumerate(ordered):
        cumulative += math.comb(n, k) / 2**n
        if cumulative <= 0.005:
            low = value
        if cumulative >= 0.995:
            high = value
            break
    return low, high


def asv(factor: float = 1.1) -> Rule:
    def rule(base: Sequence[float], head: Sequence[float]) -> bool:
        if statistics.median(head) / statistics.median(base) <= factor:
            return False
        smallest_p = 1 / math.comb(len(base) + len(head), min(len(base), len(head)))
        if smallest_p < 0.002:
            return ranks.mann_whitney_p(base, head) < 0.002
        return _median_ci99(head)[0] > _median_ci99(base)[1]

    return rule


def hyperfine(base: Sequence[float], head: Sequence[float]) -> bool:
    return statistics.fmean(head) - statistics.stdev(head) > statistics.fmean(
        base
    ) + statistics.stdev(base)


def sides(base: Sequence[float], head: Sequence[float]) -> tuple[Side, Side]:
    """The runs as perfgate's runner records them: pair k is orders 2k and 2k + 1."""

    def side(values: Sequence[float], offset: int) -> Side:
        return Side("", "", tuple(
            Sample(v, v, 1, 1, 0, 2 * k + offset) for k, v in enumerate(values)
        ))  # fmt: skip

    return side(base, 0), side(head, 1)


def perfgate(
    threshold: float = 0.05, level: float = sequential.ALPHA, paired: bool = stats.PAIRED
) -> Rule:
    """perfgate's own verdict, `stats.compare_metric` as a gate with runs == max-runs
    decides it: one look, the one-sided test at `level`."""

    def rule(base: Sequence[float], head: Sequence[float]) -> bool:
        b, h = sides(base, head)
        look = sequential.Look(runs=len(base), regression_level=level)
        comparison = stats.compare_metric(b, h, "wall_time", threshold, look, paired=paired)
        return comparison.verdict == "regression"

    return rule


RULES: dict[str, Rule] = {
    "mean-threshold 5%": mean_threshold,
    "pytest-benchmark min:5%": pytest_benchmark_min,
    "asv (MWU p<0.002, x1.1)": asv(1.1),
    "asv (MWU p<0.002, x1.05)": asv(1.05),
    "hyperfine mean±sd": hyperfine,
    "perfgate (threshold 5%)": perfgate(0.05),
    "perfgate (threshold 2%)": perfgate(0.02),
    # The two-sample test earlier versions judged interleaved runs with (stats.PAIRED).
    "perfgate as two samples (threshold 5%)": perfgate(0.05, paired=False),
}
