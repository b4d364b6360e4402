"""The import section of the comment: a table, then the newcomers in words.

Text only: the findings come from compare/imports.py.
"""

from __future__ import annotations

from collections.abc import Callable

from ..compare.imports import MIN_IMPORT_CHANGE_S, ImportComparison, ModuleImportChange
from . import format as fmt
from .leftovers import duplicate_sentence


def relative(change: float) -> str:
    """A relative change in the report's one notation: +12.3%, +67,900.0% (never ×680:
    a reader compares changes across tables only when they read alike)."""
    return fmt.percent(change)


def relative_interval(ci: tuple[float, float]) -> str:
    return f"{relative(ci[0])} … {relative(ci[1])}"


def describe_new_heavy(
    change: ModuleImportChange, quote: Callable[[str], str] | None = None
) -> list[str]:
    """Sentences a reviewer can act on: who now imports what, and what it costs.

    Heavy newcomers get a sentence each.  When the import grew and none is
    heavy alone, the new modules that account for it are named together,
    costliest first, each with its chain.  `quote` shows outside text (module
    names): inline code in Markdown, one plain line on a terminal.
    """
    quote = quote or fmt.untrusted
    sentences = []
    for heavy in change.new_heavy:
        importer = heavy.chain[-2] if len(heavy.chain) > 1 else change.module
        chain = " → ".join(quote(name) for name in heavy.chain)
        cost = f"+{fmt.seconds(heavy.seconds)}"
        added = change.added_bytes
        if added is not None and added > 0 and heavy is change.new_heavy[0]:
            cost += f", import of {quote(change.module)} +{fmt.megabytes(added)}"
        more = f", with {heavy.modules_pulled - 1} more modules" if heavy.modules_pulled > 1 else ""
        sentences.append(
            f"{quote(importer)} now imports {quote(heavy.name)} at module level: "
            f"{cost}{more} (chain: {chain})"
        )
    grew = change.verdict == "regression" or change.added_seconds >= MIN_IMPORT_CHANGE_S
    if not change.new_heavy and change.newcomers and grew:
        shown = change.newcomers[:5]
        listed = "; ".join(
            f"{quote(m.name)} +{fmt.seconds(m.seconds)} (chain: "
            + " → ".join(quote(name) for name in m.chain)
            + ")"
            for m in shown
        )
        rest = change.new_modules - sum(m.modules_pulled for m in shown)
        more = f"; and {rest} more" if rest > 0 else ""
        sentences.append(
            f"the import of {quote(change.module)} grew by +{fmt.seconds(change.added_seconds)} "
            f"with {change.new_modules} new modules, none heavy alone: {listed}{more}"
        )
    return sentences


def render_imports_markdown(comparison: ImportComparison) -> str:
    """The import section of the comment: a table, then the newcomers in words."""
    if not comparison.modules:
        return ""
    rows = [
        "| import | base | head | change | 95% interval | memory | modules |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    sentences = []
    for m in comparison.modules:
        icon = fmt.VERDICT_ICONS.get(m.verdict, "")
        memory = "n/a"
        if m.base_rss_bytes is not None and m.head_rss_bytes is not None:
            memory = fmt.delta("peak_memory", m.base_rss_bytes, m.head_rss_bytes)
        rows.append(
            f"| {icon} {fmt.untrusted(m.module, cell=True)} | {fmt.seconds(m.base_seconds)} | "
            f"{fmt.seconds(m.head_seconds)}"
            f" | {relative(m.change)} ({fmt.delta('wall_time', m.base_seconds, m.head_seconds)})"
            f" | {relative_interval(m.ci)} | {memory}"
            f" | {m.base_modules} → {m.head_modules} |"
        )
        sentences.extend(describe_new_heavy(m))
        sentences.extend(
            ("🔴 " if d.new else "") + duplicate_sentence(d, fmt.untrusted) for d in m.duplicates
        )
    text = "**Import time**\n\n" + "\n".join(rows)
    if sentences:
        text += "\n\n" + "\n".join(f"- {s}" for s in sentences)
    return text
