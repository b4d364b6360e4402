"""Plain-text reports for a terminal or a CI log."""

from __future__ import annotations

from .. import stats
from ..results import Results, Side
from .format import interval, label, percent, quantity

ROWS = (
    ("wall time", "wall_time"),
    ("CPU time", "cpu_time"),
    ("peak memory (tree)", "peak_memory"),
    ("peak memory (largest process)", None),
)
#: Above this coefficient of variation a timing is too noisy to trust.
NOISY_TIME_CV = 0.05


def _values(side: Side, metric: str | None) -> tuple[str, list[float]]:
    if metric is None:
        return "peak_memory", [float(s.max_rss_bytes) for s in side.samples]
    return metric, side.values(metric)


def render_run(results: Results) -> str:
    """The seed script grown up: average, median, min, max, stdev and CV per figure."""
    side = next(iter(results.sides.values()))
    header = (
        f"{'':31} {'average':>10} {'median':>10} {'min':>10} {'max':>10} {'stdev':>10} {'CV':>7}"
    )
    lines = [f"perfgate run: {len(side.samples)} runs of `{results.command}`", "", header]
    warnings = []
    for title, metric in ROWS:
        unit_metric, values = _values(side, metric)
        if not values:
            continue
        s = stats.summarize(values)
        cells = [quantity(unit_metric, v) for v in (s.mean, s.median, s.min, s.max, s.stdev)]
        lines.append(f"{title:31} " + " ".join(f"{c:>10}" for c in cells) + f" {s.cv:>7.1%}")
        if metric in ("wall_time", "cpu_time") and s.cv > NOISY_TIME_CV:
            warnings.append(
                f"warning: {title} varies by {s.cv:.1%} between runs: too noisy to trust a "
                "change smaller than a few times that; add runs or quiet the machine"
            )
    warnings += [f"warning: {w}" for w in stats.noise_warnings(side, "runs")]
    return "\n".join(lines + ([""] + warnings if warnings else []))


def render_gate(results: Results) -> str:
    """A terminal version of the comment: verdict, one row per metric, warnings."""
    from .markdown import headline

    lines = [headline(results).lstrip("# ")]
    if results.comparisons:
        lines.append("")
        lines.append(
            f"{'metric':12} {'base':>10} {'head':>10} {'change':>9} {'95% interval':>20}  verdict"
        )
        for c in results.comparisons:
            lines.append(
                f"{label(c.metric):12} {quantity(c.metric, c.base_median):>10} "
                f"{quantity(c.metric, c.head_median):>10} {percent(c.change):>9} "
                f"{interval(c.ci):>20}  {c.verdict}"
            )
        for c in results.comparisons:
            if c.detectable_change is not None and c.detectable_change > c.threshold:
                lines.append(
                    f"note: {label(c.metric)}: this run could not have detected a change under "
                    f"{c.detectable_change:.1%} (threshold {c.threshold:.0%}); add runs"
                )
    runs = ", ".join(f"{n} {len(s.samples)} runs" for n, s in results.sides.items())
    if runs:
        lines.append(f"runs: {runs}; seed {results.seed}")
    return "\n".join(lines)
