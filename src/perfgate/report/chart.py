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
from ..results import Results
from .format import label, plain_number

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
