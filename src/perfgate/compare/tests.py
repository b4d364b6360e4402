"""Which test: per-test time and memory, base against head, without false culprits.

Input: the documents the pytest plugin wrote (schema ``perfgate-pytest/1``),
one per run and side.  Each test's samples are compared with the same
rank statistics as the whole suite (compare/ranks.py), and the p-values of all
tests are corrected together (Holm): with 500 tests and no correction, 25
would look guilty by chance at the 5% level.  A change must also be large
in absolute terms (5 ms, 5 MB by default): a test going from 1 ms to 1.3 ms
is real but not worth a reviewer's time.

    base_docs = pytest_documents.read_plugin_documents(base_paths)
    head_docs = pytest_documents.read_plugin_documents(head_paths)
    breakdown = compare_breakdowns(base_docs, head_docs, 0.05, 0.10)
    results = Results(..., breakdown=breakdown.to_json())
    text = report.breakdown.render_breakdown_markdown(breakdown, max_chars=20_000)

Pure: the documents are read by measure/pytest_documents.py, the section of
the comment is written by report/breakdown.py, leaks are found by compare/leaks.py.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..measure.pytest_documents import aggregate, test_order, test_seconds
from . import leftovers, ranks, sequential, stats
from .imports import ImportComparison
from .leaks import LEAK_THRESHOLD_BYTES, Leak, find_leaks
from .leftovers import DuplicateModule, LeftBehind

BREAKDOWN_SCHEMA = "perfgate-breakdown/1"
MIN_TIME_S = 0.005
MIN_MEMORY_BYTES = 5 * 2**20


# --- Data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestChange:
    """One test, base against head, for one metric ("time" or "memory").

    Time: medians in seconds, `difference` and `difference_ci` the
    Hodges-Lehmann shift in seconds, `change` and `ci` relative (0.5 = 50%
    slower, from the shift of the logs).  Memory: medians of the peak added
    during the test (peak RSS minus RSS before it) in bytes, `difference` and
    `difference_ci` the Hodges-Lehmann shift in bytes, `change` and `ci` that
    shift relative to the test's base peak RSS (how much bigger the process
    got at this test's peak).
    """

    nodeid: str
    metric: str
    base_median: float
    head_median: float
    difference: float
    difference_ci: tuple[float, float]
    change: float
    ci: tuple[float, float]
    p_value: float
    p_adjusted: float
    verdict: str


@dataclass(frozen=True)
class GroupChange:
    """A file, class or parametrized function: its tests' summed time, base against head.

    Many tests that each get 2 ms slower stay below what one test can show
    (the 5 ms floor, the noise of a single test), yet add up to a slowdown a
    reader must find; the sum per run of a group is judged like one test.
    `change` holds the comparison, its `nodeid` the group's name.
    """

    kind: str  # "file", "class" or "function"
    tests: int
    change: TestChange


@dataclass(frozen=True)
class TestsComparison:
    base_runs: int
    head_runs: int
    compared: int
    time_threshold: float
    memory_threshold: float
    min_time_s: float
    min_memory_bytes: float
    memory_method: str
    collection: TestChange | None
    time_regressions: tuple[TestChange, ...]
    memory_regressions: tuple[TestChange, ...]
    time_improvements: tuple[TestChange, ...]
    memory_improvements: tuple[TestChange, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    leaks: tuple[Leak, ...]
    notes: tuple[str, ...] = ()
    time_tested: int = 0  # tests that could have moved by the floor: the family Holm corrects
    memory_tested: int = 0
    #: Files, classes and parametrized functions whose tests, summed, got slower.
    group_regressions: tuple[GroupChange, ...] = ()
    groups_tested: int = 0  # groups in the same Holm family as the tests
    #: Tests that newly leave threads, processes, sockets, loops or descriptors behind.
    left_behind: tuple[LeftBehind, ...] = ()
    left_tested: int = 0  # (test, kind) pairs in their Holm family
    #: Module files head loads under two names or more (new ones first).
    duplicates: tuple[DuplicateModule, ...] = ()

    @property
    def culprits(self) -> tuple[str, ...]:
        """Every test named as slower, hungrier, leaking or leaving resources, once, in that
        order."""
        names = [c.nodeid for c in self.time_regressions + self.memory_regressions]
        names += [leak.first_test for leak in self.leaks]
        names += [item.nodeid for item in self.left_behind]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Breakdown:
    """Per-test and per-import evidence; `to_json()` is the `breakdown` key of perfgate/1."""

    tests: TestsComparison | None = None
    imports: ImportComparison | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": BREAKDOWN_SCHEMA,
            "tests": _tests_to_json(self.tests) if self.tests else None,
            "imports": self.imports.to_json() if self.imports else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Breakdown:
        tests = data.get("tests")
        imports = data.get("imports")
        return cls(
            tests=_tests_from_json(tests) if tests else None,
            imports=ImportComparison.from_json(imports) if imports else None,
            notes=tuple(data.get("notes", ())),
        )


# --- Comparing --------------------------------------------------------------------------------


def _time_change(nodeid: str, a: Sequence[float], b: Sequence[float]) -> TestChange:
    p_value = ranks.mann_whitney_p(a, b)
    change, low, high = ranks.shift_interval(a, b)
    shift, shift_low, shift_high = ranks.moses_interval(a, b)
    return TestChange(
        nodeid, "time", statistics.median(a), statistics.median(b), shift,
        (shift_low, shift_high), change, (low, high), p_value, p_value, "",
    )  # fmt: skip


def _memory_change(
    nodeid: str, a: Sequence[float], b: Sequence[float], reference: float
) -> TestChange:
    p_value = ranks.mann_whitney_p(a, b)
    shift, low, high = ranks.moses_interval(a, b)
    reference = reference or 1.0
    return TestChange(
        nodeid, "memory", statistics.median(a), statistics.median(b), shift, (low, high),
        shift / reference, (low / reference, high / reference), p_value, p_value, "",
    )  # fmt: skip


def _judge(
    change: TestChange, threshold: float, floor: float, adjusted: float, alpha: float
) -> TestChange:
    """The suite's verdict rules on the corrected p-value, plus the absolute floor."""
    verdict = stats.decide(change.change, change.ci, adjusted, threshold, alpha)
    if verdict in ("regression", "improvement") and abs(change.difference) < floor:
        verdict = "unchanged"
    return TestChange(**{**change.__dict__, "p_adjusted": adjusted, "verdict": verdict})


def _judged(
    changes: list[TestChange], threshold: float, floor: float, alpha: float
) -> list[TestChange]:
    adjusted = stats.holm([c.p_value for c in changes])
    return [_judge(c, threshold, floor, p, alpha) for c, p in zip(changes, adjusted, strict=True)]


def runs_needed(tests: int, alpha: float = sequential.ALPHA) -> int:
    """Runs per side with which one test among `tests` can be significant after Holm.

    The smallest two-sided Mann-Whitney p-value with n runs a side is
    2 / C(2n, n); Holm multiplies the smallest p-value by the number of tests.
    """
    n = 2
    while tests * 2 / math.comb(2 * n, n) >= alpha and n < 60:
        n += 1
    return n


def _selected(changes: Sequence[TestChange], verdict: str) -> tuple[TestChange, ...]:
    chosen = [c for c in changes if c.verdict == verdict]
    return tuple(sorted(chosen, key=lambda c: -abs(c.difference)))


def _collection(
    base_docs: Sequence[Mapping], head_docs: Sequence[Mapping], threshold: float, alpha: float
) -> TestChange | None:
    """Collection time: where a heavy import at module level of a test's imports shows."""
    a = [d["session"]["collection_s"] for d in base_docs if d["session"].get("collection_s")]
    b = [d["session"]["collection_s"] for d in head_docs if d["session"].get("collection_s")]
    if len(a) < stats.MIN_RUNS or len(b) < stats.MIN_RUNS:
        return None
    change = _time_change("<collection>", a, b)
    return _judge(change, threshold, MIN_TIME_S, change.p_value, alpha)


def _memory_method(documents: Sequence[Mapping[str, Any]]) -> str:
    methods = {d.get("memory_method", "none") for d in documents}
    return methods.pop() if len(methods) == 1 else "mixed"


def could_reach(a: Sequence[float], b: Sequence[float], floor: float) -> bool:
    """Whether a test's samples spread wide enough for a shift of `floor` at all.

    A function of the pooled values only: when nothing changed, which run
    came from which side is independent of the pooled values, so screening on
    them leaves the rank test's p-values valid (independent filtering,
    Bourgon, Gentleman & Huber, PNAS 2010).  Tests that cannot matter then
    do not dilute the correction for the ones that can.
    """
    pooled = [*a, *b]
    return max(pooled) - min(pooled) >= floor


def _family(
    samples: list[tuple[str, Sequence[float], Sequence[float]]], floor: float
) -> list[tuple[str, Sequence[float], Sequence[float]]]:
    enough = stats.MIN_RUNS
    return [
        (t, a, b)
        for t, a, b in samples
        if min(len(a), len(b)) >= enough and could_reach(a, b, floor)
    ]


def groups_of(nodeid: str) -> list[tuple[str, str]]:
    """(kind, name) of each group a test belongs to: its file, each class, its
    parametrized function (`tests/t.py::TestA::test_f[1]` -> file, class, function)."""
    parts = nodeid.split("::")
    groups = [("file", parts[0])]
    groups += [("class", "::".join(parts[: k + 1])) for k in range(1, len(parts) - 1)]
    if len(parts) > 1 and "[" in parts[-1]:
        groups.append(("function", "::".join([*parts[:-1], parts[-1].split("[", 1)[0]])))
    return groups


def group_sums(
    documents: Sequence[Mapping[str, Any]], members: Mapping[str, Sequence[str]]
) -> dict[str, list[float]]:
    """Per group, its tests' summed seconds in each run."""
    sums: dict[str, list[float]] = {name: [] for name in members}
    for document in documents:
        per_run = {record["nodeid"]: test_seconds(record) for record in document["tests"]}
        for name, tests in members.items():
            sums[name].append(sum(per_run.get(t, 0.0) for t in tests))
    return sums


def _group_members(tests: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Groups of two tests or more (one test is its own culprit): members and kind."""
    members: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for nodeid in tests:
        for kind, name in groups_of(nodeid):
            members.setdefault(name, []).append(nodeid)
            kinds[name] = kind
    return {n: m for n, m in members.items() if len(m) > 1}, kinds


def _most_specific(
    groups: Sequence[GroupChange], slower_tests: Sequence[TestChange]
) -> tuple[GroupChange, ...]:
    """Slower groups worth a line of their own, most change first.

    A group is left out when what is inside it says the same more closely:
    a slower group inside it, or the slower tests named one by one, that
    account for most (80%) of its change.
    """
    kept = []
    for group in groups:
        name, difference = group.change.nodeid, group.change.difference
        inside = [g.change.difference for g in groups if g.change.nodeid.startswith(name + "::")]
        named = sum(
            t.difference
            for t in slower_tests
            if t.nodeid.startswith(name + "::") or t.nodeid.startswith(name + "[")
        )
        if max(inside, default=0.0) < 0.8 * difference and named < 0.8 * difference:
            kept.append(group)
    return tuple(sorted(kept, key=lambda g: -g.change.difference))


def compare_breakdowns(
    base_docs: Sequence[Mapping[str, Any]],
    head_docs: Sequence[Mapping[str, Any]],
    time_threshold: float = 0.05,
    memory_threshold: float = 0.10,
    *,
    min_time_s: float = MIN_TIME_S,
    min_memory_bytes: float = MIN_MEMORY_BYTES,
    leak_threshold_bytes: float = LEAK_THRESHOLD_BYTES,
    alpha: float = sequential.ALPHA,
) -> Breakdown:
    """Per test: slower, hungrier, leaking, added or removed, base against head.

    A test is slower when, after Holm's correction over every test that could
    have moved by the floor, its change is significant at `alpha`, beyond
    `time_threshold` with its interval above zero, and at least `min_time_s`;
    hungrier by the same rules on the memory it adds at its peak.
    """
    if not base_docs or not head_docs:
        raise ValueError("compare_breakdowns needs at least one plugin document per side")
    base, head = aggregate(base_docs), aggregate(head_docs)
    common = [t for t in test_order(head_docs) if t in base]
    timed = [t for t in common if min(len(base[t].seconds), len(head[t].seconds)) >= 1]
    time_family = _family([(t, base[t].seconds, head[t].seconds) for t in timed], min_time_s)
    members, kinds = _group_members(timed)
    base_sums, head_sums = group_sums(base_docs, members), group_sums(head_docs, members)
    group_family = _family([(g, base_sums[g], head_sums[g]) for g in members], min_time_s)
    # One Holm family for tests and groups: naming groups costs the tests a little
    # power, never the error rate the gate promises.
    judged = _judged(
        [_time_change(t, a, b) for t, a, b in [*time_family, *group_family]],
        time_threshold,
        min_time_s,
        alpha,
    )
    time_changes = judged[: len(time_family)]
    slower_groups = [
        GroupChange(kinds[c.nodeid], len(members[c.nodeid]), c)
        for c in judged[len(time_family) :]
        if c.verdict == "regression"
    ]
    method = _memory_method([*base_docs, *head_docs])
    memory_family = []
    notes = []
    if method == "vmhwm":
        memory_family = _family(
            [(t, base[t].peak_added_bytes, head[t].peak_added_bytes) for t in common],
            min_memory_bytes,
        )
    else:
        notes.append(
            f"per-test peak memory needs Linux's resettable peak (memory method: {method}); "
            "only leaks are checked"
        )
    memory_changes = _judged(
        [
            _memory_change(t, a, b, statistics.median(base[t].peak_bytes))
            for t, a, b in memory_family
        ],
        memory_threshold,
        min_memory_bytes,
        alpha,
    )
    runs = min(len(base_docs), len(head_docs))
    family = max(len(time_family), len(memory_family))
    if runs < stats.MIN_RUNS:
        notes.append(
            f"per-test comparison needs at least {stats.MIN_RUNS} runs per side, got {runs}"
        )
    elif family and runs < runs_needed(family, alpha):
        notes.append(
            f"{runs} runs per side cannot single out one test among the {family} that moved "
            f"enough to matter, after correcting for testing them all; use at least "
            f"{runs_needed(family, alpha)} runs"
        )
    left_behind, left_tested = (), 0
    if leftovers.records_resources(base_docs) and leftovers.records_resources(head_docs):
        left_behind, left_tested = leftovers.find_left_behind(base_docs, head_docs, alpha)
        if (
            left_tested
            and runs >= stats.MIN_RUNS
            and not leftovers.can_name(runs, left_tested, alpha)
        ):
            notes.append(
                f"{runs} runs per side cannot single out a test that leaves something behind "
                f"among the {left_tested} (test, kind) pairs that left anything in any run"
            )
    tests = TestsComparison(
        base_runs=len(base_docs),
        head_runs=len(head_docs),
        compared=len(timed),
        time_threshold=time_threshold,
        memory_threshold=memory_threshold,
        min_time_s=min_time_s,
        min_memory_bytes=min_memory_bytes,
        memory_method=method,
        collection=_collection(base_docs, head_docs, time_threshold, alpha),
        time_regressions=_selected(time_changes, "regression"),
        memory_regressions=_selected(memory_changes, "regression"),
        time_improvements=_selected(time_changes, "improvement"),
        memory_improvements=_selected(memory_changes, "improvement"),
        added=tuple(t for t in test_order(head_docs) if t not in base),
        removed=tuple(t for t in test_order(base_docs) if t not in head),
        leaks=find_leaks(base_docs, head_docs, leak_threshold_bytes),
        notes=tuple(notes),
        time_tested=len(time_family),
        group_regressions=_most_specific(slower_groups, _selected(time_changes, "regression")),
        groups_tested=len(group_family),
        memory_tested=len(memory_family),
        left_behind=left_behind,
        left_tested=left_tested,
        duplicates=leftovers.compare_duplicates(
            leftovers.duplicate_lists(base_docs), leftovers.duplicate_lists(head_docs)
        ),
    )
    return Breakdown(tests=tests)


# --- JSON -------------------------------------------------------------------------------------


def _change_to_json(change: TestChange) -> dict[str, Any]:
    data = dict(change.__dict__)
    data["ci"] = list(change.ci)
    data["difference_ci"] = list(change.difference_ci)
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _change_from_json(data: Mapping[str, Any]) -> TestChange:
    return TestChange(
        nodeid=data["nodeid"],
        metric=data["metric"],
        base_median=_nan(data["base_median"]),
        head_median=_nan(data["head_median"]),
        difference=_nan(data["difference"]),
        difference_ci=tuple(_nan(v) for v in data["difference_ci"]),
        change=_nan(data["change"]),
        ci=tuple(_nan(v) for v in data["ci"]),
        p_value=_nan(data["p_value"]),
        p_adjusted=_nan(data["p_adjusted"]),
        verdict=data["verdict"],
    )


_CHANGE_LISTS = ("time_regressions", "memory_regressions", "time_improvements",
                 "memory_improvements")  # fmt: skip


def _tests_to_json(tests: TestsComparison) -> dict[str, Any]:
    data: dict[str, Any] = {
        k: getattr(tests, k)
        for k in ("base_runs", "head_runs", "compared", "time_tested", "memory_tested",
                  "time_threshold", "memory_threshold", "min_time_s", "min_memory_bytes",
                  "memory_method", "groups_tested", "left_tested")
    }  # fmt: skip
    data["collection"] = _change_to_json(tests.collection) if tests.collection else None
    for key in _CHANGE_LISTS:
        data[key] = [_change_to_json(c) for c in getattr(tests, key)]
    data["added"] = list(tests.added)
    data["removed"] = list(tests.removed)
    data["leaks"] = [
        {
            "first_test": leak.first_test,
            "growth_bytes": leak.growth_bytes,
            "growing_tests": list(leak.growing_tests),
            "base_growth_bytes": leak.base_growth_bytes,
        }
        for leak in tests.leaks
    ]
    data["notes"] = list(tests.notes)
    data["group_regressions"] = [
        {"kind": g.kind, "tests": g.tests, **_change_to_json(g.change)}
        for g in tests.group_regressions
    ]
    data["left_behind"] = [leftovers.left_to_json(item) for item in tests.left_behind]
    data["duplicates"] = [leftovers.duplicate_to_json(item) for item in tests.duplicates]
    return data


def _tests_from_json(data: Mapping[str, Any]) -> TestsComparison:
    collection = data.get("collection")
    return TestsComparison(
        base_runs=data["base_runs"],
        head_runs=data["head_runs"],
        compared=data["compared"],
        time_threshold=data["time_threshold"],
        memory_threshold=data["memory_threshold"],
        min_time_s=data["min_time_s"],
        min_memory_bytes=data["min_memory_bytes"],
        memory_method=data["memory_method"],
        collection=_change_from_json(collection) if collection else None,
        **{k: tuple(_change_from_json(c) for c in data.get(k, [])) for k in _CHANGE_LISTS},
        added=tuple(data.get("added", [])),
        removed=tuple(data.get("removed", [])),
        leaks=tuple(
            Leak(
                leak["first_test"],
                leak["growth_bytes"],
                tuple(leak["growing_tests"]),
                leak.get("base_growth_bytes"),
            )
            for leak in data.get("leaks", [])
        ),
        notes=tuple(data.get("notes", [])),
        time_tested=data.get("time_tested", 0),
        memory_tested=data.get("memory_tested", 0),
        group_regressions=tuple(
            GroupChange(g["kind"], int(g["tests"]), _change_from_json(g))
            for g in data.get("group_regressions", [])
        ),
        groups_tested=data.get("groups_tested", 0),
        left_behind=tuple(leftovers.left_from_json(d) for d in data.get("left_behind", [])),
        left_tested=data.get("left_tested", 0),
        duplicates=tuple(leftovers.duplicate_from_json(d) for d in data.get("duplicates", [])),
    )
