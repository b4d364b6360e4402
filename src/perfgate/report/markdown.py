"""The Markdown report: the PR comment, the job summary and `--markdown`.

Verdict first, because most readers stop after one line; then one row per
metric; then the evidence for those who doubt it.  GitHub refuses a comment
over 65,536 characters, so sections are dropped or shortened from the least
important up (the raw runs, then the charts, then the details), never the
verdict or the table, and the reader is told what was cut.

This module writes the headline, the table and the error, and assembles the
sections: the causes and the advice (advice.py), the details and the raw runs
(details.py), the charts (chart.py), the evidence (breakdown.py, imports.py,
leftovers.py, budgets.py).

Text that comes from outside perfgate (the command, refs, test and module
names, the machine, a failing run's output, any string of a results file) goes
through `format.untrusted` (inline code it cannot close) or `format.code_block`
(a fence it cannot close), so a pull request cannot write its own Markdown into
the comment: no ping, no link, no image, no closed section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..compare import stats
from ..results import (
    NO_VERDICT,
    Comparison,
    Results,
    Side,
    measured_metrics,
)
from . import budgets
from .advice import advice_section, causes_section, comparison_notes
from .chart import charts_section
from .details import details_section, raw_runs_section
from .format import (
    GITHUB_COMMENT_LIMIT,
    SIDES,
    VERDICT_ICONS,
    VERDICTS,
    code_block,
    delta,
    interval,
    known,
    label,
    metric_label,
    percent,
    quantity,
    share,
    untrusted,
)

HEADLINE_ICONS = {"pass": "✅", "fail": "❌", "no verdict": "🟡", "error": "⚠️"}
#: How much of a failing run's output the comment shows (its end: where the error is).
ERROR_TAIL_CHARS = 4000
#: A budget no section reaches: asks a section whether it has anything to say at all.
UNLIMITED = 1 << 40
#: The longest first line of an error that the headline repeats.
HEADLINE_ERROR_CHARS = 300


# --- Markdown that outside text cannot break ----------------------------------------------


def marker_comment(marker: str) -> str:
    """The hidden line by which the publisher finds this gate's comment again (a status
    context is any text: nothing in it may end the HTML comment or the line)."""
    marker = re.sub(r"-{2,}", "-", re.sub(r"[<>\r\n]", "", marker))
    return f"<!-- perfgate:{marker} -->"


# --- The verdict and the table --------------------------------------------------------------


def headline(results: Results, quote: Callable[..., str] = untrusted) -> str:
    """The first line: fail, pass or no verdict, and every 🔴 of the report named.

    Three headlines that cannot be confused: a gated metric regressed (❌ fail),
    none moved beyond its threshold (✅ pass), or one was too noisy to tell (🟡 no
    verdict, with the smallest change this run could see).  A 🔴 further down
    (an import, a test, a leak) is named here too, gated or not.  `quote`
    shows outside text: inline code here, one plain line in a terminal.
    """
    decision = results.decision
    over = budgets.over_phrases(results, quote)
    if decision is None:
        runs = sum(len(side.samples) for side in results.sides.values())
        text = f"{runs} run{'s' if runs != 1 else ''} measured"
        return f"### {'❌' if over else 'ℹ️'} perfgate: {text}" + (
            f"; 🔴 {named_list(over)}" if over else ""
        )
    icon = HEADLINE_ICONS.get(decision, "ℹ️")
    if decision == "error":
        lines = (results.error or "the gate failed").strip().splitlines() or ["the gate failed"]
        return f"### {icon} perfgate: error — {quote(lines[0], limit=HEADLINE_ERROR_CHARS)}"
    gated = [f"{metric_label(c.metric)} {change_words(c)}" for c in results.regressions] + over
    others = named_list(red_findings(results, quote))
    if decision == "fail":
        text = "fail: " + ", ".join(gated) + (f"; also 🔴 {others}" if others else "")
    elif decision == NO_VERDICT:
        text = f"no verdict: {_could_see(results)}" + (f"; 🔴 {others}" if others else "")
    elif decision == "pass":
        improved = [
            f"{metric_label(c.metric)} {change_words(c)}"
            for c in results.comparisons
            if c.verdict == "improvement"
        ]
        text = "pass: " + (
            "improved: " + ", ".join(improved)
            if improved
            else "no metric moved beyond its threshold"
        )
        text += f"; not gated: 🔴 {others}" if others else ""
    else:
        text = known(decision, VERDICTS)
    return f"### {icon} perfgate: {text}"


#: How many 🔴 findings the headline names before it counts the rest.
HEADLINE_NAMES = 3


def named_list(names: list[str]) -> str:
    """`a, b, c and 4 more`: the headline stays one line with a thousand culprits."""
    shown = ", ".join(names[:HEADLINE_NAMES])
    more = len(names) - HEADLINE_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _could_see(results: Results) -> str:
    """The smallest change the noisiest undecided metric would have shown (four times in
    five): the figure that says how much a "no verdict" could be hiding."""
    seen = [
        c.detectable_change
        for c in results.comparisons
        if c.verdict == "inconclusive"
        and c.detectable_change is not None
        and math.isfinite(c.detectable_change)
    ]
    if not seen:
        return "too noisy to tell"
    return f"this run could only see changes above {share(max(seen), 0)}"


def red_findings(results: Results, quote: Callable[..., str] = untrusted) -> list[str]:
    """Every 🔴 below the table in a few words: imports, tests, groups, memory, leaks."""
    if not results.breakdown:
        return []
    from ..compare.tests import Breakdown, GroupChange
    from . import leftovers
    from .imports import relative

    breakdown = results.breakdown
    if not isinstance(breakdown, Breakdown):
        breakdown = Breakdown.from_json(breakdown)
    found = []
    if breakdown.imports:
        found += [
            f"import {quote(m.module)} {relative(m.change)} "
            f"({delta('wall_time', m.base_seconds, m.head_seconds)})"
            for m in breakdown.imports.modules
            if m.verdict == "regression"
        ]
        for m in breakdown.imports.modules:
            found += leftovers.red_findings((), m.duplicates, quote)
    tests = breakdown.tests
    if tests is None:
        return found
    kinds = (
        ("slower test", "slower tests", tests.time_regressions),
        ("slower group of tests", "slower groups of tests", tests.group_regressions),
        ("hungrier test", "hungrier tests", tests.memory_regressions),
    )
    for one, many, items in kinds:
        if len(items) == 1:
            item = items[0]
            change = item.change if isinstance(item, GroupChange) else item
            found.append(f"{one} {quote(change.nodeid)}")
        elif items:
            found.append(f"{len(items)} {many}")
    found += [f"a leak from {quote(leak.first_test)}" for leak in tests.leaks]
    found += leftovers.red_findings(tests.left_behind, tests.duplicates, quote)
    if tests.collection is not None and tests.collection.verdict == "regression":
        found.append(f"collection {percent(tests.collection.change)}")
    return found


def change_words(c: Comparison) -> str:
    """A change as the report always writes it: the percentage and the difference in the
    metric's unit (+12.3% (+48 ms)); a metric too short for a ratio, the difference alone."""
    difference = delta(c.metric, 0, c.shift)
    if c.verdict == "too short":
        return difference
    return f"{percent(c.change)} ({difference})"


def _interval_cell(c: Comparison) -> str:
    return "—" if c.verdict == "too short" else interval(c.ci)


def metric_table(results: Results) -> str:
    """One row per metric: base, head, change, its 95% interval, the smallest change this
    run could see (what a "no verdict" may hide), the verdict."""
    if not results.comparisons:
        return run_table(results)
    rows = [
        "| metric | base median | head median | change | 95% interval | could see | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in results.comparisons:
        rows.append(
            f"| {metric_label(c.metric, cell=True)} | {quantity(c.metric, c.base_median)} | "
            f"{quantity(c.metric, c.head_median)} | {change_words(c)} | {_interval_cell(c)} | "
            f"{could_see_cell(c)} | "
            f"{VERDICT_ICONS.get(c.verdict, '')} {known(c.verdict, VERDICTS, cell=True)} |"
        )
    notes = [f"- ⚠️ {note}" for note in comparison_notes(results)]
    return "\n".join(rows) + ("\n\n" + "\n".join(notes) if notes else "")


def could_see_cell(c: Comparison) -> str:
    """The regression this run would find four times in five (sequential.POWER), as a share;
    "—" where a regression was found (its finding is the figure that counts) or unknown."""
    seen = c.detectable_change
    if c.verdict in ("regression", "too short") or seen is None or not math.isfinite(seen):
        return "—"
    return share(seen, 0) if seen >= 0.095 else share(seen)


def run_table(results: Results) -> str:
    """Without comparisons (`perfgate run`, a gate that failed early): each side's figures."""
    rows = []
    for name, side in results.sides.items():
        ok = [s for s in side.samples if s.ok]
        if not ok:
            continue
        kept = Side(side.ref, side.sha, tuple(ok))
        for metric in measured_metrics(kept):
            values = kept.values(metric)  # the counted runs may be fewer than the measured
            s = stats.summarize(values)
            rows.append(
                f"| {known(name, SIDES, cell=True)} | {label(metric)} | {len(values)} | "
                f"{quantity(metric, s.median)} | "
                f"{quantity(metric, s.min)} | {quantity(metric, s.max)} | {share(s.cv)} |"
            )
    if not rows:
        return ""
    top = "| side | metric | runs | median | min | max | CV |\n|---|---|---:|---:|---:|---:|---:|"
    return top + "\n" + "\n".join(rows)


def error_section(results: Results, budget: int = ERROR_TAIL_CHARS + 100) -> str:
    """The failure in full (the message and the end of the run's output), as much as fits."""
    if results.verdict != "error" or not results.error:
        return ""
    text = results.error.strip()
    room = min(ERROR_TAIL_CHARS, budget - 20)
    if room < 40:
        return ""
    if len(text) > room:
        text = "…" + text[-(room - 1) :]
    return code_block(text)


# --- Optional sections, most important first ---------------------------------------------


@dataclass(frozen=True)
class Section:
    """An optional part of the report: `render(results, budget)` returns at most
    `budget` characters, or "" when it has nothing to say or cannot fit."""

    name: str
    render: Callable[[Results, int], str]


#: The optional sections, in display order, which is also the order of
#: importance: when the comment would be too long, the last ones shrink or go
#: first.  A new section (per-test evidence, say) is one more entry here.
OPTIONAL_SECTIONS: tuple[Section, ...] = (
    Section("causes", causes_section),
    Section("advice", advice_section),
    Section("details", details_section),
    Section("charts", charts_section),
    Section("raw runs", raw_runs_section),
)


# --- The whole comment --------------------------------------------------------------------


def _cut_note(names: list[str], max_chars: int) -> str:
    return (
        f"<sub>… not shown to stay within {max_chars:,} characters: "
        f"{', '.join(names)}; see the results JSON</sub>"
    )


def _join(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p) + "\n"


def _hard_cut(text: str, max_chars: int) -> str:
    """Last resort for a tiny limit: keep the start (marker, verdict), say it was cut."""
    if len(text) <= max_chars:
        return text
    suffix = "\n… cut\n"
    if max_chars <= len(suffix) + 1:
        return text[:max_chars]
    return text[: max_chars - len(suffix)].rstrip() + suffix


def render_comment(
    results: Results,
    *,
    marker: str | None = None,
    max_chars: int = GITHUB_COMMENT_LIMIT,
    run_url: str | None = None,
    note: str = "",
) -> str:
    """The whole report, never longer than `max_chars` characters nor UTF-8 bytes.

    The verdict (after the hidden marker, when given) and the metric table
    always come first and are never dropped; the optional sections get the
    room that is left, in order of importance.  `note` is perfgate's own line
    under the verdict (where the figures come from).  GitHub's limit may be
    counted in bytes: a report whose characters take more is rendered again
    in less room, so that it is never cut by a last-resort guard.
    """
    room = max_chars
    while True:
        text = _render(results, marker=marker, max_chars=room, run_url=run_url, note=note)
        size = len(text.encode())
        if size <= max_chars or room < 1000:
            return text if size <= max_chars else _hard_cut_bytes(text, max_chars)
        room = int(room * max_chars / size) - 100


def _hard_cut_bytes(text: str, max_bytes: int) -> str:
    suffix = "\n… cut\n"
    room = max_bytes - len(suffix.encode())
    if room <= 0:
        return text.encode()[:max_bytes].decode(errors="ignore")
    return text.encode()[:room].decode(errors="ignore") + suffix


def _render(
    results: Results, *, marker: str | None, max_chars: int, run_url: str | None, note: str
) -> str:
    top = headline(results)
    if note:
        top = f"{top}\n\n{note}"
    if marker:
        top = f"{marker_comment(marker)}\n{top}"
    footer = f"<sub>[perfgate run]({run_url})</sub>" if run_url else ""
    # Room kept for the closing lines: the footer and a note naming every section.
    reserve = len(footer) + len(_cut_note([s.name for s in OPTIONAL_SECTIONS], max_chars)) + 4
    table = "\n\n".join(t for t in (metric_table(results), budgets.markdown_table(results)) if t)
    # A failed gate's story is its error; the runs measured before it come after.
    error_budget = max_chars - len(_join([top, table])) - reserve - 2
    error = error_section(results, error_budget)
    parts = [top, error, table] if results.verdict == "error" else [top, table, error]
    dropped = []
    for section in OPTIONAL_SECTIONS:
        budget = max_chars - len(_join(parts)) - reserve - 2
        text = section.render(results, budget) if budget > 0 else ""
        if text and len(text) <= budget:
            parts.append(text)
        elif text or section.render(results, UNLIMITED):
            dropped.append(section.name)
    if dropped:
        parts.append(_cut_note(dropped, max_chars))
    parts.append(footer)
    return _hard_cut(_join(parts), max_chars)
