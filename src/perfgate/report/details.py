"""The comment's details and raw runs: what was run, on which commits, how, every run.

Text only, from results; everything a results file says that perfgate did not
write is shown as outside text (format.untrusted, format.code_block).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..compare import stats
from ..results import Results, Side, measured_metrics
from .advice import noise_lines
from .format import (
    GITHUB_COMMENT_LIMIT,
    METHODS,
    SIDES,
    code_block,
    known,
    label,
    metric_label,
    share,
    untrusted,
)

#: The longest command the details show (the results JSON keeps it whole).
COMMAND_CHARS = 1000


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
    thresholds = [f"{metric_label(c.metric)} {share(c.threshold, 0)}" for c in results.comparisons]
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
            + _pairing_note(methods)
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


def _pairing_note(methods: list[str]) -> str:
    """How the pairs enter the test: an unpaired test must say that they only set the run
    order, or it reads as a contradiction; the paired one, what its p-value counts."""
    notes = []
    if any(method.startswith("paired") for method in methods):
        notes.append(
            "paired: the p-value counts the ways the coin flips of the pairs' order could "
            "have fallen, so a machine that drifts cannot fake a change"
        )
    if any(method.startswith("unpaired") for method in methods):
        notes.append("unpaired: the pairs only set the run order, the runs are compared as "
                     "two samples")  # fmt: skip
    return f" ({'; '.join(notes)})" if notes else ""


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
