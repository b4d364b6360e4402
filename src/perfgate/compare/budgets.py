"""Absolute budgets judged on one side's runs: numbers in, dataclasses out (pure).

A budget says "head's median wall time is at most 2 s".  One run over the
limit proves nothing on a shared runner, so a budget is judged with the same
care as a change: by a distribution-free confidence interval of the median
(the order statistics of the runs; no assumption about the shape of the
noise), over only when the whole interval is above the limit, met only when
it is wholly below, and `near` when it straddles the limit.

The level: each end of the interval errs at most `sequential.ALPHA` (1%), the
gate's level per metric.  A budget is judged once, on the runs the gate
ended with (a gate's looks decide when to stop measuring, by base against
head; they do not test the budget), so it spends its 1% in one test:
a median truly at or under the limit is called `over` at most 1% of the
time, and one at or over it is called `met` at most 1% of the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..options import TEST_TIME, Budget, parse_budgets
from ..results import BudgetCheck, Results, Side
from .sequential import ALPHA

#: One-sided error of each end of the interval: the gate's level per metric (see the
#: module's docstring), so that a budget is judged with the care of a change.
LEVEL = ALPHA
OVER, NEAR, MET, NOT_MEASURED = "over", "near", "met", "not measured"


def lower_rank(n: int, level: float = LEVEL) -> int:
    """The largest l with P(Bin(n, 1/2) < l) <= level: then the median lies below the
    l-th smallest run with probability at most `level` (and above the l-th largest
    likewise).  0 when n runs are too few for `level` (0.5^n > level)."""
    cumulative = 0.0
    rank = 0
    while rank < n:
        cumulative += math.comb(n, rank) / 2**n  # P(Bin = rank)
        if cumulative > level:
            break
        rank += 1
    return rank


def fewest_runs(level: float = LEVEL) -> int:
    """Fewest runs whose interval has two finite ends at `level` (7 at 1%)."""
    n = 1
    while lower_rank(n, level) < 1:
        n += 1
    return n


@dataclass(frozen=True)
class MedianInterval:
    median: float
    low: float
    high: float


def median_interval(values: Sequence[float], level: float = LEVEL) -> MedianInterval:
    """The median with its order-statistic interval [x_(l), x_(n+1-l)]; infinite ends
    when the runs are too few for `level`."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return MedianInterval(math.nan, -math.inf, math.inf)
    rank = lower_rank(n, level)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    if rank < 1:
        return MedianInterval(median, -math.inf, math.inf)
    return MedianInterval(median, ordered[rank - 1], ordered[n - rank])


def verdict(interval: MedianInterval, limit: float) -> str:
    """over (wholly above the limit), met (wholly at or below it), else near."""
    if interval.low > limit:
        return OVER
    if interval.high <= limit:
        return MET
    return NEAR


def check(budget: Budget, values: Sequence[float], level: float = LEVEL) -> BudgetCheck:
    """One budget against the runs' values of its metric."""
    if not values:
        return BudgetCheck(
            budget.key, budget.metric, budget.limit, budget.text, NOT_MEASURED,
            math.nan, (math.nan, math.nan), 0, level, budget.test,
        )  # fmt: skip
    found = median_interval(values, level)
    return BudgetCheck(
        budget.key, budget.metric, budget.limit, budget.text, verdict(found, budget.limit),
        found.median, (found.low, found.high), len(values), level, budget.test,
    )  # fmt: skip


def judge(
    budgets: Sequence[Budget],
    side: Side,
    test_runs: Sequence[Mapping[str, float]] = (),
    level: float = LEVEL,
) -> tuple[BudgetCheck, ...]:
    """Every budget against `side`'s runs (a gate's head, or `perfgate run`'s runs).

    `test_runs` holds, per run, each test id's seconds (the pytest plugin's documents);
    a per-test budget without them, or naming no test that ran, is `not measured`.
    """
    checks = []
    ok = [s for s in side.samples if s.ok]
    for budget in budgets:
        if budget.metric == TEST_TIME:
            values = tests_seconds(budget.test, test_runs)
        else:
            values = [s.value(budget.metric) for s in ok if s.has(budget.metric)]
        checks.append(check(budget, values, level))
    return tuple(checks)


def rejudge(source: Results, head: Side) -> tuple[BudgetCheck, ...]:
    """`perfgate compare`: the budgets the source recorded (`settings.budgets`), judged again
    on `head`; per-test budgets as the source judged them (their per-test runs are not kept
    in the results).  A recorded budget that does not parse is refused (exit 2) as a flag
    would be: the results file may come from elsewhere."""
    recorded = parse_budgets("settings.budgets", source.settings.get("budgets") or {})
    judged = {c.key: c for c in source.budgets if c.test}
    whole = judge([b for b in recorded if not b.test], head)
    per_test = [judged.get(b.key) or check(b, []) for b in recorded if b.test]
    return whole + tuple(per_test)


def covers(target: str, nodeid: str) -> bool:
    """Whether a budget's `target` names this test: the test itself, its file, a class,
    or a parametrized test's id without the brackets."""
    return nodeid == target or nodeid.startswith((f"{target}::", f"{target}["))


def tests_seconds(target: str, test_runs: Sequence[Mapping[str, float]]) -> list[float]:
    """Per run, the seconds of all tests `target` names, summed; runs without any left out."""
    totals = []
    for run in test_runs:
        times = [t for nodeid, t in run.items() if covers(target, nodeid) and _seconds(t)]
        if times:
            totals.append(sum(times))
    return totals


def _seconds(value: object) -> bool:
    """A test's time from a run's document (the run wrote it: NaN, text or -1 are left out)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value >= 0
        and (math.isfinite(value))
    )


def over(checks: Sequence[BudgetCheck]) -> tuple[BudgetCheck, ...]:
    return tuple(c for c in checks if c.verdict == OVER)
