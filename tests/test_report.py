"""Reports: verdict first, numbers right, within GitHub's size limit whatever the run count."""

from __future__ import annotations

import random

from perfgate import stats
from perfgate.report import chart, console, format, markdown
from perfgate.results import Environment, Results, Sample, Side

THRESHOLDS = {"wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10}


def make_results(
    runs: int = 10, slowdown: float = 1.0, extra_mb: float = 0, cv: float = 0.01, seed: int = 1
) -> Results:
    rng = random.Random(seed)
    base, head = [], []
    for k in range(runs):
        for side, factor, memory in (
            ("base", 1.0, 50e6),
            ("head", slowdown, 50e6 + extra_mb * 1e6),
        ):
            wall = 0.4 * factor * (1 + rng.gauss(0, cv))
            order = 2 * k + (0 if side == "base" else 1)
            sample = Sample(wall, wall * 0.95, int(memory * 0.9), int(memory), 0, order)
            (base if side == "base" else head).append(sample)
    sides = {
        "base": Side("main", "a" * 40, tuple(base)),
        "head": Side("HEAD", "b" * 40, tuple(head)),
    }
    comparisons = stats.compare(sides["base"], sides["head"], THRESHOLDS)
    return Results(
        verdict=stats.gate_verdict(comparisons), sides=sides, comparisons=comparisons,
        command="pytest -q", environment=Environment("Test CPU", 2, "3.11.7", "Linux", "0.1.0"),
        seed=5, settings={"max_runs": 30},
    )  # fmt: skip


def test_fail_names_both_regressions_in_the_first_line() -> None:
    text = markdown.render_comment(make_results(slowdown=1.3, extra_mb=30))
    first = text.splitlines()[0]
    assert first.startswith("### ❌ perfgate: fail")
    assert "wall time +" in first and "peak memory +30.0 MB" in first
    assert "| wall time | 40" in text and "ms |" in text
    assert "🔴 regression" in text


def test_pass_and_marker_first() -> None:
    text = markdown.render_comment(make_results(), marker="perfgate")
    lines = text.splitlines()
    assert lines[0] == "<!-- perfgate:perfgate -->"
    assert lines[1].startswith("### ✅ perfgate: pass")
    assert "seed: 5" in text and "Test CPU" in text and "`pytest -q`" in text
    assert "noise (CV)" in text


def test_inconclusive_is_said_with_advice() -> None:
    text = markdown.render_comment(make_results(runs=6, slowdown=1.04, cv=0.2))
    assert "too noisy to tell" in text.splitlines()[0]
    assert "could not have detected a change under" in text
    assert "add runs" in text


def test_error_shows_the_failure() -> None:
    results = Results(
        verdict="error", sides={"base": Side("main", "a" * 40), "head": Side("HEAD", "b" * 40)},
        error="the benchmark failed on head: run 1 exited with code 5\n\nboom",
    )  # fmt: skip
    text = markdown.render_comment(results)
    assert text.startswith("### ⚠️ perfgate: error — the benchmark failed on head")
    assert "boom" in text
    assert "failed on head" in console.render_gate(results)


def test_size_limit_holds_with_thousands_of_runs() -> None:
    results = make_results(runs=5000, slowdown=1.1)
    text = markdown.render_comment(results)
    assert len(text) <= markdown.GITHUB_COMMENT_LIMIT
    assert "runs not shown; see the results JSON" in text
    assert text.startswith("### ❌ perfgate: fail")
    tiny = markdown.render_comment(results, max_chars=1500)
    assert len(tiny) <= 1500
    assert "| wall time |" in tiny
    assert "not shown to stay within 1,500 characters" in tiny
    smallest = markdown.render_comment(results, max_chars=200)
    assert len(smallest) <= 200 and "perfgate: fail" in smallest


def test_run_url_footer() -> None:
    text = markdown.render_comment(make_results(), run_url="https://example.invalid/run/1")
    assert text.rstrip().endswith("(https://example.invalid/run/1)</sub>")


def test_mermaid_chart_has_two_equal_series() -> None:
    block = chart.mermaid_runs(make_results(runs=12), "peak_memory")
    lines = block.splitlines()
    assert lines[0] == "```mermaid" and lines[1] == "xychart-beta" and lines[-1] == "```"
    assert any(line.strip().startswith("x-axis") for line in lines)
    assert any(line.strip().startswith('y-axis "peak memory (MB)"') for line in lines)
    series = [line for line in lines if line.strip().startswith("line [")]
    assert len(series) == 2
    assert len(series[0].split(",")) == len(series[1].split(",")) == 12


def test_mermaid_chart_bins_long_runs() -> None:
    block = chart.mermaid_runs(make_results(runs=1000), "wall_time")
    series = [line for line in block.splitlines() if line.strip().startswith("line [")]
    assert len(series[0].split(",")) <= chart.MAX_POINTS


def test_run_table_shows_the_seed_scripts_figures_and_warns_when_noisy() -> None:
    results = make_results(runs=8, cv=0.2)
    single = Results(verdict=None, sides={"run": results.sides["base"]}, command="pytest -q")
    text = console.render_run(single)
    header = text.splitlines()[2]
    for word in ("average", "median", "min", "max", "stdev", "CV"):
        assert word in header
    assert "peak memory (largest process)" in text
    assert "warning: wall time varies" in text
    quiet = Results(verdict=None, sides={"run": make_results(cv=0.001).sides["base"]}, command="x")
    assert "warning" not in console.render_run(quiet)


def test_console_gate_table() -> None:
    text = console.render_gate(make_results(slowdown=1.3))
    assert text.splitlines()[0].startswith("❌ perfgate: fail")
    assert "wall time" in text and "regression" in text and "seed 5" in text


def test_number_formats() -> None:
    assert format.seconds(0.4123) == "412 ms"
    assert format.seconds(12.34) == "12.3 s"
    assert format.megabytes(31_500_000) == "31.5 MB"
    assert format.percent(0.1234) == "+12.3%"
    assert format.percent(-0.04) == "−4.0%"
    assert format.percent(0.00001) == "±0.0%"
    assert format.interval((-0.01, 0.02)) == "−1.0% … +2.0%"
    assert format.delta("peak_memory", 10e6, 4e6) == "−6.0 MB"
    assert format.quantity("peak_memory", float("nan")) == "n/a"
    assert format.seconds(float("nan")) == "n/a"
    assert format.percent(float("nan")) == "n/a"
    assert format.label("instructions") == "instructions"
