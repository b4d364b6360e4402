"""Reports: verdict first, numbers right, within GitHub's size limit whatever the run count."""

from __future__ import annotations

import dataclasses
import math
import random
import re
import statistics

import pytest
from markdown_check import outside_markup
from report_helpers import make_error, make_results, make_run

from perfgate import metrics
from perfgate.compare import sequential, stats
from perfgate.compare.tests import Breakdown
from perfgate.github.publish import status_description
from perfgate.progress import format_seconds
from perfgate.report import chart, console, format, markdown
from perfgate.results import Comparison, Results, Sample, Side

# --- The verdict line and the table ---------------------------------------------------------


def test_fail_names_the_time_and_the_memory_regression_in_the_first_line() -> None:
    results = make_results(slowdown=1.3, extra_mb=30)
    assert {c.metric for c in results.regressions} == {"wall_time", "cpu_time", "peak_memory"}
    text = markdown.render_comment(results)
    first = text.splitlines()[0]
    assert first.startswith("### ❌ perfgate: fail: wall time +")
    wall = results.comparison("wall_time")
    # the difference is the shift in milliseconds: the relative shift of base's median
    wall_ms = (
        1000 * wall.change * statistics.median(s.wall_s for s in results.sides["base"].samples)
    )
    assert f"wall time {format.percent(wall.change)} (+{wall_ms:.3g} ms)" in first
    assert "peak memory +60.0% (+30.0 MB)" in first  # 50 MB and 30 MB more
    assert "| wall time | 400 ms | 520 ms |" in re.sub(r"\d\d\d ms", _round_ms, text)
    assert text.count("🔴 regression") == 3


def _round_ms(match: re.Match[str]) -> str:
    """Medians of noisy synthetic runs: compare them to the nearest 10 ms."""
    return f"{round(int(match.group(0)[:3]), -1)} ms"


def test_pass_puts_the_marker_first_and_the_details_after_the_table() -> None:
    text = markdown.render_comment(make_results(), marker="perfgate")
    lines = text.splitlines()
    assert lines[0] == "<!-- perfgate:perfgate -->"
    assert lines[1].startswith("### ✅ perfgate: pass")
    table_at = text.index("| metric | base median | head median |")
    details_at = text.index("<summary>Details</summary>")
    assert table_at < details_at
    details = text[details_at:]
    for expected in (
        "run order seed: 5",
        "machine: `Test CPU @ 2.0GHz`, 2 cores, Python `3.11.7`, `Linux-6.1-x86_64`, "
        "perfgate `0.1.0`",
        "command: `pytest -q`",
        "- base: `main` `aaaaaaaaaaaa`, 10 runs; noise (CV): wall time ",
        "- head: `HEAD` `bbbbbbbbbbbb`, 10 runs",
        "thresholds: wall time 5%, CPU time 5%, peak memory 10%",
    ):
        assert expected in details


def _advice_by_hand(results, wall, text: str) -> str:
    """The advice's run count N is read from the text and held to what it promises: the
    noise shrinks as 1/sqrt(runs), so the change 6 runs could see, scaled to N runs, is
    down to the threshold, and scaled to N - 1 runs still above it (the defining property,
    not the formula that computes N).  The time is what the N - 6 runs still missing cost
    at the medians' pace."""
    runs = int(re.search(r"`max-runs: (\d+)`", text).group(1))
    assert wall.detectable_change * math.sqrt(6 / runs) <= wall.threshold
    assert wall.detectable_change * math.sqrt(6 / (runs - 1)) > wall.threshold
    per_pair = sum(
        statistics.median(s.wall_s for s in results.sides[name].samples)
        for name in ("base", "head")
    )
    minutes = format_seconds((runs - 6) * per_pair)
    return f"wall time, CPU time: about {minutes} more of runs (`max-runs: {runs}`)"


def test_inconclusive_says_so_and_advises_what_it_costs_and_what_is_cheaper() -> None:
    results = make_results(runs=6, slowdown=1.04, cv=0.2)
    text = markdown.render_comment(results)
    worst = max(c.detectable_change for c in results.comparisons if c.verdict == "inconclusive")
    assert text.splitlines()[0] == (
        f"### 🟡 perfgate: no verdict: this run could only see changes above {worst:.0%}"
    )
    wall = results.comparison("wall_time")
    assert wall.verdict == "inconclusive" and wall.detectable_change > 1.5 * wall.threshold
    assert f"**To get a verdict**\n\n- {_advice_by_hand(results, wall, text)}\n" in text
    assert text.count("To get a verdict") == 1 and text.count("instructions: true") == 1
    assert (
        "- cheaper: count instructions (`instructions: true`), a figure that barely varies" in text
    )
    # CPU time is wall time * 0.95 here: exactly as noisy, so never the advice.
    assert "gate on CPU time" not in text
    details = text[text.index("<summary>Details</summary>") :]
    assert "- ⚠️ noise: base: wall time varies a lot between runs" in details


def test_improvement_is_named_without_failing() -> None:
    text = markdown.render_comment(make_results(slowdown=0.7))
    first = text.splitlines()[0]
    assert first.startswith("### ✅ perfgate: pass: improved: wall time −")
    assert "🟢 improvement" in text


def test_error_shows_the_failure_and_the_runs_measured_before_it() -> None:
    results = make_error("Traceback (most recent call last):\nZeroDivisionError: boom")
    text = markdown.render_comment(results, marker="perfgate")
    lines = text.splitlines()
    assert lines[1] == (
        "### ⚠️ perfgate: error — `the benchmark failed on head: run 4 exited with code 5`"
    )
    assert "```text\nthe benchmark failed on head" in text
    assert text.index("```text") < text.index("| side | metric | runs |"), "the error first"
    assert "ZeroDivisionError: boom\n```" in text
    assert "| 7 | head | 0.0500 | 0.0400 | 10.0 | 10.0 | 5 |" in text  # the failed run
    assert "- head: `HEAD` `bbbbbbbbbbbb`, 3 runs (1 failed, not counted)" in text
    terminal = console.render_gate(results)
    assert terminal.splitlines()[0].startswith("⚠️ perfgate: error — the benchmark failed on head")


def test_outside_text_cannot_break_out_of_its_code() -> None:
    tail = "```\n# injected heading\n<img src=x>\n```"
    results = make_error(tail)
    results = Results(**{**results.__dict__, "command": "echo `date` | tee x"})
    text = markdown.render_comment(results)
    fence = re.search(r"^(`{4,})text$", text, re.MULTILINE)
    assert fence, "the log tail holds ``` so its fence must be longer"
    body = text[fence.end() : text.index("\n" + fence.group(1) + "\n", fence.end())]
    assert "# injected heading" in body and "<img src=x>" in body
    assert "command: ``echo `date` | tee x``" in text
    assert format.code_span("``a`") == "``` ``a` ```"
    assert format.untrusted("a|b<c>\nd", cell=True) == "`a\\|b<c> d`"


def test_a_results_file_from_elsewhere_cannot_inject_markdown() -> None:
    """`perfgate publish` renders a JSON that a fork's workflow produced: every string is
    outside text, a metric perfgate does not know included."""
    results = make_results()
    odd = Comparison(
        **{**results.comparisons[0].__dict__, "metric": "x<script>|y", "verdict": "<b>ok</b>"}
    )
    results = Results(
        **{
            **results.__dict__,
            "verdict": "pass <img src=x>",
            "comparisons": (*results.comparisons, odd),
            "sides": {"<i>base</i>": results.sides["base"], "head": results.sides["head"]},
        }
    )
    text = markdown.render_comment(results)
    assert outside_markup(text) == []
    assert "| `x<script>\\|y` |" in text
    titles = re.findall(r'^    title "([^"]*) per run: ', text, re.MULTILINE)
    assert text.count("```mermaid") == len(titles) and set(titles) <= set(
        m.label for m in metrics.METRICS
    )


# --- Single runs and `perfgate run` ----------------------------------------------------------


def test_single_run_results_render_without_statistics_that_need_two() -> None:
    one = make_run(runs=1)
    text = console.render_run(one)
    assert text.startswith("perfgate run: 1 run of pytest -q")
    assert "a single run says nothing about noise" in text
    comment = markdown.render_comment(one)
    assert comment.startswith("### ℹ️ perfgate: 1 run measured")
    assert "| run | wall time | 1 |" in comment
    peak = format.megabytes(one.sides["run"].samples[0].tree_peak_rss_bytes)
    assert f"| run | peak memory | 1 | {peak} | {peak} | {peak} | 0.0% |" in comment
    assert "- run: 1 run\n" in comment
    block = chart.mermaid_runs(one, "wall_time")
    assert "x-axis" in block and block.count("    line [") == 1
    assert "perfgate: error" not in console.render_gate(one)


def test_run_table_shows_the_seed_scripts_figures_aligned() -> None:
    text = console.render_run(make_run(runs=8, cv=0.001))
    lines = text.splitlines()
    table_lines = lines[2:7]
    assert table_lines[0].split() == ["average", "median", "min", "max", "stdev", "CV"]
    assert [line.split("  ")[0] for line in table_lines[1:]] == [
        "wall time",
        "CPU time",
        "peak memory (process tree)",
        "peak memory (largest process)",
    ]
    assert len({len(line) for line in table_lines}) == 1, "columns are aligned"
    assert "45.0 MB" in table_lines[4]  # largest process: 90% of the tree in the helper
    assert "warning" not in text and "\033" not in text


def test_console_gate_gives_the_same_advice_as_the_comment() -> None:
    results = make_results(runs=6, slowdown=1.04, cv=0.2)
    wall = results.comparison("wall_time")
    text = console.render_gate(results)
    assert f"to get a verdict:\n  {_advice_by_hand(results, wall, text)}\n" in text
    assert "gate on CPU time" not in text
    assert "warning: base: wall time varies a lot" in text


def test_run_warns_when_time_is_too_noisy_to_trust() -> None:
    noisy = console.render_run(make_run(runs=8, cv=0.2))
    assert noisy.count("wall time varies") == 1, "said once, by stats.noise_warnings"
    assert "warning: run: wall time varies a lot between runs" in noisy
    assert "warning: CPU time varies by" in noisy
    # One limit, stats.NOISY_CV (10%), for every timed metric: 7% is not warned about.
    quiet = console.render_run(make_run(runs=8, cv=0.07, seed=3))
    assert "varies" not in quiet


def test_run_figures_agree_with_statistics_module() -> None:
    results = make_run(runs=5)
    walls = [s.wall_s for s in results.sides["run"].samples]
    row = console.render_run(results).splitlines()[3]
    assert row.split()[2:4] == format.seconds(sum(walls) / 5).split()
    assert format.seconds(max(walls)) in row and format.seconds(min(walls)) in row


def test_console_gate_table_and_colour_only_when_asked() -> None:
    results = make_results(slowdown=1.3)
    text = console.render_gate(results)
    lines = text.splitlines()
    assert lines[0].startswith("❌ perfgate: fail")
    assert lines[2].split()[:3] == ["metric", "base", "head"]
    assert any(line.startswith("wall time") and line.endswith("regression") for line in lines)
    assert lines[-2:] == ["", "runs: base 10, head 10; seed 5"]
    assert "\033" not in text
    assert console.render_gate(results, color=True).startswith("\033[1;31m❌ perfgate: fail")


# --- The size limit ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge() -> Results:
    return make_results(runs=5000, slowdown=1.1)


def test_size_limit_holds_with_5000_runs_per_side(huge: Results) -> None:
    text = markdown.render_comment(huge, marker="perfgate")
    assert len(text) <= format.GITHUB_COMMENT_LIMIT
    assert text.splitlines()[0] == "<!-- perfgate:perfgate -->"
    assert text.splitlines()[1].startswith("### ❌ perfgate: fail")
    shown = len(re.findall(r"^\| \d+ \| (?:base|head) \|", text, re.MULTILINE))
    cut = int(
        re.search(r"… ([\d,]+) runs not shown; see the results JSON", text)[1].replace(",", "")
    )
    assert shown > 100 and shown + cut == 10_000
    # One chart, for the metric that decided: CPU time would repeat wall time.
    assert text.count("```mermaid") == 1 and 'title "wall time per run: base blue' in text
    assert "<summary>Details</summary>" in text


@pytest.mark.parametrize("limit", [200, 600, 1500, 4000, 9000])
def test_tiny_limits_keep_the_verdict_and_say_what_was_cut(huge: Results, limit: int) -> None:
    text = markdown.render_comment(huge, marker="perfgate", max_chars=limit)
    assert len(text) <= limit
    assert text.startswith("<!-- perfgate:perfgate -->\n### ❌ perfgate: fail")
    if limit >= 1500:
        assert "| wall time |" in text and "| peak memory |" in text
        cut_note = f"not shown to stay within {limit:,} characters"
        # The raw runs are cut to what fits, or dropped and named with the rest.
        named = cut_note in text and "raw runs" in text.split(cut_note)[1]
        assert named or "runs not shown; see the results JSON" in text


def test_size_limit_holds_with_hundreds_of_breakdown_rows(huge: Results) -> None:
    notes = tuple(f"test_{i} took {i} ms more than on base, see the log" for i in range(800))
    results = Results(**{**huge.__dict__, "breakdown": Breakdown(notes=notes).to_json()})
    text = markdown.render_comment(results, run_url="https://example.invalid/run/1")
    assert len(text) <= format.GITHUB_COMMENT_LIMIT
    assert "#### Which test, which import" in text
    assert text.rstrip().endswith("(https://example.invalid/run/1)</sub>")


def test_a_huge_error_log_is_cut_from_the_front() -> None:
    results = make_error("x" * 100_000 + "\nthe last line")
    text = markdown.render_comment(results, max_chars=3000)
    assert len(text) <= 3000 and "the last line\n```" in text


# --- The Mermaid chart -------------------------------------------------------------------------


def _mermaid(block: str) -> tuple[list[str], list[list[float]]]:
    lines = block.splitlines()
    series = [
        [float(v) for v in line.strip()[len("line [") : -1].split(",")]
        for line in lines
        if line.strip().startswith("line [")
    ]
    return lines, series


def test_mermaid_chart_is_what_github_renders() -> None:
    results = make_results(runs=12, extra_mb=5)
    lines, series = _mermaid(chart.mermaid_runs(results, "peak_memory"))
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    assert lines[1] == "---" and lines.index("xychart-beta") > lines.index("---", 2)
    assert lines[3:5] == ["  xyChart:", "    height: 260"]
    assert re.fullmatch(r'    title "peak memory per run: base blue, head orange"', lines[10])
    # 12 runs a side in pairs: orders 0 to 23, the numbers of the raw-runs table
    assert lines[11] == '    x-axis "run order" 0 --> 23'
    y = re.fullmatch(r'    y-axis "peak memory \(MB\)" ([\d.]+) --> ([\d.]+)', lines[12])
    assert y
    assert len(series) == 2 and len(series[0]) == len(series[1]) == 12
    low, high = float(y[1]), float(y[2])
    assert all(low <= v <= high for line in series for v in line)
    assert series[1][0] == pytest.approx(
        results.sides["head"].samples[0].value("peak_memory") / 1e6, rel=1e-3
    )


def test_mermaid_bins_long_and_unequal_sides_to_equal_lengths() -> None:
    results = make_results(runs=1000, head_runs=700)
    block = chart.mermaid_runs(results, "wall_time")
    lines, series = _mermaid(block)
    assert len(series[0]) == len(series[1]) == chart.MAX_POINTS
    assert 'y-axis "wall time (ms)"' in block
    assert "10 runs per point" in block
    assert not re.search(r"\de[+-]\d", block), "Mermaid cannot read exponents"
    assert chart.binned([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3) == [1.5, 3.5, 5.5]
    assert chart.binned([1.0, 2.0], 5) == [1.0, 2.0]


# --- Numbers -----------------------------------------------------------------------------------


def test_number_formats() -> None:
    assert format.seconds(0.4123) == "412 ms"
    assert format.seconds(12.34) == "12.3 s"
    assert format.seconds(0.0000123) == "12.3 µs"
    assert format.seconds(4321.0) == "4,321 s"
    assert format.megabytes(31_500_000) == "31.5 MB"
    assert format.megabytes(12_345_600_000) == "12,345.6 MB"
    assert format.mebibytes(3 * 2**20) == "3.0 MiB"
    assert format.percent(0.1234) == "+12.3%"
    assert format.percent(-0.04) == "−4.0%"
    assert format.percent(0.00001) == "±0.0%"
    assert format.percent(0.384, 0) == "+38%"
    assert format.share(0.042) == "4.2%"
    assert format.share(0.00021) == "0.02%" and format.share(0.0) == "0.0%"
    assert format.share(2e-9) == "<0.0001%" and format.share(1e-6) == "0.0001%"
    assert format.seconds(1e-12) == "0 s"
    assert format.delta("peak_memory", 50e6, 50e6 - 1000) == "±0.0 MB"
    assert format.interval((-0.01, 0.02)) == "−1.0% … +2.0%"
    assert format.delta("peak_memory", 10e6, 4e6) == "−6.0 MB"
    assert format.delta("peak_memory", 4e6, 25.4e6) == "+21.4 MB"
    assert format.quantity("peak_memory", float("nan")) == "n/a"
    assert format.seconds(float("nan")) == "n/a"
    assert format.percent(float("nan")) == "n/a"
    assert format.label("instructions") == "instructions"
    assert format.plain_number(12345.678) == "12346"
    assert format.plain_number(0.000012345) == "0.00001234"
    assert format.plain_number(-2.5) == "-2.5"


def test_comparison_without_an_interval_reads_not_available() -> None:
    results = make_results()
    nan = float("nan")
    blank = tuple(
        Comparison(**{**c.__dict__, "ci": (nan, nan), "change": nan, "detectable_change": None})
        for c in results.comparisons
    )
    text = markdown.render_comment(Results(**{**results.__dict__, "comparisons": blank}))
    assert "| wall time | 400 ms |" in re.sub(r"\d\d\d ms", _round_ms, text)
    assert re.search(r"\| n/a \([+−]\d[^)]*\) \| n/a … n/a \|", text)
    assert "**Sensitivity**" not in text


def test_samples_of_a_side_are_read_in_run_order_for_the_chart() -> None:
    samples = tuple(
        Sample(float(v), float(v), 1, 1, 0, order) for v, order in ((3, 4), (1, 0), (2, 2))
    )
    results = Results(verdict=None, sides={"run": Side("", "", samples)})
    _, series = _mermaid(chart.mermaid_runs(results, "wall_time"))
    assert series == [[1.0, 2.0, 3.0]]


def test_results_without_runs_still_render() -> None:
    empty = Results(verdict=None, sides={})
    assert console.render_run(empty) == "perfgate run: no runs"
    assert console.render_run(Results(verdict=None, sides={"run": Side("", "")})) == (
        "perfgate run: 0 runs"
    )
    text = markdown.render_comment(empty, marker="perfgate")
    assert text.startswith("<!-- perfgate:perfgate -->\n### ℹ️ perfgate: 0 runs measured")
    assert "Raw runs" not in text and "```mermaid" not in text
    assert len(markdown.render_comment(empty, marker="perfgate", max_chars=5)) <= 5


# --- The instructions metric ------------------------------------------------------------------


def with_counts(results: Results, base: int, head: int) -> Results:
    """`results` as a gate with `instructions: true` records it, judged by the real stats."""
    sides = {
        name: Side(side.ref, side.sha, tuple(
            dataclasses.replace(s, instructions=count + k) for k, s in enumerate(side.samples)
        ))
        for (name, side), count in zip(results.sides.items(), (base, head), strict=True)
    }  # fmt: skip
    thresholds = {"wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10, "instructions": 0.01}
    comparisons = stats.compare(sides["base"], sides["head"], thresholds)
    settings = {**results.settings, "instructions_counter": "valgrind --tool=callgrind"}
    return dataclasses.replace(
        results, sides=sides, comparisons=comparisons, settings=settings,
        verdict=stats.gate_verdict(comparisons),
    )  # fmt: skip


def test_an_instructions_regression_has_its_row_its_noise_and_its_status() -> None:
    results = with_counts(make_results(), 1_230_000_000, 1_476_000_000)
    assert [c.metric for c in results.regressions] == ["instructions"]
    text = markdown.render_comment(results)
    assert text.splitlines()[0] == "### ❌ perfgate: fail: instructions +20.0% (+246 M instr)"
    assert (
        "| instructions | 1.23 G instr | 1.48 G instr | +20.0% (+246 M instr) | +20.0% … +20.0% "
        "| — | 🔴 regression |"
    ) in text
    details = text[text.index("<summary>Details</summary>") :]
    base_line = r"- base: `main` `a+`, 10 runs; noise \(CV\): .*, instructions <0\.0001%"
    assert re.search(base_line, details)
    assert "instructions 1%" in details  # its threshold
    assert "counted in runs of their own with `valgrind --tool=callgrind`" in details
    assert "| tree peak MB (gated) | instructions | exit |" in text
    assert "| 1230000000 | 0 |" in text  # the raw count, exact
    assert 'title "instructions per run: base blue, head orange"' in text
    assert status_description(results).startswith("instructions +20.0% (regression); wall time")
    terminal = console.render_gate(results)
    assert re.search(r"instructions +1\.23 G instr +1\.48 G instr +\+20\.0%", terminal)


def test_run_prints_the_instruction_count_and_its_variation() -> None:
    run = make_run(runs=4)
    side = run.sides["run"]
    counts = (1_000_000_000, 1_000_000_100, 999_999_900, 1_000_000_000)
    samples = tuple(
        dataclasses.replace(s, instructions=c) for s, c in zip(side.samples, counts, strict=True)
    )
    text = console.render_run(dataclasses.replace(run, sides={"run": Side("", "", samples)}))
    row = next(line for line in text.splitlines() if line.startswith("instructions"))
    assert row.split()[1:] == ["1.00", "G", "instr"] * 4 + ["82", "instr", "<0.0001%"]
    assert "instructions" not in console.render_run(run)  # not counted: no row


def test_instruction_counts_read_with_an_si_prefix() -> None:
    assert format.instructions(1_234_567_890) == "1.23 G instr"
    assert format.instructions(45_142_130) == "45.1 M instr"
    assert format.instructions(999_999) == "1.00 M instr"
    assert format.instructions(512) == "512 instr"
    assert format.instructions(2.5e12) == "2,500 G instr"
    assert format.quantity("instructions", 3e6) == "3.00 M instr"
    assert format.delta("instructions", 1e9, 1.5e9) == "+500 M instr"


# --- numbers that agree ------------------------------------------------------------------------


def _gate(base: list[float], head: list[float], memory=((50e6,), (50e6,)), cpu=None) -> Results:
    def side(values, offset, memories, cpus):
        return Side("x", "", tuple(
            Sample(v, cpus[k % len(cpus)] if cpus else v, 1, int(memories[k % len(memories)]),
                   0, 2 * k + offset)
            for k, v in enumerate(values)
        ))  # fmt: skip

    sides = {
        "base": side(base, 0, memory[0], cpu[0] if cpu else None),
        "head": side(head, 1, memory[1], cpu[1] if cpu else None),
    }
    judgement = stats.judge(
        sides["base"], sides["head"], sequential.Plan.fixed(THRESHOLDS, len(base))
    )
    return Results(judgement.verdict, sides, judgement.comparisons, settings={"looks": [10]})


THRESHOLDS = {"wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10}


def test_a_found_regression_is_not_reported_as_undetectable() -> None:
    """The demo printed "wall time +27.2% (regression)" and "this run could not have
    detected a change under 30.1%" in one report."""
    rng = random.Random(0)
    base = [0.4 * math.exp(rng.gauss(0, 0.12)) for _ in range(10)]
    head = [0.4 * 1.27 * math.exp(rng.gauss(0, 0.12)) for _ in range(10)]
    results = _gate(base, head)
    assert results.comparison("wall_time").verdict == "regression"
    for text in (console.render_gate(results), markdown.render_comment(results)):
        assert "could not have detected" not in text
        assert "wall time: only" not in text and "- wall time:" not in text


def test_a_zero_baseline_row_shows_milliseconds_not_a_percentage() -> None:
    results = _gate([0.1] * 8, [0.1] * 8, cpu=((0.0,), (0.004,)))
    cpu = results.comparison("cpu_time")
    assert cpu.verdict == "too short"
    row = next(line for line in markdown.metric_table(results).splitlines() if "CPU time" in line)
    assert "| 0 s | 4.00 ms | +4.00 ms | — | — | ⚫ too short |" in row
    line = next(ln for ln in console.render_gate(results).splitlines() if ln.startswith("CPU"))
    assert "+4.00 ms" in line and "%" not in line
    assert "CPU time too short" in status_description(results)


def test_medians_in_clusters_are_explained_with_both_clusters_shown() -> None:
    walls = [0.4 + 0.001 * (k % 3) for k in range(15)]
    mb = 1e6
    results = _gate(
        walls, walls, memory=([68 * mb] * 8 + [52 * mb] * 7, [68 * mb] * 7 + [52 * mb] * 8)
    )
    memory = results.comparison("peak_memory")
    assert (memory.base_median, memory.head_median, memory.change) == (68 * mb, 52 * mb, 0.0)
    text = markdown.render_comment(results)
    assert "the medians moved by -23.5%, outside the interval of the shift" in text
    assert "base runs at two levels: 7 at 52.0 MB and 8 at 68.0 MB" in text
    assert "head runs at two levels: 8 at 52.0 MB and 7 at 68.0 MB" in text
    assert "note: peak memory: the medians moved" in console.render_gate(results)
