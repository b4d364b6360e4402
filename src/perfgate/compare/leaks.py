"""Leaks: memory that keeps growing, test after test, to the end of the suite (pure).

Read from the RSS the pytest plugin records after each test
(measure/pytest_documents.py); compare/tests.py puts head's leak, unless base
leaks as much, beside the per-test changes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..measure.pytest_documents import test_order

#: RSS retained from the first growing test to the end of the suite that counts as a leak.
LEAK_THRESHOLD_BYTES = 10 * 2**20
#: A test "grows" RSS when the RSS after it exceeds the RSS after the previous one by this.
LEAK_STEP_BYTES = 2**20
#: A one-off step (a cache warmed, a module imported) is not a leak; growth must repeat.
LEAK_MIN_STEPS = 3


@dataclass(frozen=True)
class Leak:
    """RSS that keeps growing from `first_test` to the end of the suite, on head.

    `base_growth_bytes` is base's own leak by the same rule, None when base
    does not leak.
    """

    first_test: str
    growth_bytes: float
    growing_tests: tuple[str, ...]
    base_growth_bytes: float | None


def _rss_steps(document: Mapping[str, Any]) -> dict[str, int]:
    """How much RSS each test left behind: RSS after it minus RSS after the previous one."""
    steps = {}
    previous = None
    for record in document["tests"]:
        after = record.get("rss_after_bytes")
        if after is None:
            continue
        start = previous if previous is not None else record.get("rss_before_bytes")
        if start is not None:
            steps[record["nodeid"]] = after - start
        previous = after
    return steps


def _growth_from(document: Mapping[str, Any], first: str) -> int | None:
    """RSS at the end of the suite minus RSS just before `first` ran."""
    records = [r for r in document["tests"] if r.get("rss_after_bytes") is not None]
    index = next((i for i, r in enumerate(records) if r["nodeid"] == first), None)
    if index is None:
        return None
    before = records[index - 1]["rss_after_bytes"] if index else records[0]["rss_before_bytes"]
    if before is None:
        return None
    return records[-1]["rss_after_bytes"] - before


def leak_of_side(
    documents: Sequence[Mapping[str, Any]], threshold_bytes: float = LEAK_THRESHOLD_BYTES
) -> tuple[str, float, tuple[str, ...]] | None:
    """(first test, retained growth, growing tests) when RSS keeps growing; else None.

    Growing tests: those after which RSS rose by LEAK_STEP_BYTES or more in
    the median run.  A leak needs LEAK_MIN_STEPS of them (one step is a cache
    or an import, not a leak) and the growth from the first of them to the
    end of the suite must stay above the threshold.
    """
    per_run = [_rss_steps(d) for d in documents]
    order = test_order(documents)
    growing = []
    for nodeid in order:
        steps = [s[nodeid] for s in per_run if nodeid in s]
        if steps and statistics.median(steps) >= LEAK_STEP_BYTES:
            growing.append(nodeid)
    if len(growing) < LEAK_MIN_STEPS:
        return None
    growths = [g for d in documents if (g := _growth_from(d, growing[0])) is not None]
    if not growths or statistics.median(growths) < threshold_bytes:
        return None
    return growing[0], statistics.median(growths), tuple(growing)


def find_leaks(
    base_docs: Sequence[Mapping[str, Any]],
    head_docs: Sequence[Mapping[str, Any]],
    threshold_bytes: float = LEAK_THRESHOLD_BYTES,
) -> tuple[Leak, ...]:
    """Head's leak, unless base leaks as much (then it is not the pull request's).

    Base is judged by the same rule, not by its growth over the same tests: a
    one-off step on base (a lazy import paid by the first test that needs
    it) is not a leak and must not hide one on head.
    """
    found = leak_of_side(head_docs, threshold_bytes)
    if found is None:
        return ()
    first, growth, growing = found
    on_base = leak_of_side(base_docs, threshold_bytes)
    base_growth = on_base[1] if on_base else None
    if base_growth is not None and growth - base_growth < threshold_bytes:
        return ()
    return (Leak(first, growth, growing, base_growth),)
