"""Budgets as text: a table under the metrics, and each budget over its limit in words.

The budget's name and limit are shown as the user wrote them (`wall-time`,
`2s`), but through `untrusted`: a results file read by `perfgate publish` may
come from a fork's workflow, and its budgets are then outside text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..results import BudgetCheck, Results
from .format import label, quantity, seconds, untrusted

BUDGET_ICONS = {"over": "🔴", "near": "🟡", "met": "✅", "not measured": "⚪"}
BUDGET_WORDS = {
    "over": "over",
    "near": "near (the interval straddles the limit)",
    "met": "met",
    "not measured": "not measured",
}


def _amount(check: BudgetCheck, value: float) -> str:
    if check.metric == "test_time":
        return seconds(value)
    return quantity(check.metric, value)


def _range(check: BudgetCheck) -> str:
    """The median's interval, `1.20 s – 1.65 s`; an open end (too few runs) is `…`."""
    if check.verdict == "not measured":
        return "—"
    low, high = check.ci
    left = _amount(check, low) if math.isfinite(low) else "…"
    right = _amount(check, high) if math.isfinite(high) else "…"
    return f"{left} – {right}"


def budget_name(check: BudgetCheck, quote: Callable[..., str] = untrusted) -> str:
    """`wall time` for the whole benchmark's budgets, the test file or id for the others."""
    if check.test:
        return quote(check.test)
    return label(check.metric)


def confidence(checks: Sequence[BudgetCheck]) -> str:
    """The interval's confidence: each end errs at most `level`, so 1 - 2 level (98%)."""
    level = checks[0].level if checks else 0.01
    return f"{1 - 2 * level:.0%}"


def over_phrases(results: Results, quote: Callable[..., str] = untrusted) -> list[str]:
    """Each budget over its limit, for the headline: `wall time over its 2s budget (median
    2.31 s)`."""
    return [
        f"{budget_name(c, quote)} over its {quote(c.text)} budget (median {_amount(c, c.median)})"
        for c in results.over_budget
    ]


#: Why a budget has no verdict: per-test data come from perfgate's pytest plugin.
NOT_MEASURED = (
    "not measured: no test ran under this name, or the runs had no per-test data (the "
    "benchmark is not pytest, or pytest did not load perfgate's plugin); never failed"
)


def notes(results: Results, quote: Callable[..., str]) -> list[str]:
    """One line per budget without a verdict, saying why."""
    return [
        f"{budget_name(c, quote)}: {NOT_MEASURED}"
        for c in results.budgets
        if c.verdict == "not measured"
    ]


def markdown_table(results: Results) -> str:
    """The budgets table, right under the metrics: one row per budget."""
    checks = results.budgets
    if not checks:
        return ""
    side = "head" if "head" in results.sides else "the runs"
    rows = [
        f"| budget | limit | median of {side} | {confidence(checks)} interval | runs | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in checks:
        rows.append(
            f"| {budget_name(c, lambda t: untrusted(t, cell=True))} | "
            f"{untrusted(c.text, cell=True)} | "
            f"{_amount(c, c.median) if c.runs else '—'} | {_range(c)} | {c.runs} | "
            f"{BUDGET_ICONS.get(c.verdict, '')} {BUDGET_WORDS.get(c.verdict, 'unknown')} |"
        )
    said = [f"- ⚪ {line}" for line in notes(results, untrusted)]
    return "\n".join(rows) + ("\n\n" + "\n".join(said) if said else "")


def console_rows(results: Results, quote: Callable[..., str]) -> list[list[str]]:
    """The same table for a terminal: a header row, then one row per budget."""
    checks = results.budgets
    header = ["budget", "limit", "median", f"{confidence(checks)} interval", "runs", "verdict"]
    return [header] + [
        [
            budget_name(c, quote),
            quote(c.text),
            _amount(c, c.median) if c.runs else "—",
            _range(c),
            str(c.runs),
            BUDGET_WORDS.get(c.verdict, "unknown"),
        ]
        for c in checks
    ]
