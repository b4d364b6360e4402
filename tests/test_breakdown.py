"""Per-test comparison: real pytest runs of generated suites, and the statistics on made-up ones."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from breakdown_helpers import MIB, fifty_tests, leaky_suite, run_pytest, write_files
from scipy.stats import mannwhitneyu

from perfgate.compare import ranks, sequential
from perfgate.compare.tests import Breakdown, compare_breakdowns, runs_needed
from perfgate.measure.pytest_documents import plugin_env, read_plugin_documents
from perfgate.pytest_plugin import ENV_VAR
from perfgate.report.breakdown import render_breakdown_markdown

# 6 runs suffice when only the two planted tests move by 5 ms or more on a quiet machine.
# On a loaded 2-core machine (load 12: a CPU hog beside five test suites) a 30 ms sleep
# was missed once in 8 runs: base's own test took that long in a run or two, and Holm's
# correction over 50 tests and their groups leaves room for no overlap at 8 runs (smallest
# p 1/12870).  10 runs (smallest p 1/184756) and a 150 ms sleep leave room for several.
RUNS = 10
SLOW_S = 0.15
SLOW = "test_suite.py::test_17"
HUNGRY = "test_suite.py::test_33"


@pytest.fixture(scope="module")
def fifty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Plugin documents of base, a head with one slow and one hungry test, and an identical
    head, run interleaved (base, slow, same, base, ...) so drift hits all three alike."""
    root = tmp_path_factory.mktemp("fifty")
    sides = {
        "base": fifty_tests(),
        "changed": fifty_tests(slow_index=17, slow_s=SLOW_S, hungry_index=33),
        "same": fifty_tests(),
    }
    projects = {
        name: write_files(root / name, {"test_suite.py": text}) for name, text in sides.items()
    }
    paths: dict[str, list[Path]] = {name: [] for name in sides}
    for k in range(RUNS):
        for name, project in projects.items():
            out = root / "out" / f"{name}-{k}.json"
            result = run_pytest(project, "-q", f"--perfgate-json={out}")
            assert result.returncode == 0, result.stdout
            paths[name].append(out)
    return {name: read_plugin_documents(p) for name, p in paths.items()}


def test_exactly_the_slow_and_the_hungry_test_are_named(fifty) -> None:
    breakdown = compare_breakdowns(fifty["base"], fifty["changed"], 0.05, 0.10)
    tests = breakdown.tests
    assert tests.compared == 50
    assert set(tests.culprits) == {SLOW, HUNGRY}
    assert SLOW in [c.nodeid for c in tests.time_regressions]
    slow = next(c for c in tests.time_regressions if c.nodeid == SLOW)
    assert slow.difference > SLOW_S - 0.005  # planted (sleep never returns early)
    assert slow.ci[0] > 0 and slow.p_adjusted < sequential.ALPHA
    # Allocating 30 MB also takes time, so the hungry test may be slower too; but only it
    # is hungrier.
    if tests.memory_method == "vmhwm":
        assert [c.nodeid for c in tests.memory_regressions] == [HUNGRY]
        hungry = tests.memory_regressions[0]
        assert 29 * MIB < hungry.difference < 32 * MIB
        assert hungry.difference_ci[0] > 25 * MIB
    assert tests.leaks == () and tests.added == () and tests.removed == ()
    text = render_breakdown_markdown(breakdown)
    assert f"`{SLOW}`" in text and "Slower tests" in text


def test_identical_head_names_no_test(fifty) -> None:
    for base, head in ((fifty["base"], fifty["same"]), (fifty["same"], fifty["base"])):
        tests = compare_breakdowns(base, head, 0.05, 0.10).tests
        assert tests.culprits == ()
        assert tests.time_improvements == () and tests.memory_improvements == ()
        assert "No test is singled out" in render_breakdown_markdown(Breakdown(tests=tests))


def test_too_few_runs_say_so(fifty) -> None:
    tests = compare_breakdowns(fifty["base"][:4], fifty["changed"][:4]).tests
    assert tests.culprits == ()  # 4 runs a side cannot reach p < 1% at all (2/70 at best)
    needed = fewest_runs_by_scipy(max(tests.time_tested, tests.memory_tested))
    assert any(f"use at least {needed} runs" in note for note in tests.notes)


def fewest_runs_by_scipy(tests: int) -> int:
    """The fewest runs a side with which one of `tests` can be significant after Holm: the
    smallest n whose fully separated samples (scipy's exact Mann-Whitney) give p < 1% / tests."""
    n = 2
    while tests * mannwhitneyu(range(n), range(n, 2 * n), method="exact").pvalue >= 0.01:
        n += 1
    return n


def test_leaking_fixture_names_the_first_test(tmp_path: Path) -> None:
    docs = {}
    for leak in (False, True):
        project = write_files(tmp_path / str(leak), leaky_suite(leak))
        docs[leak] = []
        for k in range(4):
            out = tmp_path / f"{leak}-{k}.json"
            assert run_pytest(project, "-q", f"--perfgate-json={out}").returncode == 0
            docs[leak].append(json.loads(out.read_text()))
    tests = compare_breakdowns(docs[False], docs[True]).tests
    assert len(tests.leaks) == 1
    leak = tests.leaks[0]
    assert leak.first_test == "test_pool.py::test_05"
    assert leak.growing_tests == tuple(f"test_pool.py::test_{i:02d}" for i in range(5, 13))
    assert 20 * MIB <= leak.growth_bytes <= 30 * MIB  # 8 tests keep 3 MB each
    assert leak.base_growth_bytes is None  # base does not leak
    assert "RSS keeps growing from `test_pool.py::test_05`" in render_breakdown_markdown(
        Breakdown(tests=tests)
    )
    # The same suite against itself has no leak of the PR's making.
    assert compare_breakdowns(docs[True], docs[True]).tests.leaks == ()
    assert compare_breakdowns(docs[False], docs[False]).tests.leaks == ()


# --- Made-up documents: the statistics without the noise of a machine -------------------------


def _document(times: dict[str, float], start_rss: int = 50 * MIB) -> dict:
    return {
        "schema": "perfgate-pytest/1",
        "python": "3",
        "pytest": "9",
        "platform": "linux",
        "memory_method": "vmhwm",
        "session": {
            "start_rss_bytes": start_rss,
            "peak_rss_bytes": start_rss,
            "collection_s": 0.1,
            "collected": len(times),
            "wall_s": 1.0,
            "exit_status": 0,
        },
        "tests": [
            {
                "nodeid": nodeid,
                "index": i,
                "outcome": "passed",
                "setup_s": 0.0,
                "call_s": seconds,
                "teardown_s": 0.0,
                "rss_before_bytes": start_rss,
                "peak_rss_bytes": start_rss,
                "rss_after_bytes": start_rss,
            }
            for i, (nodeid, seconds) in enumerate(times.items())
        ],
    }


def _noisy_suite(rng: random.Random, tests: int, runs: int, slow: dict[str, float]) -> list[dict]:
    """Tests of 10..200 ms with 10% log-normal noise per run, some scaled by `slow`."""
    medians = {f"t.py::test_{i}": 0.01 + 0.19 * (i / tests) for i in range(tests)}
    return [
        _document(
            {t: m * slow.get(t, 1.0) * rng.lognormvariate(0, 0.10) for t, m in medians.items()}
        )
        for _ in range(runs)
    ]


def test_five_hundred_noisy_tests_give_no_false_culprits() -> None:
    rng = random.Random(20240601)
    uncorrected = 0
    for _ in range(5):
        base = _noisy_suite(rng, 500, 10, {})
        head = _noisy_suite(rng, 500, 10, {})
        tests = compare_breakdowns(base, head, time_threshold=0.0, min_time_s=0.0).tests
        assert tests.culprits == () and tests.time_improvements == ()
        uncorrected += sum(
            ranks.mann_whitney_p(
                [d["tests"][i]["call_s"] for d in base], [d["tests"][i]["call_s"] for d in head]
            )
            < sequential.ALPHA
            for i in range(500)
        )
    assert uncorrected > 5  # without the correction there would have been culprits


def test_a_real_culprit_among_five_hundred_is_found() -> None:
    rng = random.Random(7)
    base = _noisy_suite(rng, 500, 10, {})
    head = _noisy_suite(rng, 500, 10, {"t.py::test_250": 2.0})
    tests = compare_breakdowns(base, head, 0.05).tests
    assert [c.nodeid for c in tests.time_regressions] == ["t.py::test_250"]
    change = tests.time_regressions[0]
    assert change.ci[0] < 1.0 < change.ci[1]  # doubled: +100% lies in the interval


def test_absolute_floor_ignores_tiny_tests() -> None:
    base = [_document({"t.py::tiny": 0.001, "t.py::big": 0.100}) for _ in range(8)]
    head = [_document({"t.py::tiny": 0.0013 + k * 1e-6, "t.py::big": 0.100}) for k in range(8)]
    assert compare_breakdowns(base, head, 0.05).tests.culprits == ()
    # ...and the same 30% on a test that takes long enough is named.
    head = [_document({"t.py::tiny": 0.001, "t.py::big": 0.130 + k * 1e-4}) for k in range(8)]
    assert compare_breakdowns(base, head, 0.05).tests.culprits == ("t.py::big",)


def test_added_and_removed_tests() -> None:
    base = [_document({"t.py::kept": 0.01, "t.py::gone": 0.01}) for _ in range(4)]
    head = [_document({"t.py::kept": 0.01, "t.py::new": 0.01}) for _ in range(4)]
    tests = compare_breakdowns(base, head).tests
    assert tests.added == ("t.py::new",) and tests.removed == ("t.py::gone",)
    text = render_breakdown_markdown(Breakdown(tests=tests))
    assert "**Tests added** (1): `t.py::new`" in text
    assert "**Tests removed** (1): `t.py::gone`" in text


def test_runs_needed_matches_the_smallest_exact_p_value() -> None:
    """By hand: the smallest two-sided p with n runs a side is 2 / C(2n, n), and it must be
    below 1% / tests: C(10, 5) = 252 > 200 (1 test), C(16, 8) = 12,870 > 10,000 while
    C(14, 7) = 3,432 is not (50), C(20, 10) = 184,756 > 100,000 > C(18, 9) = 48,620 (500)."""
    assert [runs_needed(tests) for tests in (1, 50, 500)] == [5, 8, 10]
    assert [fewest_runs_by_scipy(tests) for tests in (1, 50, 500)] == [5, 8, 10]


def test_json_round_trip_and_render_within_the_limit() -> None:
    rng = random.Random(3)
    slow = {f"t.py::test_{i}": 3.0 for i in range(0, 60, 3)}
    base = _noisy_suite(rng, 60, 10, {})
    head = _noisy_suite(rng, 60, 10, slow)
    breakdown = compare_breakdowns(base, head)
    assert len(breakdown.tests.time_regressions) == 20
    data = json.loads(json.dumps(breakdown.to_json()))
    assert data["schema"] == "perfgate-breakdown/1"
    again = Breakdown.from_json(data)
    assert again == breakdown
    full = render_breakdown_markdown(data)
    assert full == render_breakdown_markdown(breakdown)
    assert "…and 10 more slower tests" in full
    short = render_breakdown_markdown(breakdown, max_chars=900)
    assert len(short) <= 900
    assert breakdown.tests.time_regressions[0].nodeid in short


def test_foreign_documents_are_refused(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"schema": "perfgate/1"}')
    with pytest.raises(ValueError, match="other.json: not a perfgate-pytest/1 document"):
        read_plugin_documents([tmp_path / "other.json"])
    with pytest.raises(ValueError, match="missing.json"):
        read_plugin_documents([tmp_path / "missing.json"])
    assert plugin_env(tmp_path / "x.json") == {ENV_VAR: str(tmp_path / "x.json")}


def test_heavy_import_example_names_the_import_the_slow_tests_and_the_leak(
    tmp_path: Path,
) -> None:
    example = Path(__file__).parents[1] / "examples" / "heavy-import"
    out = tmp_path / "breakdown.json"
    result = subprocess.run(
        [sys.executable, str(example / "show.py"), "--runs", "8", "--import-runs", "5"]
        + ["--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "`appkit.api` now imports `heavylib` at module level" in result.stdout
    assert "RSS keeps growing from `tests/test_api.py::test_render_report`" in result.stdout
    breakdown = Breakdown.from_json(json.loads(out.read_text()))
    assert breakdown.imports.modules[0].new_heavy[0].chain == ("appkit", "appkit.api", "heavylib")
    assert render_breakdown_markdown(breakdown) in result.stdout


def test_without_a_resettable_peak_only_leaks_are_checked() -> None:
    base = [_document({"t.py::a": 0.01}) for _ in range(4)]
    head = [{**_document({"t.py::a": 0.01}), "memory_method": "ru_maxrss"} for _ in range(4)]
    for doc in head:
        doc["tests"][0]["peak_rss_bytes"] += 100 * MIB  # a monotone peak says nothing per test
    tests = compare_breakdowns(base, head).tests
    assert tests.memory_method == "mixed" and tests.memory_regressions == ()
    assert any("only leaks are checked" in note for note in tests.notes)
