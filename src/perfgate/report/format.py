"""Numbers as a reader wants them: units, signs and intervals."""

from __future__ import annotations

import math

METRIC_LABELS = {"wall_time": "wall time", "cpu_time": "CPU time", "peak_memory": "peak memory"}
VERDICT_ICONS = {
    "regression": "🔴",
    "improvement": "🟢",
    "unchanged": "⚪",
    "inconclusive": "🟡",
}


def label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def is_memory(metric: str) -> bool:
    return metric == "peak_memory"


def seconds(value: float) -> str:
    """3 significant figures in s or ms: 0.412 s, 41.2 ms, 12.3 s."""
    if math.isnan(value):
        return "n/a"
    if abs(value) < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def megabytes(value: float) -> str:
    """Bytes as MB (10^6), as /usr/bin/time and most dashboards print them."""
    if math.isnan(value):
        return "n/a"
    return f"{value / 1e6:.1f} MB"


def quantity(metric: str, value: float) -> str:
    return megabytes(value) if is_memory(metric) else seconds(value)


def percent(fraction: float, digits: int = 1) -> str:
    """+12.3%, −4.0%, ±0.0%."""
    if math.isnan(fraction):
        return "n/a"
    if round(fraction * 100, digits) == 0:
        return f"±{0:.{digits}f}%"
    return f"{fraction * 100:+.{digits}f}%".replace("-", "−")


def interval(ci: tuple[float, float]) -> str:
    return f"{percent(ci[0])} … {percent(ci[1])}"


def delta(metric: str, base: float, head: float) -> str:
    """The absolute difference, for memory (a reviewer thinks in MB, not in %)."""
    difference = head - base
    text = megabytes(abs(difference))
    return f"+{text}" if difference >= 0 else f"−{text}"
