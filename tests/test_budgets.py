"""Budgets: units parsed strictly, and the median's interval checked against scipy."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_check import outside_markup
from scipy import stats as scipy_stats

from perfgate import config
from perfgate.compare import budgets
from perfgate.errors import ConfigError
from perfgate.report import markdown
from perfgate.results import BudgetCheck, Results, Sample, Side


def load(tmp_path: Path, *layers: tuple[str, dict]) -> config.Config:
    return config.load(
        repo=tmp_path, layers=(("flags", {"command": "true", "runs": "10"}), *layers)
    )


@pytest.mark.parametrize(
    ("key", "text", "metric", "limit"),
    [
        ("wall-time", "2s", "wall_time", 2.0),
        ("wall-time", "2 min", "wall_time", 120.0),
        ("cpu-time", "1.5s", "cpu_time", 1.5),
        ("cpu_time", "250ms", "cpu_time", 0.25),
        ("wall-time", "40us", "wall_time", 40e-6),
        ("wall-time", "40\u00b5s", "wall_time", 40e-6),
        ("peak-memory", "200MB", "peak_memory", 200e6),
        ("peak-memory", "200 MiB", "peak_memory", 200 * 1024 * 1024),
        ("peak-memory", "512kB", "peak_memory", 512e3),
        ("peak-memory", "512KB", "peak_memory", 512e3),
        ("peak-memory", "3KiB", "peak_memory", 3072),
        ("peak-memory", "1.5GB", "peak_memory", 1.5e9),
        ("peak-memory", "2GiB", "peak_memory", 2 * 1024**3),
        ("peak-memory", "4096B", "peak_memory", 4096),
        ("tests/test_api.py", "200 ms", "test_time", 0.2),
        ("tests/test_api.py::test_x", "50ms", "test_time", 0.05),
    ],
)
def test_units_by_hand(tmp_path: Path, key: str, text: str, metric: str, limit: float) -> None:
    cfg = load(tmp_path, ("file", {"budgets": {key: text}}))
    (budget,) = cfg.budgets
    assert (budget.metric, budget.text) == (metric, text)
    assert budget.limit == pytest.approx(limit)
    assert budget.test == (key if metric == "test_time" else "")


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"wall-time": "2m"}, "unknown unit 'm'"),  # minutes or a typo for ms
        ({"wall-time": 2}, "a number needs its unit"),
        ({"wall-time": "2"}, "expected s, ms"),
        ({"wall-time": "2h"}, "unknown unit 'h'"),
        ({"wall-time": "200MB"}, "unknown unit 'MB'"),
        ({"peak-memory": "200mb"}, "unknown unit 'mb'"),  # millibits?
        ({"peak-memory": "200Mb"}, "unknown unit 'Mb'"),  # megabits
        ({"peak-memory": "200M"}, "unknown unit 'M'"),
        ({"peak-memory": "2s"}, "unknown unit 's'"),
        ({"wall-time": "0s"}, "above 0"),
        ({"wall-time": "-1s"}, "expected s, ms"),
        ({"wall-time": "1e3s"}, "unknown unit 'e3s'"),
        ({"wall-time": True}, "expected s, ms"),
        ({"wall": "2s"}, "unknown budget 'wall'"),
        ({"memory": "2MB"}, "unknown budget 'memory'"),
        ({"tests/test_api": "2s"}, "unknown budget 'tests/test_api'"),
        ({"tests/test_api.py::": "2s"}, "unknown budget"),
        ({"tests/test_api.py": "20MB"}, "a test's budget is its time"),
        ("[2s]", "expected a mapping"),
        (["wall-time"], "KEY=LIMIT"),
        (7, "expected a mapping"),
    ],
)
def test_bad_budgets_are_refused_naming_the_problem(
    tmp_path: Path, value: object, named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, ("file", {"budgets": value}))
    assert named in str(refused.value)
    assert str(refused.value).startswith("file: budgets")


def test_flags_input_and_file_give_the_same_budgets_and_later_ones_win(tmp_path: Path) -> None:
    (tmp_path / ".perfgate.yml").write_text(
        "budgets:\n  wall-time: 2s\n  peak-memory: 200MB\n", encoding="utf-8"
    )
    cfg = load(
        tmp_path,
        ("action input", {"budgets": "wall-time: 3s\ntests/test_api.py: 200 ms\n"}),
        ("command line", {"budgets": ["wall-time=4s", "tests/t.py::test_a[x=1]=5ms"]}),
    )
    found = {b.key: b.limit for b in cfg.budgets}
    assert found == pytest.approx({
        "wall-time": 4.0, "peak-memory": 200e6, "tests/test_api.py": 0.2,
        "tests/t.py::test_a[x=1]": 0.005,
    })  # fmt: skip
    assert cfg.settings()["budgets"]["wall-time"] == "4s"


def test_too_few_runs_for_a_budget_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 7 runs"):
        load(tmp_path, ("flags", {"runs": "6", "budgets": ["wall-time=2s"]}))
    load(tmp_path, ("flags", {"runs": "6"}))  # without budgets 6 runs are fine


@pytest.mark.parametrize("n", [7, 8, 10, 15, 23, 30, 51, 100])
def test_order_statistic_rank_against_scipy(n: int) -> None:
    # l is the largest rank whose lower tail P(Bin(n, 1/2) <= l - 1) stays within 1%.
    expected = max(
        k for k in range(0, n + 1) if k == 0 or scipy_stats.binom.cdf(k - 1, n, 0.5) <= 0.01
    )
    assert budgets.lower_rank(n) == expected
    assert (
        scipy_stats.binom.cdf(expected - 1, n, 0.5)
        <= 0.01
        < scipy_stats.binom.cdf(expected, n, 0.5)
    )


def test_interval_by_hand() -> None:
    # 10 runs: P(Bin(10, 1/2) = 0) = 1/1024 <= 1% < P(<= 1) = 11/1024, so the ends are the
    # smallest and largest run; 20 runs: P(<= 4) = 6196/2^20 = 0.59% <= 1% < P(<= 5) = 2.07%.
    ten = [1.3, 1.0, 1.9, 1.1, 1.2, 1.5, 1.4, 1.6, 1.8, 1.7]
    found = budgets.median_interval(ten)
    assert (found.low, found.high, found.median) == (1.0, 1.9, pytest.approx(1.45))
    twenty = [float(v) for v in range(20, 0, -1)]
    found = budgets.median_interval(twenty)
    assert (found.low, found.high, found.median) == (5.0, 16.0, 10.5)
    assert budgets.median_interval([1.0] * 6).low == -math.inf  # too few runs: unbounded


def test_each_end_errs_at_most_one_percent_on_seeded_skewed_samples() -> None:
    rng = random.Random(15)
    true_median = 1.0  # lognormal(0, 0.3) has median exp(0) = 1
    above = below = 0
    trials = 4000
    for _ in range(trials):
        runs = [rng.lognormvariate(0.0, 0.3) for _ in range(15)]
        found = budgets.median_interval(runs)
        above += found.low > true_median
        below += found.high < true_median
    # exact error of each end at 15 runs: P(Bin(15, 1/2) <= 2) = 121/32768 = 0.37%
    assert above / trials < 0.01 and below / trials < 0.01


def side(walls: list[float], memory: int = 50_000_000) -> Side:
    samples = tuple(
        Sample(wall_s=w, cpu_s=w / 2, max_rss_bytes=memory, tree_peak_rss_bytes=memory,
               exit_code=0, order=k)
        for k, w in enumerate(walls)
    )  # fmt: skip
    return Side("HEAD", "", samples)


def test_over_near_met_and_not_measured(tmp_path: Path) -> None:
    cfg = load(tmp_path, ("file", {"budgets": {
        "wall-time": "1s", "cpu-time": "0.7s", "peak-memory": "60MB", "tests/t.py": "1s",
    }}))  # fmt: skip
    walls = [1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.55, 1.6, 1.65]  # all runs over 1 s
    checks = {c.key: c for c in budgets.judge(cfg.budgets, side(walls))}
    assert checks["wall-time"].verdict == "over"
    assert checks["wall-time"].ci == (1.2, 1.65)  # 10 runs: min and max (see by hand above)
    assert checks["cpu-time"].verdict == "near"  # cpu 0.6 .. 0.825 straddles 0.7 s
    assert checks["peak-memory"].verdict == "met"
    assert checks["tests/t.py"].verdict == "not measured"
    results = Results(verdict=None, sides={"run": side(walls)}, budgets=tuple(checks.values()))
    assert results.fails and [c.key for c in results.over_budget] == ["wall-time"]
    again = Results.from_json(results.to_json())
    assert again.budgets == results.budgets[:3] + (again.budgets[3],)
    assert again.budgets[3].verdict == "not measured"


def test_per_test_budgets_sum_the_tests_they_name_per_run() -> None:
    runs = [
        {"tests/a.py::test_x[1]": 0.2, "tests/a.py::test_x[2]": 0.3, "tests/a.py::test_y": 0.1,
         "tests/ab.py::test_z": 9.0},
        {"tests/a.py::test_x[1]": 0.25, "tests/a.py::test_x[2]": 0.35, "tests/a.py::test_y": 0.1},
    ]  # fmt: skip
    assert budgets.tests_seconds("tests/a.py", runs) == pytest.approx([0.6, 0.7])
    assert budgets.tests_seconds("tests/a.py::test_x", runs) == pytest.approx([0.5, 0.6])
    assert budgets.tests_seconds("tests/a.py::test_y", runs) == pytest.approx([0.1, 0.1])
    assert budgets.tests_seconds("tests/b.py", runs) == []
    written = (math.nan, "1", -1.0, True, math.inf, 0.4)
    hostile = [{"tests/a.py::t": value} for value in written]
    assert budgets.tests_seconds("tests/a.py", hostile) == [0.4]  # what the run wrote: checked


def test_compare_rejudges_the_recorded_budgets_and_refuses_a_bad_one(tmp_path: Path) -> None:
    walls = [0.5 + k / 100 for k in range(8)]  # every run 10 times the 50 ms budget
    results = Results(
        verdict="pass",
        sides={"base": side(walls), "head": side(walls)},
        settings={"runs": 8, "max_runs": 8, "budgets": {"wall-time": "50ms"}},
    )
    path = tmp_path / "gate.json"
    path.write_text(results.dumps())
    compare = [sys.executable, "-m", "perfgate", "compare", str(path)]
    done = subprocess.run(compare, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "wall time over its 50ms budget (median 535 ms)" in done.stdout.splitlines()[0]
    data = results.to_json()
    data["settings"]["budgets"] = {"wall-time": "50 parsecs"}
    path.write_text(json.dumps(data))
    done = subprocess.run(compare, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "settings.budgets: wall-time" in done.stderr


def test_budgets_from_a_hostile_results_file_are_text_in_the_comment() -> None:
    hostile = "tests/x.py::t[@org/team | <img src=x> ``` </details> #12]"
    check = BudgetCheck(
        hostile, "test_time", 0.05, "50ms | <b>bold</b> @someone", "over", 0.4, (0.3, 0.5), 7,
        0.01, hostile,
    )  # fmt: skip
    results = Results(verdict="fail", sides={"head": side([1.0] * 7)}, budgets=(check,))
    body = markdown.render_comment(results)
    assert outside_markup(body) == []
    row = next(line for line in body.splitlines() if line.startswith("| `"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells: the pipes inside are escaped
    assert "over its" in next(line for line in body.splitlines() if line.startswith("### "))
