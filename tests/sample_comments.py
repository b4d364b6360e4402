"""Six gates a reviewer meets, as saved results: the cases of the comment's rendering tests,
and what `bench/render_comments.py` draws as GitHub shows it.

Each is built from seeded samples judged by the real statistics (report_helpers) and,
for the culprits, from constructed breakdowns: the rendering is a pure function of them.
"""

from __future__ import annotations

import dataclasses

from report_helpers import THRESHOLDS, make_results

from perfgate.compare import stats
from perfgate.compare import tests as bd
from perfgate.compare.imports import ImportComparison, ModuleImportChange
from perfgate.compare.tests import Breakdown
from perfgate.results import Results


def with_breakdown(results: Results, breakdown: Breakdown) -> Results:
    return dataclasses.replace(results, breakdown=breakdown.to_json())


def import_change(module: str, base_s: float, head_s: float, verdict: str) -> ModuleImportChange:
    return ModuleImportChange(
        module=module, base_seconds=base_s, head_seconds=head_s, change=head_s / base_s - 1,
        ci=(0.4, 0.5), p_value=1e-4, verdict=verdict, base_rss_bytes=20e6, head_rss_bytes=21e6,
        base_modules=40, head_modules=40, new_heavy=(), new_modules=0, removed_modules=0,
        runs=(10, 10),
    )  # fmt: skip


def slower_test(nodeid: str, base_s: float = 0.010, head_s: float = 0.030) -> bd.TestChange:
    return bd.TestChange(
        nodeid, "time", base_s, head_s, head_s - base_s, (0.015, 0.025), head_s / base_s - 1,
        (1.5, 2.5), 1e-6, 1e-4, "regression",
    )  # fmt: skip


def suite_comparison(time_regressions: tuple[bd.TestChange, ...]) -> bd.TestsComparison:
    return bd.TestsComparison(
        base_runs=10, head_runs=10, compared=len(time_regressions) + 5, time_threshold=0.05,
        memory_threshold=0.1, min_time_s=0.005, min_memory_bytes=1e6, memory_method="rss",
        collection=None, time_regressions=time_regressions, memory_regressions=(),
        time_improvements=(), memory_improvements=(), added=(), removed=(), leaks=(),
    )  # fmt: skip


def failing() -> Results:
    """Wall time +30% with the slower test named."""
    results = make_results(slowdown=1.3)
    slower = suite_comparison((slower_test("tests/test_a.py::test_x"),))
    return with_breakdown(results, Breakdown(tests=slower))


def passing() -> Results:
    return make_results()


def no_verdict() -> Results:
    """A 4% slowdown in 20% noise with 6 runs a side: nothing can be told."""
    return make_results(runs=6, slowdown=1.04, cv=0.2)


def import_only() -> Results:
    """Nothing gated moved, but `tomli` imports 45% slower (20.3 ms against 14 ms)."""
    imports = ImportComparison(
        (
            import_change("tomli", 0.014, 0.0203, "regression"),
            import_change("json", 0.002, 0.002, "unchanged"),
        ),
        0.05,
    )
    return with_breakdown(make_results(), Breakdown(imports=imports))


#: The two levels of head's bimodal peak memory, alternating run by run.
BIMODAL_BYTES = (50e6, 80e6)


def bimodal_memory() -> Results:
    """Wall time +30%, and head's peak memory alternating between 50 MB and 80 MB."""
    results = make_results(slowdown=1.3)
    head = results.sides["head"]
    split = tuple(
        dataclasses.replace(s, tree_peak_rss_bytes=int(BIMODAL_BYTES[k % 2]))
        for k, s in enumerate(head.samples)
    )
    sides = {**results.sides, "head": dataclasses.replace(head, samples=split)}
    comparisons = stats.compare(sides["base"], sides["head"], THRESHOLDS)  # judged anew
    return dataclasses.replace(
        results, sides=sides, comparisons=comparisons, verdict=stats.gate_verdict(comparisons)
    )


#: Slower tests in the many-test sample, each with an 80-character parameter.
MANY = 3000


def many_tests() -> Results:
    results = make_results(slowdown=1.3, runs=30)
    slower = tuple(slower_test(f"tests/test_{i:04}.py::test_case[{'x' * 80}]") for i in range(MANY))
    return with_breakdown(results, Breakdown(tests=suite_comparison(slower)))


SAMPLES = {
    "fail": failing,
    "pass": passing,
    "no-verdict": no_verdict,
    "import-only": import_only,
    "bimodal-memory": bimodal_memory,
    "many-tests": many_tests,
}
