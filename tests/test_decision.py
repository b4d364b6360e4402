"""The gate and `perfgate compare` decide alike, and settings that cannot fail are refused.

Samples here are seeded or planted so large that no machine load can blur them;
expected values come from scipy or from the written procedure by hand
(docs/statistics.md), never from perfgate's own functions.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from git_helpers import make_repo
from pair_reference import pair_swap_p
from scipy import stats as scipy_stats

from perfgate import config, pipeline
from perfgate.compare.stats import Plan, judge
from perfgate.errors import ConfigError
from perfgate.progress import Progress
from perfgate.results import Results, Sample, Side

PY = sys.executable


def perfgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "perfgate", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def gate_file(path: Path, base: list[float], head: list[float], **settings) -> Path:
    """A results file as a gate writes it: interleaved pairs, the gate's settings."""
    recorded = {
        "runs": 10, "max_runs": 30, "warmup": 1, "timeout_s": 600.0, "time_budget_s": None,
        "time_threshold": 0.05, "memory_threshold": 0.1, "instructions": False,
        "instructions_threshold": 0.01, "setup": None, "working_directory": ".", **settings,
    }  # fmt: skip

    def side(ref: str, values: list[float], offset: int) -> Side:
        samples = (Sample(v, v, MEMORY, MEMORY, 0, 2 * k + offset) for k, v in enumerate(values))
        return Side(ref, ref[0] * 40, tuple(samples))

    sides = {"base": side("main", base, 0), "head": side("pr", head, 1)}
    Results("pass", sides, command="python bench.py", seed=1, settings=recorded).write(path)
    return path


MEMORY = 50_000_000


def seeded_slowdown(seed: int = 17, runs: int = 15) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    base = [round(0.4 * math.exp(rng.gauss(0, 0.05)), 4) for _ in range(runs)]
    head = [round(0.4 * 1.08 * math.exp(rng.gauss(0, 0.05)), 4) for _ in range(runs)]
    return base, head


def test_compare_of_a_gate_result_judges_at_the_gates_look_not_at_the_full_level(
    tmp_path: Path,
) -> None:
    """A gate of 10 to 30 runs stopped (by its time budget) after 15: its second look.
    The 15 pairs are enough for the pair test at that look's level (2^-15 is under a
    quarter of it), so by scipy's permutation test over the pairs (the 2^15 swaps of
    the head rank sum) the slowdown's one-sided p is 0.0019, and the shift +6.7%, past
    the 5% threshold.  By the O'Brien-Fleming spending of 1% the first two looks
    together may spend 2 - 2 Phi(2.5758 / sqrt(0.5)) = 0.00027: not a regression at this
    look, so the gate passed, and compare must say the same (before: compare tested at
    1% and failed the gate's own results)."""
    base, head = seeded_slowdown()
    p_one_sided = pair_swap_p(np.log(base), np.log(head))
    assert p_one_sided == pytest.approx(0.0019226, rel=1e-4)
    shift = statistics.median(math.log(y / x) for x in base for y in head)
    assert math.expm1(shift) > 0.05
    normal = statistics.NormalDist()
    spent_by_second_look = 2 - 2 * normal.cdf(normal.inv_cdf(1 - 0.01 / 2) / math.sqrt(0.5))
    assert p_one_sided > spent_by_second_look > 4 * 2**-15
    results = gate_file(tmp_path / "gate.json", base, head, time_budget_s=60.0)
    out = tmp_path / "again.json"
    again = perfgate("compare", str(results), "--json", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    wall = next(c for c in json.loads(out.read_text())["comparisons"] if c["metric"] == "wall_time")
    assert wall["verdict"] == "inconclusive"
    assert wall["p_value"] == pytest.approx(p_one_sided, rel=1e-9)
    assert 0 < wall["alpha"] <= spent_by_second_look


def test_the_same_samples_at_the_last_look_are_a_regression(tmp_path: Path) -> None:
    """The counterpart: 15 runs as the last look of a 10-to-15 gate may spend up to the
    whole 1%, and 0.0019 is below the last look's level (over 0.005: the spending
    before it is at most 2 - 2 Phi(2.5758 / sqrt(10/15)) = 0.0016)."""
    base, head = seeded_slowdown()
    normal = statistics.NormalDist()
    before_last = 2 - 2 * normal.cdf(normal.inv_cdf(1 - 0.01 / 2) / math.sqrt(10 / 15))
    assert 0.01 - before_last > pair_swap_p(np.log(base), np.log(head))
    results = gate_file(tmp_path / "gate.json", base, head, max_runs=15)
    assert perfgate("compare", str(results)).returncode == 1


def test_gate_and_compare_of_its_results_agree_on_every_figure(tmp_path: Path) -> None:
    """A planted threefold slowdown (0.02 s against 0.4 s of work): whatever the
    machine's load does to the figures, compare re-judging the gate's own results must
    produce the same comparisons, field for field, and the same exit code."""
    script = "import time\nend = time.perf_counter() + {w}\nwhile time.perf_counter() < end: pass\n"
    repo = make_repo(tmp_path / "p", {"bench.py": script.format(w=0.02)}, "base")
    repo.git("branch", "base")
    repo.commit({"bench.py": script.format(w=0.4)}, "head")
    out = tmp_path / "gate.json"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", "--runs", "5", "--max-runs", "8",
        "--warmup", "0", "--seed", "3", "--json", str(out), "--", PY, "bench.py",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    again = tmp_path / "again.json"
    rejudged = perfgate("compare", str(out), "--json", str(again))
    assert rejudged.returncode == result.returncode, rejudged.stdout + rejudged.stderr
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    assert second["comparisons"] == first["comparisons"]
    assert second["verdict"] == first["verdict"] == "fail"
    assert first["settings"]["level"] == 0.01 and first["settings"]["looks"] == [5, 8]


# --- settings that can never fail -------------------------------------------------------------


def test_runs_that_can_never_reach_the_level_are_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """4 runs a side: the smallest one-sided p is 1 / C(8, 4) = 1/70 = 0.0143 > 1%, so a
    threefold slowdown would pass; 5 runs reach 1/252 = 0.0040."""
    assert 1 / math.comb(8, 4) > 0.01 > 1 / math.comb(10, 5)
    repo = make_repo(tmp_path / "p", {"bench.py": "pass\n"}, "base")
    marker = tmp_path / "ran"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "HEAD", "--runs", "4", "--max-runs", "4",
        "--", PY, "-c", f"open({str(marker)!r}, 'w')",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "use at least 5 runs per side" in result.stderr
    assert not marker.exists()


def test_the_library_refuses_them_before_git_is_asked(tmp_path: Path) -> None:
    """run_gate is what the Action calls: the refusal comes before the repository is
    even looked at (this one does not exist)."""
    cfg = config.load(
        repo=tmp_path / "missing",
        layers=(("action input", {"command": "true", "runs": "4", "max-runs": "4"}),),
        read_repo_file=False,
    )
    with pytest.raises(ConfigError, match="at least 5 runs"):
        pipeline.run_gate(cfg, Progress(live=False))


def test_compare_refuses_run_counts_that_cannot_reach_the_level(tmp_path: Path) -> None:
    base = [0.4, 0.41, 0.39, 0.4]
    results = gate_file(tmp_path / "g.json", base, [3 * v for v in base], runs=4, max_runs=4)
    result = perfgate("compare", str(results))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "at least 5 runs per side" in result.stderr


def test_the_gate_stops_adding_runs_only_at_a_planned_look() -> None:
    """Head plainly 3x slower than base: a regression the judge settles at any run count
    from 10 on (asserted at 12).  The gate's stopping rule still says no at 11 to 14 and
    at 16 runs a side, and yes at 10 and 15: the default plan looks at 10 runs, then 1.5
    times more, rounded up (10, 15, 23, 30), worked out by hand from the documented rule."""
    cfg = config.Config()
    plan = Plan(cfg.thresholds, runs=cfg.runs, max_runs=cfg.max_runs)
    rng = random.Random(5)

    def samples(n: int, seconds: float, offset: int) -> tuple[Sample, ...]:
        return tuple(
            Sample(t, t, MEMORY, MEMORY, 0, 2 * k + offset)
            for k, t in enumerate(seconds * math.exp(rng.gauss(0, 0.01)) for _ in range(n))
        )

    settled = pipeline.settled_at_looks(plan, {"base": "a" * 40, "head": "b" * 40})
    answers = {}
    for n in range(10, 17):
        base, head = samples(n, 0.4, 0), samples(n, 1.2, 1)
        if n == 12:
            sides = Side("main", "a" * 40, base), Side("pr", "b" * 40, head)
            judged = judge(*sides, plan)
            assert judged.settled and judged.verdict == "fail"
        answers[n] = settled(base, head)
    assert answers == {10: True, 11: False, 12: False, 13: False, 14: False, 15: True, 16: False}


def test_compare_of_two_gates_files_judges_two_samples(tmp_path: Path) -> None:
    """Base of one gate against head of another: each file numbers its runs from 0, but
    the two never shared a coin flip, so the two-sample test judges (scipy's exact p)."""
    base, head = seeded_slowdown()
    first = gate_file(tmp_path / "a.json", base, base, max_runs=15)
    second = gate_file(tmp_path / "b.json", head, head, max_runs=15)
    out = tmp_path / "ab.json"
    perfgate("compare", str(first), str(second), "--json", str(out))
    wall = next(c for c in json.loads(out.read_text())["comparisons"] if c["metric"] == "wall_time")
    assert wall["method"].startswith("unpaired")
    expected = scipy_stats.mannwhitneyu(head, base, alternative="greater", method="exact").pvalue
    assert wall["p_value"] == pytest.approx(expected, rel=1e-9)


def test_results_a_gate_judged_as_two_samples_are_rejudged_as_two_samples(
    tmp_path: Path,
) -> None:
    """A results file from before the pairs' test: its comparisons say 'unpaired', and
    compare keeps to the test the gate used, so the verdict the gate gave stands."""
    base, head = seeded_slowdown()
    gate = gate_file(tmp_path / "gate.json", base, head, runs=15, max_runs=15)
    judged = tmp_path / "judged.json"
    perfgate("compare", str(gate), "--json", str(judged))
    data = json.loads(judged.read_text())
    assert {c["method"].split(":")[0] for c in data["comparisons"]} == {"paired"}
    for comparison in data["comparisons"]:
        comparison["method"] = "unpaired: Mann-Whitney U, Hodges-Lehmann (Moses) interval"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    again = tmp_path / "again.json"
    perfgate("compare", str(old), "--json", str(again))
    wall = next(
        c for c in json.loads(again.read_text())["comparisons"] if c["metric"] == "wall_time"
    )
    assert wall["method"].startswith("unpaired")
    expected = scipy_stats.mannwhitneyu(head, base, alternative="greater", method="exact").pvalue
    assert wall["p_value"] == pytest.approx(expected, rel=1e-9)


def test_a_first_look_at_a_twentieth_of_the_runs_spends_what_the_formula_says() -> None:
    """runs 10, max-runs 200: the first look's share of 1% is 2 (1 - Phi(2.5758 / sqrt(0.05)))
    = 1.05e-30 by scipy; it used to underflow to 0 and crash the plan."""
    cfg = config.Config()
    plan = Plan(cfg.thresholds, runs=10, max_runs=200)
    z = scipy_stats.norm.isf(0.01 / 2) / math.sqrt(10 / 200)
    first = plan.look(10).regression_level
    assert first == pytest.approx(2 * scipy_stats.norm.sf(z), rel=1e-6)
    assert plan.look(200).regression_level < 0.01
