"""Mermaid charts of the runs: they render in GitHub comments and job summaries.

A reviewer sees at a glance whether head sits above base all along (a real
change), or whether one burst of noise, or a machine that drifted over the
job, made the difference.  Runs are drawn in the order they ran, so drift
shows as a slope shared by both lines.
"""

from __future__ import annotations

import re
import statistics

from .. import metrics
from ..compare import stats
from ..results import Results, Side, measured_metrics
from .format import GITHUB_COMMENT_LIMIT, label, plain_number

#: Points per line beyond which runs are averaged in bins: a chart of 2,000
#: points renders slowly, is unreadable, and would eat the comment's size limit.
MAX_POINTS = 100
#: Line colours in series order; Mermaid's xychart has no legend, so the
#: title names them.  Blue and orange stay apart for colour-blind readers.
SERIES_COLOURS = (("blue", "#1f77b4"), ("orange", "#ff7f0e"))


def binned(values: list[float], points: int) -> list[float]:
    """`values` averaged into `points` contiguous bins of (nearly) equal size.

    Two sides of different lengths binned to the same `points` keep their
    run order aligned, which cutting the longer one short would not.
    """
    if points <= 0 or not values:
        return []
    if len(values) <= points:
        return list(values)
    edges = [round(i * len(values) / points) for i in range(points + 1)]
    return [statistics.fmean(values[edges[i] : edges[i + 1]]) for i in range(points)]


def _unit(metric: str, values: list[float]) -> tuple[str, float]:
    """The axis unit and the factor from the stored unit (s or bytes) to it."""
    unit = metrics.unit(metric)
    if unit == metrics.BYTES:
        return "MB", 1e-6
    if unit == metrics.COUNT:
        return "M instr", 1e-6
    if unit == metrics.SECONDS and values and max(abs(v) for v in values) < 1:
        return "ms", 1e3
    if unit == metrics.SECONDS:
        return "s", 1.0
    return "", 1.0


def _series(results: Results, side: str, metric: str) -> list[float]:
    samples = sorted(results.sides[side].samples, key=lambda s: s.order)
    return [s.value(metric) for s in samples if s.ok and s.has(metric)]


def _title_word(text: str) -> str:
    """A side's name as Mermaid title text: no quotes, brackets or markup can end it."""
    return re.sub(r"[^\w .-]", "", text)[:40] or "side"


def chart_sides(results: Results) -> list[str]:
    """The sides to draw: base then head for a gate, else the single side."""
    both = [name for name in ("base", "head") if name in results.sides]
    return both if len(both) == 2 else list(results.sides)[:1]


#: Pixels: one compact chart, not 550 px of lines a table already told.
CHART_HEIGHT = 260


def _order_range(results: Results, names: list[str]) -> tuple[int, int]:
    """The first and last run order number drawn: the numbers of the raw-runs table."""
    orders = [s.order for name in names for s in results.sides[name].samples if s.ok]
    return min(orders), max(orders)


def mermaid_runs(results: Results, metric: str) -> str:
    """A fenced ```mermaid xychart-beta block, one line per side in run order ("" if no runs).

    Base is the first line and head the second; both have the same number of
    points (at most MAX_POINTS), so the x axis is the run position.
    """
    if metric not in metrics.BY_NAME:
        return ""
    names = chart_sides(results)
    raw = [_series(results, name, metric) for name in names]
    if not raw or any(not line for line in raw):
        return ""
    points = min(MAX_POINTS, *(len(line) for line in raw))
    unit, factor = _unit(metric, [v for line in raw for v in line])
    lines = [[v * factor for v in binned(line, points)] for line in raw]
    low = min(min(line) for line in lines)
    high = max(max(line) for line in lines)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    bottom = max(low - pad, 0.0) if low >= 0 else low - pad
    keys = ", ".join(
        f"{_title_word(name)} {colour}"
        for name, (colour, _) in zip(names, SERIES_COLOURS, strict=False)
    )
    longest = max(len(line) for line in raw)
    per_point = "" if points == longest else f", {longest / points:.3g} runs per point"
    first, last = _order_range(results, names)
    axis = f"{label(metric)} ({unit})" if unit else label(metric)
    palette = ", ".join(code for _, code in SERIES_COLOURS[: len(lines)])
    body = [
        "```mermaid",
        "---",
        "config:",
        "  xyChart:",
        f"    height: {CHART_HEIGHT}",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{palette}"',
        "---",
        "xychart-beta",
        f'    title "{label(metric)} per run: {keys}"',
        f'    x-axis "run order{per_point}" {first} --> {last}',
        f'    y-axis "{axis}" {plain_number(bottom)} --> {plain_number(high + pad)}',
    ]
    body += [f"    line [{', '.join(plain_number(v) for v in line)}]" for line in lines]
    body.append("```")
    return "\n".join(body)


# --- Which charts the comment shows ---------------------------------------------------------


#: Runs a side needs before a rank correlation with run order means drift (stats too).
DRIFT_MIN_RUNS = 8


def _shows_something(side: Side, metric: str) -> bool:
    """Whether a chart of this side's runs tells what the table cannot: two levels of runs,
    outliers, or a machine that drifted over the job."""
    if not side.measures(metric):
        return False
    ordered = sorted((s for s in side.samples if s.ok), key=lambda s: s.order)
    values = [s.value(metric) for s in ordered if s.has(metric)]
    if len(values) < 3:
        return False
    if len(stats.clusters(values)) > 1 or stats.outliers(values):
        return True
    if len(values) < DRIFT_MIN_RUNS or len(set(values)) == 1:
        return False
    rho = stats.spearman([float(s.order) for s in ordered], values)
    return abs(rho) > stats.DRIFT_RHO


def charted_metrics(results: Results) -> list[str]:
    """One chart for the metric that decided (the first regression, else the first without
    a verdict, else the first improvement), more only where the runs show something."""
    compared = [c.metric for c in results.comparisons if c.metric in metrics.BY_NAME]
    if not compared:
        return list(measured_metrics(*results.sides.values()))[:1]
    decided = [
        c.metric
        for verdict in ("regression", "inconclusive", "improvement")
        for c in results.comparisons
        if c.verdict == verdict and c.metric in metrics.BY_NAME
    ][:1]
    chosen = list(decided)
    for metric in compared:
        if metric in chosen or not any(_shows_something(s, metric) for s in results.sides.values()):
            continue
        if metric == "cpu_time" and "wall_time" in chosen and _cpu_repeats_wall(results):
            continue
        chosen.append(metric)
    return chosen


#: CPU time whose runs rank like wall time's (a CPU-bound benchmark) draws the same chart.
REPEAT_RHO = 0.9


def _cpu_repeats_wall(results: Results) -> bool:
    """Whether every side's CPU times rank as its wall times do: the same chart twice."""
    for side in results.sides.values():
        ok = [s for s in side.samples if s.ok]
        walls = [s.wall_s for s in ok]
        varies = len(ok) >= 3 and len(set(walls)) > 1
        if varies and stats.spearman(walls, [s.cpu_s for s in ok]) <= REPEAT_RHO:
            return False
    return True


def charts_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Base against head in run order, for the metrics `charted_metrics` picks, as fit."""
    names = chart_sides(results)
    both = len(names) == 2
    who = "base against head" if both else "each run"
    key = (
        "Base in blue, head in orange; the x axis is the run's order number, as in Raw runs."
        if both
        else "The x axis is the run's order number, as in Raw runs."
    )
    top = f"<details><summary>Runs in the order they ran: {who}</summary>\n\n{key}\n\n"
    end = "\n\n</details>"
    charts: list[str] = []
    left_out: list[str] = []
    used = len(top) + len(end) + len("\n\n_not shown for lack of room: wall time, CPU time_")
    for metric in charted_metrics(results):
        chart = mermaid_runs(results, metric)
        if chart and used + len(chart) + 2 <= budget:
            charts.append(chart)
            used += len(chart) + 2
        elif chart:
            left_out.append(label(metric))
    if not charts:
        return ""
    if left_out:
        charts.append(f"_not shown for lack of room: {', '.join(left_out)}_")
    return top + "\n\n".join(charts) + end
