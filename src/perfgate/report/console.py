"""Plain-text reports for a terminal or a CI log: aligned columns, no colours unless asked."""

from __future__ import annotations

from collections.abc import Sequence

from .. import metrics
from ..compare import stats
from ..results import Results, Side
from . import budgets
from .advice import advice_lines, comparison_notes, noise_lines, unexplained_lines
from .breakdown import culprit_lines
from .format import interval, label, one_line, quantity, share
from .markdown import change_words, could_see_cell, headline

#: (row title, metric the unit follows, the Sample field read): the registry's metrics,
#: and beside the gated peak memory of the process tree that of its largest process.
RUN_ROWS = tuple(
    row
    for m in metrics.METRICS
    for row in (
        [(f"{m.label} (process tree)", m.name, m.field),
         (f"{m.label} (largest process)", m.name, "max_rss_bytes")]
        if m.name == "peak_memory"
        else [(m.label, m.name, m.field)]
    )
)  # fmt: skip
ANSI = {
    "fail": "\033[1;31m",
    "error": "\033[1;33m",
    "no verdict": "\033[1;33m",
    "pass": "\033[1;32m",
    "reset": "\033[0m",
}


def table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Rows of cells padded to a common width per column (`right`: right-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if align else cell.ljust(width)
            for cell, width, align in zip(row, widths, right, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _run_rows(side: Side) -> tuple[list[list[str]], list[str]]:
    ok = [s for s in side.samples if s.ok]
    rows = [["", "average", "median", "min", "max", "stdev", "CV"]]
    warnings = []
    for title, metric, field in RUN_ROWS:
        if not side.measures(metric):  # instructions: counted only when asked for
            continue
        s = stats.summarize([float(getattr(sample, field)) for sample in ok if sample.has(metric)])
        figures = [quantity(metric, v) for v in (s.mean, s.median, s.min, s.max, s.stdev)]
        rows.append([title, *figures, share(s.cv)])
        # One limit for "too noisy" (stats.NOISY_CV); stats.noise_warnings already
        # speaks of wall time, so the run report adds the other timed metrics only.
        timed = metrics.unit(metric) == metrics.SECONDS and metric != "wall_time"
        if timed and len(ok) > 1 and s.cv > stats.NOISY_CV:
            warnings.append(
                f"warning: {title} varies by {share(s.cv)} between runs (CV above "
                f"{share(stats.NOISY_CV, 0)}): too noisy to trust a change smaller than a few "
                "times that; add runs, or use a quieter machine"
            )
    return rows, warnings


def render_run(results: Results) -> str:
    """`perfgate run`: the seed script grown up, average to CV per figure, and noise warnings."""
    if not results.sides:
        return "perfgate run: no runs"
    name, side = next(iter(results.sides.items()))
    ok = [s for s in side.samples if s.ok]
    command = f" of {results.command}" if results.command else ""
    lines = [f"perfgate run: {len(ok)} run{'s' if len(ok) != 1 else ''}{command}"]
    if not ok:
        return lines[0]
    rows, warnings = _run_rows(side)
    lines += ["", *table(rows, [False] + [True] * 6), *_budget_lines(results)]
    if len(ok) == 1:
        warnings.append("warning: a single run says nothing about noise; add runs")
    warnings += [f"warning: {w}" for w in stats.noise_warnings(side, name)]
    return "\n".join(lines + ([""] + warnings if warnings else []))


def _budget_lines(results: Results) -> list[str]:
    """The budgets table, then each budget over its limit named (a run's own verdict)."""
    if not results.budgets:
        return []
    rows = budgets.console_rows(results, one_line)
    lines = ["", *table(rows, [False, True, True, True, True, False])]
    lines += [f"over budget: {phrase}" for phrase in budgets.over_phrases(results, one_line)]
    return lines + [f"note: {line}" for line in budgets.notes(results, one_line)]


def _headline(results: Results, color: bool) -> str:
    text = headline(results, quote=one_line).removeprefix("### ")
    verdict = results.decision or ""
    if color and verdict in ANSI:
        return f"{ANSI[verdict]}{text}{ANSI['reset']}"
    return text


def _gate_rows(results: Results) -> list[list[str]]:
    rows = [["metric", "base", "head", "change", "95% interval", "could see", "verdict"]]
    for c in results.comparisons:
        rows.append(
            [
                label(c.metric),
                quantity(c.metric, c.base_median),
                quantity(c.metric, c.head_median),
                change_words(c),
                "—" if c.verdict == "too short" else interval(c.ci),
                could_see_cell(c),
                c.verdict,
            ]
        )
    return rows


def render_gate(results: Results, *, color: bool = False) -> str:
    """A terminal version of the comment, in its order: headline, one row per metric, the
    culprits and what they leave unexplained, how to get a verdict, then noise, runs, seed."""
    lines = [_headline(results, color)]
    if results.comparisons:
        lines += ["", *table(_gate_rows(results), [False, True, True, True, True, True, False])]
    lines += _budget_lines(results)
    culprits = culprit_lines(results.breakdown) if results.breakdown else []
    culprits += [f"not explained: {line}" for line in unexplained_lines(results)]
    if culprits:
        lines += ["", "culprits:", *(f"  {line}" for line in culprits)]
    advice = advice_lines(results)
    if advice:
        lines += ["", "to get a verdict:", *(f"  {line}" for line in advice)]
    notes = [f"note: {note}" for note in comparison_notes(results)]
    notes += [f"warning: {w}" for w in noise_lines(results)]
    if notes:
        lines += ["", *notes]
    runs = ", ".join(f"{name} {len(side.samples)}" for name, side in results.sides.items())
    if runs:
        seed = f"; seed {results.seed}" if results.seed is not None else ""
        lines += ["", f"runs: {runs}{seed}"]
    return "\n".join(lines)
