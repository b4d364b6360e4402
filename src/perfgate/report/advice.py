"""What the comment says beyond the verdict: how to get one, and why things moved.

The advice (more runs and what they cost, or a cheaper route) when a metric
was too noisy to tell, the notes on how each metric was compared, the noise
that a reader should know about, and the share of a change the named culprits
do not explain.  Text only, from results.
"""

from __future__ import annotations

import math

from .. import metrics
from ..compare import stats
from ..progress import format_seconds
from ..results import Comparison, Results
from .format import GITHUB_COMMENT_LIMIT, SIDES, delta, known, metric_label, quantity, share

#: What finds a time change more cheaply than more runs: a count that barely varies.
INSTRUCTIONS_ROUTE = "count instructions (`instructions: true`), a figure that barely varies"


#: More runs than this many seconds' worth are not offered as a setting to copy.
WORTH_WAITING_S = 30 * 60


#: CPU time is advised instead of wall time only when it could see changes this much smaller.
CPU_ADVICE_FACTOR = 0.6


def _suggested_runs(results: Results, c: Comparison) -> int | None:
    """Runs per side that would bring the detectable change down to the threshold.

    The noise part of the detectable change shrinks as 1/sqrt(runs), so the runs
    needed grow with the square of how far it is above the threshold.
    """
    counts = [len(results.sides[n].samples) for n in ("base", "head") if n in results.sides]
    if not counts or not c.detectable_change or c.threshold <= 0:
        return None
    runs = min(counts)
    if runs == 0:
        return None
    return math.ceil(runs * max(1.0, c.detectable_change / c.threshold) ** 2)


def _seconds_per_pair(results: Results) -> float | None:
    """Wall time of one base run and one head run (medians), what one more pair costs."""
    medians = [
        stats.summarize([s.wall_s for s in side.samples]).median
        for name, side in results.sides.items()
        if name in ("base", "head") and side.samples
    ]
    return sum(medians) if len(medians) == 2 else None


def _cheaper_routes(results: Results, c: Comparison) -> list[str]:
    """What would decide sooner than more runs, only where it would: CPU time when it was
    clearly quieter than wall time, instructions when they were not counted already."""
    routes = []
    cpu = results.comparison("cpu_time")
    if (
        c.metric == "wall_time"
        and cpu is not None
        and cpu.detectable_change is not None
        and c.detectable_change is not None
        and cpu.detectable_change < CPU_ADVICE_FACTOR * c.detectable_change
    ):
        routes.append(f"gate on CPU time (it could see {share(cpu.detectable_change, 0)})")
    if metrics.unit(c.metric) == metrics.SECONDS and results.comparison("instructions") is None:
        routes.append(INSTRUCTIONS_ROUTE)
    return routes


def advice_lines(results: Results) -> list[str]:
    """How to get a verdict, said once, for the metrics without one: the minutes more runs
    would take at this run's pace (nobody adds 400 runs; many can wait 3 minutes), then
    what would be cheaper, where it would.  A failed gate needs no advice: its verdict
    is given, and more runs would only sharpen a regression already found."""
    if results.verdict == "fail":
        return []
    undecided = [c for c in results.comparisons if c.verdict == "inconclusive"]
    per_pair = _seconds_per_pair(results)
    have = min((len(side.samples) for side in results.sides.values()), default=0)
    # Metrics that would need the same runs share one line: advice is said once.
    by_cost: dict[str, list[str]] = {}
    for c in undecided:
        runs = _suggested_runs(results, c)
        if runs and per_pair is not None and runs > have:
            seconds = (runs - have) * per_pair
            cost = f"about {format_seconds(seconds)} more of runs"
            if results.shards:  # the shards run side by side: N times the runs, 1/N the time
                count = len(results.shards)
                seconds /= count
                cost = f"about {format_seconds(seconds)} more of runs in each shard"
                cost += f" (`runs: {math.ceil(runs / count)}` in each of {count} shards)"
            elif seconds > WORTH_WAITING_S:
                cost += ", longer than worth waiting"
            else:
                cost += f" (`max-runs: {runs}`)"
            by_cost.setdefault(cost, []).append(metric_label(c.metric))
    lines = [f"{', '.join(names)}: {cost}" for cost, names in by_cost.items()]
    routes = dict.fromkeys(route for c in undecided for route in _cheaper_routes(results, c))
    if routes:
        lines.append("cheaper: " + "; or ".join(routes))
    return lines


def advice_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Said once, only for the metrics without a verdict: how to get one."""
    lines = advice_lines(results)
    if not lines:
        return ""
    return "**To get a verdict**\n\n" + "\n".join(f"- {line}" for line in lines)


def comparison_notes(results: Results) -> list[str]:
    """Under the table: a side whose runs fall in two levels (warm and cold caches, a peak
    memory that depends on when a collection ran), and why a row's medians say something
    else than its change.  Two levels are what a reviewer needs to know about a metric:
    the median hides that half the runs cost 30 MB more."""
    notes = []
    for c in results.comparisons:
        # Worded again from the figures, never copied from a results file (outside text).
        parts = [stats.medians_note(c.base_median, c.head_median, *c.ci)]
        for name in ("base", "head"):
            side = results.sides.get(name)
            if side is None or c.metric not in metrics.BY_NAME or not side.measures(c.metric):
                continue  # a metric a results file made up has no runs to look at
            groups = stats.clusters(side.values(c.metric))
            if len(groups) > 1:
                levels = " and ".join(f"{n} at {quantity(c.metric, m)}" for m, n in groups)
                parts.append(f"{name} runs at two levels: {levels}")
        parts = [part for part in parts if part]
        if parts:
            notes.append(f"{metric_label(c.metric)}: " + "; ".join(parts))
    return notes


def noise_lines(results: Results) -> list[str]:
    """Noise a reader may want to know about: high variation, outliers, drift over the job."""
    return [
        w
        for name, side in results.sides.items()
        for w in stats.noise_warnings(side, known(name or side.ref or "runs", SIDES))
    ]


def causes_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Which test, which import, which leak (see compare/tests.py), then what is left that no
    named culprit accounts for: a reviewer must not take +6 ms of tests for a +0.7 s story."""
    unexplained = unexplained_lines(results)
    tail = ("\n\n" + "\n".join(f"- {line}" for line in unexplained)) if unexplained else ""
    tail = f"\n\n**Not explained**{tail}" if unexplained else ""
    if not results.breakdown or budget < 200 + len(tail):
        return ""
    from .breakdown import render_breakdown_markdown

    room = min(budget - len(tail), 20_000)
    return render_breakdown_markdown(results.breakdown, max_chars=room) + tail


#: Culprits that account for less than this share of a metric's change leave it unexplained.
EXPLAINED_SHARE = 0.5


def unexplained_lines(results: Results) -> list[str]:
    """A regressed wall time or peak memory whose named culprits do not add up to half of it."""
    if not results.breakdown:
        return []
    from ..compare.tests import Breakdown

    breakdown = results.breakdown
    if not isinstance(breakdown, Breakdown):
        breakdown = Breakdown.from_json(breakdown)
    named = {"wall_time": _named_seconds(breakdown), "peak_memory": _named_bytes(breakdown)}
    lines = []
    for c in results.regressions:
        if c.metric not in named:
            continue
        change = c.shift
        found = named[c.metric]
        if change <= 0 or found >= EXPLAINED_SHARE * change:
            continue
        moved = f"{metric_label(c.metric)} {delta(c.metric, 0, change)}"
        if found <= 0:
            lines.append(f"{moved}: not attributed to any test or import")
            continue
        lines.append(
            f"{moved}: the tests and imports named account for {delta(c.metric, 0, found)}; "
            f"{delta(c.metric, found, change)} is not attributed to any of them"
        )
    return lines


def _named_seconds(breakdown) -> float:  # noqa: ANN001 - a Breakdown
    seconds = 0.0
    if breakdown.imports:
        seconds += sum(
            max(0.0, m.added_seconds)
            for m in breakdown.imports.modules
            if m.verdict == "regression"
        )
    tests = breakdown.tests
    if tests is not None:
        seconds += sum(c.difference for c in tests.time_regressions)
        seconds += sum(g.change.difference for g in tests.group_regressions)
        if tests.collection is not None and tests.collection.verdict == "regression":
            seconds += tests.collection.difference
    return seconds


def _named_bytes(breakdown) -> float:  # noqa: ANN001 - a Breakdown
    total = 0.0
    if breakdown.imports:
        total += sum(
            max(0.0, m.added_bytes or 0.0)
            for m in breakdown.imports.modules
            if m.verdict == "regression"
        )
    tests = breakdown.tests
    if tests is not None:
        total += sum(c.difference for c in tests.memory_regressions)
        total += sum(leak.growth_bytes for leak in tests.leaks)
        total += sum(d.extra_bytes for d in tests.duplicates if d.new)
    return total
