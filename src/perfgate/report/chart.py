"""Mermaid charts of the runs: they render in GitHub comments and job summaries.

A reviewer sees at a glance whether head sits above base everywhere (a real
change) or whether one burst of noise made the difference.
"""

from __future__ import annotations

import statistics

from ..results import Results
from .format import is_memory, label

#: Points per line beyond which runs are averaged in bins: a chart of 2,000
#: points renders slowly and says no more than one of 100.
MAX_POINTS = 100


def _binned(values: list[float], points: int = MAX_POINTS) -> list[float]:
    if len(values) <= points:
        return values
    size = -(-len(values) // points)
    return [statistics.fmean(values[i : i + size]) for i in range(0, len(values), size)]


def _series(results: Results, side: str, metric: str) -> list[float]:
    samples = sorted(results.sides[side].samples, key=lambda s: s.order)
    scale = 1e-6 if is_memory(metric) else 1.0
    return [s.value(metric) * scale for s in samples]


def mermaid_runs(results: Results, metric: str) -> str:
    """A line per side, in run order: base first, head second (Mermaid has no legend)."""
    names = [n for n in ("base", "head") if n in results.sides] or list(results.sides)[:1]
    lines = [_binned(_series(results, n, metric)) for n in names]
    length = min(len(line) for line in lines) if lines else 0
    if length == 0:
        return ""
    lines = [line[:length] for line in lines]
    unit = "MB" if is_memory(metric) else "s"
    low = min(min(line) for line in lines)
    high = max(max(line) for line in lines)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    who = " and ".join(names)
    title = f"{label(metric)} per run ({unit}): {who}" + (" (base first)" if len(names) > 1 else "")
    body = [
        "```mermaid",
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "run (in order)" 1 --> {length}',
        f'    y-axis "{label(metric)} ({unit})" {max(low - pad, 0):.4g} --> {high + pad:.4g}',
    ]
    body += [f"    line [{', '.join(f'{v:.4g}' for v in line)}]" for line in lines]
    body.append("```")
    return "\n".join(body)
