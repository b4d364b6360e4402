"""The Markdown report: the PR comment, the job summary and `--markdown`.

Verdict first, because most readers stop after one line; then one row per
metric; then the evidence for those who doubt it.  GitHub refuses a comment
over 65,536 characters, so sections are dropped from the least important up
(the raw runs, then the charts, then the details), never the verdict or the
table, and the reader is told what was cut.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import stats
from ..results import Comparison, Results, Side
from .chart import mermaid_runs
from .format import VERDICT_ICONS, delta, interval, is_memory, label, percent, quantity

GITHUB_COMMENT_LIMIT = 65_536
HEADLINE_ICONS = {"pass": "✅", "fail": "❌", "error": "⚠️"}

#: Optional sections, most important first; each renders Results to text or "".
SectionRenderer = Callable[[Results], str]


def marker_comment(marker: str) -> str:
    """The hidden line by which the publisher finds this gate's comment again."""
    return f"<!-- perfgate:{marker} -->"


def headline(results: Results) -> str:
    verdict = results.verdict or "run"
    icon = HEADLINE_ICONS.get(verdict, "ℹ️")
    if verdict == "error":
        first = (results.error or "the gate failed").strip().splitlines()[0]
        return f"### {icon} perfgate: error — {first}"
    named = [_regression_phrase(c) for c in results.regressions]
    if named:
        return f"### {icon} perfgate: {verdict} — " + ", ".join(named)
    improved = [
        f"{label(c.metric)} {percent(c.change)}"
        for c in results.comparisons
        if c.verdict == "improvement"
    ]
    unsure = [label(c.metric) for c in results.comparisons if c.verdict == "inconclusive"]
    tail = []
    if improved:
        tail.append("improved: " + ", ".join(improved))
    if unsure:
        tail.append("too noisy to tell: " + ", ".join(unsure))
    if not tail and results.comparisons:
        tail.append("no regression")
    return f"### {icon} perfgate: {verdict}" + (" — " + "; ".join(tail) if tail else "")


def _regression_phrase(c: Comparison) -> str:
    if is_memory(c.metric):
        return (
            f"{label(c.metric)} {delta(c.metric, c.base_median, c.head_median)} "
            f"({percent(c.change)}) (regression)"
        )
    return f"{label(c.metric)} {percent(c.change)} (regression)"


def metric_table(results: Results) -> str:
    if not results.comparisons:
        return ""
    rows = [
        "| metric | base | head | change | 95% interval | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in results.comparisons:
        rows.append(
            f"| {label(c.metric)} | {quantity(c.metric, c.base_median)} | "
            f"{quantity(c.metric, c.head_median)} | {percent(c.change)} | {interval(c.ci)} | "
            f"{VERDICT_ICONS.get(c.verdict, '')} {c.verdict} |"
        )
    return "\n".join(rows)


def error_section(results: Results) -> str:
    if results.verdict != "error" or not results.error:
        return ""
    return "```text\n" + results.error.strip()[-4000:] + "\n```"


def sensitivity_section(results: Results) -> str:
    """What this run could have seen, and what to do when that is not enough."""
    lines = []
    for c in results.comparisons:
        if c.detectable_change is None:
            continue
        kind = "memory" if is_memory(c.metric) else "time"
        sentence = (
            f"- {label(c.metric)}: this run could not have detected a change under "
            f"{c.detectable_change:.1%} (threshold {c.threshold:.0%})"
        )
        if c.detectable_change > c.threshold:
            runs = results.settings.get("max_runs") or 30
            advice = f"; add runs (max-runs above {runs})" + (
                ", gate on CPU time, or use a quieter runner" if kind == "time" else ""
            )
            sentence += advice
        lines.append(sentence)
    return ("**Sensitivity**\n\n" + "\n".join(lines)) if lines else ""


def warnings_section(results: Results) -> str:
    warnings = [w for name, side in results.sides.items() for w in stats.noise_warnings(side, name)]
    return ("**Noise**\n\n" + "\n".join(f"- ⚠️ {w}" for w in warnings)) if warnings else ""


def breakdown_section(results: Results) -> str:
    """Per-test and per-import culprits, when the gate collected them."""
    if not results.breakdown:
        return ""
    try:
        from ..breakdown import render_breakdown_markdown
    except ImportError:  # pragma: no cover - the breakdown module ships with the package
        return ""
    return render_breakdown_markdown(results.breakdown, max_chars=20_000)


def _side_line(name: str, side: Side) -> str:
    runs = len(side.samples)
    if runs < 2:
        return f"- {name}: {side.ref} `{side.sha[:12]}`, {runs} run(s)"
    walls = stats.summarize(side.values("wall_time"))
    cpus = stats.summarize(side.values("cpu_time"))
    memory = stats.summarize(side.values("peak_memory"))
    return (
        f"- {name}: {side.ref} `{side.sha[:12]}`, {runs} runs; noise (CV): wall "
        f"{walls.cv:.1%}, CPU {cpus.cv:.1%}, memory {memory.cv:.1%}"
    )


def details_section(results: Results) -> str:
    env = results.environment
    lines = [_side_line(name, side) for name, side in results.sides.items()]
    lines.append(f"- command: `{results.command}`")
    if results.seed is not None:
        lines.append(
            f"- run order seed: {results.seed} (base and head interleaved in shuffled pairs)"
        )
    methods = sorted({c.method for c in results.comparisons if c.method})
    if methods:
        lines.append(f"- statistics: {'; '.join(methods)}; 95% intervals")
    lines.append(
        f"- machine: {env.cpu_model or 'unknown CPU'}, {env.cores} cores, "
        f"Python {env.python}, {env.os}, perfgate {env.perfgate}"
    )
    return "<details><summary>Details</summary>\n\n" + "\n".join(lines) + "\n\n</details>"


def charts_section(results: Results) -> str:
    charts = [mermaid_runs(results, c.metric) for c in results.comparisons]
    charts = [c for c in charts if c]
    if not charts:
        return ""
    return (
        "<details><summary>Runs, base against head</summary>\n\n"
        + "\n\n".join(charts)
        + "\n\n</details>"
    )


def raw_runs_section(results: Results, budget: int = GITHUB_COMMENT_LIMIT) -> str:
    """Every run as a row, as many as fit in `budget` characters."""
    rows = []
    for name, side in results.sides.items():
        for s in side.samples:
            rows.append(
                (
                    s.order,
                    f"| {s.order} | {name} | {s.wall_s:.4f} | {s.cpu_s:.4f} | "
                    f"{s.max_rss_bytes / 1e6:.1f} | {s.tree_peak_rss_bytes / 1e6:.1f} |",
                )
            )
    if not rows:
        return ""
    rows.sort()
    top = (
        "<details><summary>Raw runs</summary>\n\n| order | side | wall s | CPU s | "
        "largest process MB | tree peak MB |\n|---:|---|---:|---:|---:|---:|"
    )
    end = "\n\n</details>"
    lines, used = [], len(top) + len(end) + 80
    for _, row in rows:
        if used + len(row) + 1 > budget:
            break
        lines.append(row)
        used += len(row) + 1
    cut = len(rows) - len(lines)
    note = f"\n\n… {cut:,} runs not shown; see the results JSON" if cut else ""
    if not lines:
        return ""
    return top + "\n" + "\n".join(lines) + note + end


def render_comment(
    results: Results,
    *,
    marker: str | None = None,
    max_chars: int = GITHUB_COMMENT_LIMIT,
    run_url: str | None = None,
) -> str:
    """The whole report, never longer than `max_chars`."""
    top = headline(results)
    if marker:
        top = f"{marker_comment(marker)}\n{top}"
    required = [top, metric_table(results), error_section(results)]
    footer = f"<sub>[perfgate run]({run_url})</sub>" if run_url else ""
    optional: list[tuple[str, Callable[[int], str]]] = [
        ("sensitivity", lambda _: sensitivity_section(results)),
        ("noise", lambda _: warnings_section(results)),
        ("breakdown", lambda _: breakdown_section(results)),
        ("details", lambda _: details_section(results)),
        ("charts", lambda _: charts_section(results)),
        ("raw runs", lambda budget: raw_runs_section(results, budget)),
    ]
    parts = [p for p in required if p]
    body = _join(parts)
    if len(body) > max_chars:
        return body[: max_chars - 40].rstrip() + "\n\n… report cut to fit"
    dropped = []
    reserve = len(footer) + 80
    for name, render in optional:
        budget = max_chars - len(_join(parts)) - reserve
        text = render(budget)
        if not text:
            continue
        if len(text) + 2 <= budget:
            parts.append(text)
        else:
            dropped.append(name)
    if dropped:
        parts.append(
            f"<sub>… not shown to stay within {max_chars:,} characters: "
            f"{', '.join(dropped)}; see the results JSON</sub>"
        )
    if footer:
        parts.append(footer)
    return _join(parts)


def _join(parts: list[str]) -> str:
    return "\n\n".join(parts) + "\n"
