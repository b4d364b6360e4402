"""What tests leave behind and which module files load twice, base against head (pure).

The plugin records, per test, the threads, child processes, sockets, event
loops and other file descriptors alive after its teardown that were not
there before its setup, and at the end of the session the module files
loaded as two module objects or more (perfgate.module_copies; the import
probe records the same after an import).  Whether something was left behind
is a yes or no per run, so a test is compared by how many runs of each side
it left a kind behind in:

- it must have done so in more than half of head's runs (one run that left
  a thread, a garbage collection that came late, never names a test), and
- head must do so more often than base, by a one-sided Fisher exact test of
  those counts, with Holm's correction over every (test, kind) that left
  anything in any run of either side: screening on the pooled count keeps
  the p-values valid (what the pooled runs left does not say which side
  they came from when nothing changed), and tests that never left anything
  do not dilute the correction.

A module file loaded twice is new on head when head loads it twice in more
than half of its runs and base in none: the pull request introduced it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import stats

#: What a test can leave behind, in the order a sentence names them.
KINDS = ("threads", "processes", "sockets", "event_loops", "fds")
#: The most tests kept (the comment shows fewer): a suite that leaves a thread in each of
#: 10,000 tests must not make a results file of megabytes.
MAX_TESTS = 50
#: The most duplicated module files kept.
MAX_FILES = 20
#: The most names kept per duplicated file, and the longest name, path or test id kept.
MAX_NAMES = 5
MAX_CHARS = 300
#: A count read from a document above this is not believed (a hostile run's numbers).
MAX_COUNT = 1_000_000


@dataclass(frozen=True)
class LeftBehind:
    """A test that newly leaves something behind: per kind, the median count over head's runs.

    `head_runs` of `head_of` head runs (and `base_runs` of `base_of` base
    runs) left at least one thing of a named kind.
    """

    nodeid: str
    kinds: tuple[tuple[str, int], ...]
    head_runs: int
    head_of: int
    base_runs: int
    base_of: int
    p_adjusted: float


@dataclass(frozen=True)
class DuplicateModule:
    """A module file loaded under two names or more on head; `new`: base loaded it once."""

    file: str
    names: tuple[str, ...]
    extra_bytes: float  # median over head's runs of the extra copies' module-level objects
    head_runs: int
    head_of: int
    base_runs: int
    base_of: int

    @property
    def new(self) -> bool:
        return self.base_runs == 0


# --- Reading what the documents say (hostile input: types and sizes checked) -----------------


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return 0
    return value


def left_counts(record: Mapping[str, Any]) -> dict[str, int]:
    """The kinds a test record says it left behind, with their counts (junk ignored)."""
    left = record.get("left")
    if not isinstance(left, Mapping):
        return {}
    return {kind: n for kind in KINDS if (n := _count(left.get(kind)))}


def records_resources(documents: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every document recorded what tests leave behind (a plugin that could)."""
    return bool(documents) and all(d.get("resources_method") == "proc" for d in documents)


def _per_test(documents: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, int]]]:
    """Per test id, what it left in each run that ran it."""
    found: dict[str, list[dict[str, int]]] = {}
    for document in documents:
        per_run = {r["nodeid"]: r for r in document["tests"]}
        for nodeid, record in per_run.items():
            found.setdefault(nodeid, []).append(left_counts(record))
    return found


def fisher_greater(head_hits: int, head_n: int, base_hits: int, base_n: int) -> float:
    """One-sided Fisher exact p-value that head's rate of hits exceeds base's.

    Under no change, which of the pooled runs are head's is a random draw: the
    count of head's hits is hypergeometric given the pooled hits.
    """
    total, hits = head_n + base_n, head_hits + base_hits
    ways = math.comb(total, head_n)
    tail = sum(
        math.comb(hits, x) * math.comb(total - hits, head_n - x)
        for x in range(head_hits, min(hits, head_n) + 1)
    )
    return min(1.0, tail / ways)


# --- Comparing -------------------------------------------------------------------------------


def can_name(runs: int, family: int, alpha: float = stats.ALPHA) -> bool:
    """Whether `runs` a side can name one (test, kind) among `family` at all: the smallest
    p-value, every head run against no base run, is 1 / C(2n, n), times the family (Holm)."""
    return family * fisher_greater(runs, runs, 0, runs) < alpha


def find_left_behind(
    base_docs: Sequence[Mapping[str, Any]],
    head_docs: Sequence[Mapping[str, Any]],
    alpha: float = stats.ALPHA,
) -> tuple[tuple[LeftBehind, ...], int]:
    """Tests that newly leave something behind (the rule above), most runs first; and how
    many (test, kind) pairs were tested together."""
    base, head = _per_test(base_docs), _per_test(head_docs)
    family: list[tuple[str, str, int, int, int, int]] = []
    for nodeid, runs in head.items():
        base_runs = base.get(nodeid, [])
        if len(runs) < stats.MIN_RUNS or len(base_runs) < stats.MIN_RUNS:
            continue
        for kind in KINDS:
            hits = sum(1 for r in runs if kind in r)
            base_hits = sum(1 for r in base_runs if kind in r)
            if hits or base_hits:
                family.append((nodeid, kind, hits, len(runs), base_hits, len(base_runs)))
    adjusted = stats.holm([fisher_greater(h, n, bh, bn) for _, _, h, n, bh, bn in family])
    flagged: dict[str, list[tuple[str, int, float]]] = {}
    for (nodeid, kind, hits, n, _, _), p in zip(family, adjusted, strict=True):
        if p < alpha and hits * 2 > n:
            median = statistics.median(r.get(kind, 0) for r in head[nodeid])
            flagged.setdefault(nodeid, []).append((kind, max(1, round(median)), p))
    found = []
    for nodeid, kinds in flagged.items():
        names = {kind for kind, _, _ in kinds}
        head_runs, base_runs = head[nodeid], base[nodeid]
        found.append(
            LeftBehind(
                nodeid=nodeid[:MAX_CHARS],
                kinds=tuple((kind, count) for kind, count, _ in kinds),
                head_runs=sum(1 for r in head_runs if names & r.keys()),
                head_of=len(head_runs),
                base_runs=sum(1 for r in base_runs if names & r.keys()),
                base_of=len(base_runs),
                p_adjusted=max(p for _, _, p in kinds),
            )
        )
    found.sort(key=lambda t: (-t.head_runs / t.head_of, -sum(n for _, n in t.kinds), t.nodeid))
    return tuple(found[:MAX_TESTS]), len(family)


def duplicate_lists(documents: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Each plugin document's duplicated files (an older plugin's or a failed look: none)."""
    lists = []
    for document in documents:
        found = document.get("duplicates")
        files = found.get("files") if isinstance(found, Mapping) else None
        lists.append(list(files)[:MAX_FILES] if isinstance(files, list) else [])
    return lists


def _duplicate(entry: Any) -> tuple[str, tuple[str, ...], int] | None:
    """(file, names, extra bytes) of one entry, or None when it is not one."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("file"), str):
        return None
    names = entry.get("names")
    if not isinstance(names, list):
        return None
    names = tuple(n[:MAX_CHARS] for n in names[:MAX_NAMES] if isinstance(n, str))
    extra = entry.get("extra_bytes")
    extra = extra if isinstance(extra, int) and not isinstance(extra, bool) else 0
    return entry["file"][:MAX_CHARS], names, min(max(extra, 0), 2**48)


def compare_duplicates(
    base_runs: Sequence[Sequence[Mapping[str, Any]]],
    head_runs: Sequence[Sequence[Mapping[str, Any]]],
) -> tuple[DuplicateModule, ...]:
    """Files head loads twice in most of its runs, new ones first, then the costliest.

    Each side's input is one list per run of ``{"file", "names", "extra_bytes"}``
    (module_copies.duplicated_modules); files are keyed by their path relative
    to the side's checkout, so base's and head's copies of a file meet.
    """

    def per_file(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, list]:
        found: dict[str, list] = {}
        for run in runs:
            seen = {}
            for entry in list(run)[:MAX_FILES]:
                parsed = _duplicate(entry)
                if parsed is not None and len(parsed[1]) > 1:
                    seen.setdefault(parsed[0], parsed)
            for file, parsed in seen.items():
                found.setdefault(file, []).append(parsed)
        return found

    base, head = per_file(base_runs), per_file(head_runs)
    found = []
    for file, seen in head.items():
        if len(seen) * 2 <= len(head_runs):
            continue
        names = tuple(dict.fromkeys(n for _, ns, _ in seen for n in ns))[:MAX_NAMES]
        found.append(
            DuplicateModule(
                file=file,
                names=names,
                extra_bytes=statistics.median(extra for _, _, extra in seen),
                head_runs=len(seen),
                head_of=len(head_runs),
                base_runs=len(base.get(file, ())),
                base_of=len(base_runs),
            )
        )
    found.sort(key=lambda d: (not d.new, -d.extra_bytes, d.file))
    return tuple(found[:MAX_FILES])


# --- JSON ------------------------------------------------------------------------------------


def left_to_json(item: LeftBehind) -> dict[str, Any]:
    return {**item.__dict__, "kinds": {kind: n for kind, n in item.kinds}}


def left_from_json(data: Mapping[str, Any]) -> LeftBehind:
    return LeftBehind(
        nodeid=str(data["nodeid"]),
        kinds=tuple((k, int(n)) for k, n in dict(data["kinds"]).items() if k in KINDS),
        head_runs=int(data["head_runs"]),
        head_of=int(data["head_of"]),
        base_runs=int(data["base_runs"]),
        base_of=int(data["base_of"]),
        p_adjusted=float(data["p_adjusted"]),
    )


def duplicate_to_json(item: DuplicateModule) -> dict[str, Any]:
    return {**item.__dict__, "names": list(item.names), "new": item.new}


def duplicate_from_json(data: Mapping[str, Any]) -> DuplicateModule:
    return DuplicateModule(
        file=str(data["file"]),
        names=tuple(str(n) for n in data["names"]),
        extra_bytes=float(data["extra_bytes"]),
        head_runs=int(data["head_runs"]),
        head_of=int(data["head_of"]),
        base_runs=int(data["base_runs"]),
        base_of=int(data["base_of"]),
    )
