"""The comment's "which test, which import" section, and its lines for a terminal.

Text only: the findings come from compare/tests.py and compare/imports.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..compare.tests import Breakdown, GroupChange, TestChange, TestsComparison
from . import format as fmt
from . import leftovers
from .imports import describe_new_heavy, relative, relative_interval, render_imports_markdown

TOP = 10


#: The longest note shown; a note names what the run wrote (its memory method, say).
NOTE_CHARS = 500


def _time_rows(changes: Sequence[TestChange]) -> list[str]:
    return [
        f"| {fmt.untrusted(c.nodeid, cell=True)} | {fmt.seconds(c.base_median)} | "
        f"{fmt.seconds(c.head_median)} | "
        f"{relative(c.change)} (+{fmt.seconds(c.difference)}) | {relative_interval(c.ci)} |"
        for c in changes
    ]


def _memory_rows(changes: Sequence[TestChange]) -> list[str]:
    return [
        f"| {fmt.untrusted(c.nodeid, cell=True)} | +{fmt.megabytes(c.base_median)} | "
        f"+{fmt.megabytes(c.head_median)} | "
        f"{fmt.delta('peak_memory', 0, c.difference)} | "
        f"{fmt.delta('peak_memory', 0, c.difference_ci[0])} … "
        f"{fmt.delta('peak_memory', 0, c.difference_ci[1])} |"
        for c in changes
    ]


def note_line(note: object) -> str:
    """A note of the breakdown: perfgate's words, but with names and methods the run wrote,
    and any text at all in a results file from elsewhere, so shown as outside text."""
    return f"_note:_ {fmt.untrusted(note, limit=NOTE_CHARS)}"


def _names(names: Sequence[str], limit: int) -> str:
    shown = ", ".join(fmt.untrusted(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _listing(heading: str, lines: Sequence[str], total: int, what: str) -> str:
    """A heading, the lines shown, and how many more there are."""
    more = total - len(lines)
    return heading + "\n".join(lines) + (f"\n\n…and {more} more {what}" if more > 0 else "")


def _tests_section(tests: TestsComparison, top: int) -> str:
    parts = []
    how = (
        f"{tests.compared} tests compared over {tests.base_runs} and {tests.head_runs} runs; "
        "p-values corrected (Holm) for every test that moved enough to matter"
    )
    table = "| test | base | head | change | 95% interval |\n|---|---:|---:|---:|---|\n"
    if tests.time_regressions:
        parts.append(
            _listing(
                f"🔴 **Slower tests** ({how})\n\n{table}",
                _time_rows(tests.time_regressions[:top]),
                len(tests.time_regressions),
                "slower tests",
            )
        )
    if tests.group_regressions:
        parts.append(
            _listing(
                "🔴 **Slower groups of tests** (each test's change too small to single out; the "
                "sum per file, class or parametrized function, corrected with the tests)\n\n",
                [
                    f"- {group_sentence(g, fmt.untrusted)} ({relative(g.change.change)}, "
                    f"95% interval {relative_interval(g.change.ci)})"
                    for g in tests.group_regressions[:top]
                ],
                len(tests.group_regressions),
                "slower groups",
            )
        )
    if tests.memory_regressions:
        parts.append(
            _listing(
                f"🔴 **Hungrier tests** (memory added at the test's peak)\n\n{table}",
                _memory_rows(tests.memory_regressions[:top]),
                len(tests.memory_regressions),
                "hungrier tests",
            )
        )
    for leak in tests.leaks:
        base = (
            f" (base leaks {fmt.delta('peak_memory', 0, leak.base_growth_bytes)})"
            if leak.base_growth_bytes is not None
            else " (base does not leak)"
        )
        parts.append(
            f"🔴 **Leak**: RSS keeps growing from {fmt.untrusted(leak.first_test)} on: "
            f"{fmt.delta('peak_memory', 0, leak.growth_bytes)} by the end of the suite{base}, "
            f"growing after {len(leak.growing_tests)} tests: {_names(leak.growing_tests, top)}"
        )
    parts += leftovers.markdown_parts(tests.left_behind, tests.duplicates, top)
    collection = tests.collection
    if collection is not None and collection.verdict in ("regression", "improvement"):
        red = "🔴 " if collection.verdict == "regression" else ""
        parts.append(
            f"{red}**Collection**: {fmt.seconds(collection.base_median)} → "
            f"{fmt.seconds(collection.head_median)} ({relative(collection.change)}, "
            f"{relative_interval(collection.ci)}): imports at collection are paid by every run"
        )
    faster = tests.time_improvements
    if faster:
        listed = ", ".join(
            f"{fmt.untrusted(c.nodeid)} "
            f"({fmt.seconds(c.base_median)} → {fmt.seconds(c.head_median)})"
            for c in faster[:top]
        )
        more = f" and {len(faster) - top} more" if len(faster) > top else ""
        parts.append(f"**Faster tests** ({len(faster)}): {listed}{more}")
    if tests.added:
        parts.append(f"**Tests added** ({len(tests.added)}): {_names(tests.added, top)}")
    if tests.removed:
        parts.append(f"**Tests removed** ({len(tests.removed)}): {_names(tests.removed, top)}")
    if not (
        tests.time_regressions or tests.group_regressions or tests.memory_regressions
        or tests.leaks or tests.left_behind
    ):  # fmt: skip
        parts.append(
            f"No test is singled out as slower, hungrier, leaking or leaving resources behind "
            f"({how})."
        )
    parts.extend(note_line(note) for note in tests.notes)
    return "\n\n".join(parts)


def group_sentence(group: GroupChange, quote: Callable[[str], str]) -> str:
    """ "tests in `tests/test_time.py`: 300 tests, +640 ms in all"."""
    where = {"file": "", "class": "class ", "function": "parametrized function "}[group.kind]
    return (
        f"tests in {where}{quote(group.change.nodeid)}: {group.tests} tests, "
        f"+{fmt.seconds(group.change.difference)} in all"
    )


def culprit_lines(breakdown: Breakdown | Mapping[str, Any], top: int = 3) -> list[str]:
    """The culprits of the comment as plain lines for a terminal, the `top` of each kind.

    The same findings as `render_breakdown_markdown`, in the same order: the
    console is where a developer running the gate on a laptop looks.
    """
    if not isinstance(breakdown, Breakdown):
        breakdown = Breakdown.from_json(breakdown)
    quote = fmt.one_line
    lines: list[str] = []
    if breakdown.imports:
        for module in breakdown.imports.modules:
            lines += [f"import: {s}" for s in describe_new_heavy(module, quote)][:top]
            lines += leftovers.console_lines((), module.duplicates, top)
    tests = breakdown.tests
    if tests is not None:
        for c in tests.time_regressions[:top]:
            lines.append(
                f"slower test: {quote(c.nodeid)}: {fmt.seconds(c.base_median)} → "
                f"{fmt.seconds(c.head_median)} (+{fmt.seconds(c.difference)})"
            )
        lines += [f"slower {group_sentence(g, quote)}" for g in tests.group_regressions[:top]]
        for c in tests.memory_regressions[:top]:
            lines.append(
                f"hungrier test: {quote(c.nodeid)}: "
                f"{fmt.delta('peak_memory', 0, c.difference)} at its peak"
            )
        for leak in tests.leaks:
            lines.append(
                f"leak: RSS keeps growing from {quote(leak.first_test)} on: "
                f"{fmt.delta('peak_memory', 0, leak.growth_bytes)} by the end of the suite"
            )
        lines += leftovers.console_lines(tests.left_behind, tests.duplicates, top)
        hidden = sum(
            max(0, len(found) - top)
            for found in (tests.time_regressions, tests.group_regressions,
                          tests.memory_regressions, tests.left_behind,
                          [d for d in tests.duplicates if d.new])
        )  # fmt: skip
        if hidden:
            lines.append(f"…and {hidden} more in the Markdown report (--markdown PATH)")
    return lines


def render_breakdown_markdown(
    breakdown: Breakdown | Mapping[str, Any], max_chars: int = 20_000
) -> str:
    """The comment's "which test, which import" section, never longer than `max_chars`.

    Accepts the dataclass or its JSON (what `Results.breakdown` holds).  When
    the full lists do not fit, fewer rows are shown per list before anything
    is cut.
    """
    if not isinstance(breakdown, Breakdown):
        breakdown = Breakdown.from_json(breakdown)
    text = ""
    for top in (TOP, 5, 3, 1):
        sections = ["#### Which test, which import"]
        if breakdown.imports and breakdown.imports.modules:
            sections.append(render_imports_markdown(breakdown.imports))
        if breakdown.tests:
            sections.append(_tests_section(breakdown.tests, top))
        sections.extend(note_line(note) for note in breakdown.notes)
        text = "\n\n".join(s for s in sections if s)
        if len(text) <= max_chars:
            return text
    cut = "\n\n…(cut to fit the comment)"
    return text[: max(0, max_chars - len(cut))] + cut if max_chars > len(cut) else text[:max_chars]
