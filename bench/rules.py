"""Decision rules side by side: perfgate's and the established ones, as documented.

Each rule takes base and head run times (in run order, base[k] and head[k]
ran back to back) and says whether head regressed.  The established rules are
re-implemented here, for this benchmark only, from their documentation:

- `mean-threshold`: continuous-benchmark actions compare one result (a mean)
  with the previous one and alert above a ratio (github-action-benchmark's
  `alert-threshold`); here at the same 5% perfgate uses.
- `pytest-benchmark min:5%`: `--benchmark-compare-fail=min:5%` fails when the
  minimum got more than 5% slower.
- `asv`: `asv compare` calls a change significant when Mann-Whitney U gives
  p < 0.002 with at least 6 samples a side (else the 99% intervals must not
  overlap) and the ratio exceeds `--factor` (default 1.1).
- `hyperfine mean±sd`: head slower when mean - sd of head lies above
  mean + sd of base (the intervals hyperfine prints do not overlap).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from perfgate import stats
from perfgate.results import Sample, Side

Rule = Callable[[Sequence[float], Sequence[float]], bool]


def mean_threshold(base: Sequence[float], head: Sequence[float], threshold: float = 0.05) -> bool:
    return statistics.fmean(head) / statistics.fmean(base) - 1 > threshold


def pytest_benchmark_min(base: Sequence[float], head: Sequence[float]) -> bool:
    return min(head) / min(base) - 1 > 0.05


def _ci99(values: Sequence[float]) -> tuple[float, float]:
    centre = statistics.median(values)
    spread = 2.576 * statistics.stdev(values) / len(values) ** 0.5
    return centre - spread, centre + spread


def asv(base: Sequence[float], head: Sequence[float], factor: float = 1.1) -> bool:
    ratio = statistics.median(head) / statistics.median(base)
    if ratio <= factor:
        return False
    if min(len(base), len(head)) >= 6:
        return stats.mann_whitney_p(base, head) < 0.002
    return _ci99(head)[0] > _ci99(base)[1]


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


def perfgate(threshold: float = 0.05, alpha: float = stats.ALPHA) -> Rule:
    def rule(base: Sequence[float], head: Sequence[float]) -> bool:
        b, h = sides(base, head)
        verdict = stats.compare_metric(b, h, "wall_time", threshold, alpha).verdict
        return verdict == "regression"

    return rule


RULES: dict[str, Rule] = {
    "mean-threshold 5%": mean_threshold,
    "pytest-benchmark min:5%": pytest_benchmark_min,
    "asv (MWU p<0.002, x1.1)": asv,
    "hyperfine mean±sd": hyperfine,
    "perfgate (threshold 5%)": perfgate(0.05),
    "perfgate (threshold 2%)": perfgate(0.02),
}
