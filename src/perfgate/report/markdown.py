"""The Markdown report: the PR comment, the job summary and `--markdown`.

Verdict first, because most readers stop after one line; then one row per
metric; then the evidence for those who doubt it.  GitHub refuses a comment
over 65,536 characters, so sections are dropped or shortened from the least
important up (the raw runs, then the charts, then the details), never the
verdict or the table, and the reader is told what was cut.

Text that comes from outside perfgate (the command, refs, test and module
names, the machine, a failing run's output, any string of a results file) goes
through `format.untrusted` (inline code it cannot close) or `code_block` (a
fence it cannot close), so a pull request cannot write its own Markdown into
the comment: no ping, no link, no image, no closed section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import metrics
from ..compare import counts, stats
from ..progress import format_seconds
from ..results import (
    NO_VERDICT,
    Comparison,
    Results,
    Side,
    measured_metrics,
)
from . import budgets
from .chart import chart_sides, mermaid_runs
from .format import (
    VERDICT_ICONS,
    delta,
    interval,
    label,
    percent,
    quantity,
    share,
    untrusted,
)

GITHUB_COMMENT_LIMIT = 65_536
HEADLINE_ICONS = {"pass": "✅", "fail": "❌", "no verdict": "🟡", "error": "⚠️"}
#: How much of a failing run's output the comment shows (its end: where the error is).
ERROR_TAIL_CHARS = 4000
#: A budget no section reaches: asks a section whether it has anything to say at all.
UNLIMITED = 1 << 40
#: The longest first line of an error that the headline repeats.
HEADLINE_ERROR_CHARS = 300
#: The longest command the details show (the results JSON keeps it whole).
COMMAND_CHARS = 1000


# --- Markdown that outside text cannot break ----------------------------------------------


def code_block(text: str, info: str = "text") -> str:
    """`text` in a fenced block that no line of it can close."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


#: Words perfgate itself writes into results; any other value came from elsewhere.
VERDICTS = frozenset({"pass", "fail", "error", NO_VERDICT, *VERDICT_ICONS})
SIDES = frozenset({"base", "head", "run"})
METHODS = frozenset(
    {
        "paired: Wilcoxon signed-rank, Hodges-Lehmann interval",
        "unpaired: Mann-Whitney U, Hodges-Lehmann (Moses) interval",
        "stratified by shard: van Elteren, weighted Hodges-Lehmann interval",
        counts.METHOD,
    }
)


def known(value: object, words: frozenset[str], *, cell: bool = False) -> str:
    """`value` as it is when perfgate wrote it, else as outside text."""
    return value if isinstance(value, str) and value in words else untrusted(value, cell=cell)


def _label(metric: str, *, cell: bool = False) -> str:
    """A metric's name for running text; a results file from elsewhere may name anything."""
    return label(metric) if metric in metrics.BY_NAME else untrusted(metric, cell=cell)


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
    gated = [f"{_label(c.metric)} {change_words(c)}" for c in results.regressions] + over
    others = named_list(red_findings(results, quote))
    if decision == "fail":
        text = "fail: " + ", ".join(gated) + (f"; also 🔴 {others}" if others else "")
    elif decision == NO_VERDICT:
        text = f"no verdict: {_could_see(results)}" + (f"; 🔴 {others}" if others else "")
    elif decision == "pass":
        improved = [
            f"{_label(c.metric)} {change_words(c)}"
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
        ("slower test", tests.time_regressions),
        ("slower group of tests", tests.group_regressions),
        ("hungrier test", tests.memory_regressions),
    )
    for what, items in kinds:
        if len(items) == 1:
            item = items[0]
            change = item.change if isinstance(item, GroupChange) else item
            found.append(f"{what} {quote(change.nodeid)}")
        elif items:
            found.append(f"{len(items)} {what.replace('test', 'tests', 1)}")
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
            f"| {_label(c.metric, cell=True)} | {quantity(c.metric, c.base_median)} | "
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
            by_cost.setdefault(cost, []).append(_label(c.metric))
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
            notes.append(f"{_label(c.metric)}: " + "; ".join(parts))
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
        moved = f"{_label(c.metric)} {delta(c.metric, 0, change)}"
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


def _side_line(name: str, side: Side) -> str:
    ok = [s for s in side.samples if s.ok]
    failed = len(side.samples) - len(ok)
    where = " ".join(untrusted(text) for text in (side.ref, side.sha[:12]) if text)
    where = f"{where}, " if where else ""
    line = f"- {known(name, SIDES)}: {where}{len(ok)} run{'s' if len(ok) != 1 else ''}"
    if failed:
        line += f" ({failed} failed, not counted)"
    if len(ok) >= 2:
        kept = Side(side.ref, side.sha, tuple(ok))
        cvs = [
            f"{label(m)} {share(stats.summarize(kept.values(m)).cv)}"
            for m in measured_metrics(kept)
            if len(kept.values(m)) >= 2  # counted runs may be fewer than the measured
        ]
        line += "; noise (CV): " + ", ".join(cvs)
    return line


def look_phrase(results: Results) -> str:
    """Which of the gate's planned looks decided, and the p-value a regression needed."""
    levels = [c.alpha for c in results.comparisons if c.alpha is not None]
    looks = results.settings.get("looks")
    if not levels or not results.sides:
        return ""
    runs = min(len(side.samples) for side in results.sides.values())
    where = ""
    if isinstance(looks, list) and len(looks) > 1:
        taken = len([n for n in looks if isinstance(n, int) and n < runs]) + 1
        where = f"look {taken} of up to {len(looks)} (at {runs} runs per side), "
    return (
        f"decided at {where}one-sided p ≤ {levels[0]:.2g} for a regression "
        "(O'Brien-Fleming spending of 1% per metric over the looks; docs/statistics.md)"
    )


def details_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Runs, noise, method, command, seed and machine: what makes the verdict checkable."""
    env = results.environment
    lines = [_side_line(name, side) for name, side in results.sides.items()]
    if results.command:
        lines.append(f"- command: {command_text(results.command)}")
    if results.seed is not None:
        lines.append(
            f"- run order seed: {results.seed} (base and head run in pairs of shuffled order, "
            "so that a drifting machine hits both alike)"
        )
    thresholds = [f"{_label(c.metric)} {share(c.threshold, 0)}" for c in results.comparisons]
    if thresholds:
        lines.append("- thresholds: " + ", ".join(thresholds))
    counter = results.settings.get("instructions_counter")
    if counter:
        lines.append(f"- instructions counted in runs of their own with {untrusted(counter)}")
    methods = sorted({known(c.method, METHODS) for c in results.comparisons if c.method})
    if methods:
        shift = (
            "the stratified Hodges-Lehmann shift (the weighted median of the head/base run "
            "ratios within each shard)"
            if results.shards
            else "the Hodges-Lehmann shift (the median of all head/base run ratios, not the "
            "ratio of the medians)"
        )
        lines.append(
            f"- statistics: {'; '.join(methods)}; change: {shift}, with its 95% interval"
            + _unpaired_note(methods)
        )
    look = look_phrase(results)
    if look:
        lines.append(f"- {look}")
    lines += shard_lines(results)
    lines += [f"- ⚠️ noise: {warning}" for warning in noise_lines(results)]
    cores = env.cores if isinstance(env.cores, int) else untrusted(env.cores or "?")
    lines.append(
        f"- machine: {_shown(env.cpu_model, 'unknown CPU')}, {cores} cores, "
        f"Python {_shown(env.python)}, {_shown(env.os)}, perfgate {_shown(env.perfgate)}"
    )
    return "<details><summary>Details</summary>\n\n" + "\n".join(lines) + "\n\n</details>"


def shard_lines(results: Results) -> list[str]:
    """Which runner ran which shard: the merged verdict stands on all of them.  Every field
    is another job's output, so each is shown as outside text."""
    lines = []
    for record in results.shards[:MAX_SHARD_LINES]:
        machine = record.get("machine") if isinstance(record, Mapping) else None
        machine = machine if isinstance(machine, Mapping) else {}
        index = record.get("index") if isinstance(record, Mapping) else None
        count = record.get("count") if isinstance(record, Mapping) else None
        lines.append(
            f"- shard {_number(index)}/{_number(count)}: {_shown(machine.get('hostname'))}"
            f", {_shown(machine.get('cpu_model'), 'unknown CPU')}, "
            f"{_shown(machine.get('kernel'))}, Python {_shown(machine.get('python'))}"
        )
    if len(results.shards) > MAX_SHARD_LINES:
        lines.append(f"- and {len(results.shards) - MAX_SHARD_LINES} more shards")
    if lines:
        lines.insert(0, f"- {len(results.shards)} shards, base and head compared within each "
                     "(a slower runner slows both of its sides alike)")  # fmt: skip
    return lines


def _number(value: object) -> str:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return str(value) if whole else untrusted(value)


#: Shards named one by one in the details; a matrix of 100 gets a count for the rest.
MAX_SHARD_LINES = 12


def _unpaired_note(methods: list[str]) -> str:
    """Pairs set the run order; an unpaired test must say so beside them, or it reads as a
    contradiction."""
    if any(method.startswith("unpaired") for method in methods):
        return " (the pairs only set the run order: the runs are compared as two samples)"
    return ""


def command_text(command: str) -> str:
    """The command as it was given: one line as inline code, several as a code block under
    the list item (a `-c` script joined into one line would read as invalid Python)."""
    if "\n" not in command.strip():
        return untrusted(command, limit=COMMAND_CHARS)
    text = command.strip()
    if len(text) > COMMAND_CHARS:
        text = text[: COMMAND_CHARS - 1] + "…"
    text = _HIDDEN_IN_BLOCK.sub("\ufffd", text)
    return "\n\n" + "\n".join(f"  {line}" for line in code_block(text, "sh").splitlines())


#: Control characters a code block must not carry (newlines and tabs are the command's own).
_HIDDEN_IN_BLOCK = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def _shown(text: object, missing: str = "?") -> str:
    return untrusted(text) if text else missing


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


def _raw_row(name: str, s, counted: bool = False) -> str:  # noqa: ANN001 - a Sample
    """One run; with `counted`, its exact instruction count too (exact: it is the point)."""
    count = f" {s.instructions if s.instructions is not None else ''} |" if counted else ""
    return (
        f"| {s.order} | {name} | {s.wall_s:.4f} | {s.cpu_s:.4f} | "
        f"{s.max_rss_bytes / 1e6:.1f} | {s.tree_peak_rss_bytes / 1e6:.1f} |{count} "
        f"{'timeout' if s.timed_out else s.exit_code} |"
    )


def raw_runs_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Every run as a row in run order, as many as fit in `budget` characters."""
    counted = any(
        s.instructions is not None for side in results.sides.values() for s in side.samples
    )
    rows = sorted(
        (s.order, _raw_row(known(name, SIDES, cell=True), s, counted))
        for name, side in results.sides.items()
        for s in side.samples
    )
    if not rows:
        return ""
    count_head, count_align = (" instructions |", "---:|") if counted else ("", "")
    top = (
        "<details><summary>Raw runs</summary>\n\n"
        "| order | side | wall s | CPU s | largest process MB | tree peak MB (gated) |"
        f"{count_head} exit |\n"
        f"|---:|---|---:|---:|---:|---:|{count_align}---:|"
    )
    end = "\n\n</details>"
    note_room = len(f"\n\n… {len(rows):,} runs not shown; see the results JSON")
    used = len(top) + len(end) + note_room
    shown = []
    for _, row in rows:
        if used + len(row) + 1 > budget:
            break
        shown.append(row)
        used += len(row) + 1
    if not shown:
        return ""
    cut = len(rows) - len(shown)
    note = f"\n\n… {cut:,} runs not shown; see the results JSON" if cut else ""
    return top + "\n" + "\n".join(shown) + note + end


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
