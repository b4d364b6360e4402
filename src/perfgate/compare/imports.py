"""Which import: the time and memory it costs to import a package, base against head.

The commonest silent slowdown of a Python project is a heavy dependency
moved to module level: every process that imports the package (every CLI
call, every worker, every test session) now pays for it.  `python -X
importtime` tells, per module, how long it took and which import pulled it
in (the nesting of its output); a fresh interpreter per run keeps one run
from warming the next.

    base = import_trace.measure_imports(python, ["mypkg"], cwd=base_tree, env=base_env, runs=5)
    head = import_trace.measure_imports(python, ["mypkg"], cwd=head_tree, env=head_env, runs=5)
    comparison = compare_imports(base, head, time_threshold=0.05)

Pure: measuring is measure/import_trace.py's, the text report/imports.py's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..measure.import_trace import ImportProfile, ImportRun
from . import ranks, stats
from .leftovers import (
    DuplicateModule,
    compare_duplicates,
    duplicate_from_json,
    duplicate_to_json,
)

#: A new module counts as heavy when importing it (with everything it pulls
#: in) takes at least this long on head.
HEAVY_IMPORT_S = 0.010
#: How many new modules an import's record keeps (the costliest).
NEWCOMERS = 10
#: Import-time changes below this are not worth a reviewer's attention.
MIN_IMPORT_CHANGE_S = 0.005


# --- Data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewHeavyModule:
    """A module head imports that base did not, and what it costs."""

    name: str
    chain: tuple[str, ...]
    seconds: float  # median cumulative import time on head, with what it pulls in
    modules_pulled: int  # how many new modules come in under it


@dataclass(frozen=True)
class ModuleImportChange:
    """Importing one module, base against head."""

    module: str
    base_seconds: float
    head_seconds: float
    change: float
    ci: tuple[float, float]
    p_value: float
    verdict: str
    base_rss_bytes: float | None
    head_rss_bytes: float | None
    base_modules: int
    head_modules: int
    new_heavy: tuple[NewHeavyModule, ...]
    new_modules: int
    removed_modules: int
    runs: tuple[int, int]
    #: Every new module that no other new module pulled in, costliest first (at most
    #: NEWCOMERS): what accounts for a grown import when no single module is heavy.
    newcomers: tuple[NewHeavyModule, ...] = ()
    #: Module files the import loads under two names or more on head (compare/leftovers.py).
    duplicates: tuple[DuplicateModule, ...] = ()

    @property
    def added_seconds(self) -> float:
        return self.head_seconds - self.base_seconds

    @property
    def added_bytes(self) -> float | None:
        if self.base_rss_bytes is None or self.head_rss_bytes is None:
            return None
        return self.head_rss_bytes - self.base_rss_bytes


@dataclass(frozen=True)
class ImportComparison:
    modules: tuple[ModuleImportChange, ...]
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "modules": [_change_to_json(m) for m in self.modules]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImportComparison:
        return cls(
            modules=tuple(_change_from_json(m) for m in data.get("modules", [])),
            threshold=float(data.get("threshold", 0.05)),
        )


# --- Comparing --------------------------------------------------------------------------------


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _cumulative_by_name(runs: Sequence[ImportRun]) -> dict[str, float]:
    """Median cumulative seconds of each module over the runs that imported it."""
    samples: dict[str, list[float]] = {}
    for run in runs:
        for entry in run.entries:
            samples.setdefault(entry.name, []).append(entry.cumulative_us / 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _chains(runs: Sequence[ImportRun]) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for run in runs:
        for entry in run.entries:
            chains.setdefault(entry.name, entry.chain)
    return chains


def new_heavy_modules(
    base: Sequence[ImportRun], head: Sequence[ImportRun], heavy_s: float = HEAVY_IMPORT_S
) -> tuple[NewHeavyModule, ...]:
    """New modules that each cost at least `heavy_s`, each named once (see new_modules)."""
    return tuple(m for m in new_module_tops(base, head) if m.seconds >= heavy_s)


def new_module_tops(
    base: Sequence[ImportRun], head: Sequence[ImportRun]
) -> tuple[NewHeavyModule, ...]:
    """Modules head imports and base does not, heaviest first, each named once.

    Only the top of each new subtree is named: when fastapi comes in with
    pydantic and starlette under it, the reader wants "fastapi", with the
    chain of the package's own modules that pulls it in.
    """
    base_names = {name for run in base for name in run.loaded} | {
        e.name for run in base for e in run.entries
    }
    head_names = {e.name for run in head for e in run.entries}
    new = head_names - base_names
    cumulative = _cumulative_by_name(head)
    chains = _chains(head)
    found = []
    for name in new:
        chain = chains[name]
        parent_is_new = len(chain) > 1 and chain[-2] in new
        if parent_is_new:
            continue
        pulled = sum(1 for other in new if chains[other][: len(chain)] == chain)
        found.append(NewHeavyModule(name, chain, cumulative[name], pulled))
    return tuple(sorted(found, key=lambda m: -m.seconds))


def compare_module(
    module: str,
    base: Sequence[ImportRun],
    head: Sequence[ImportRun],
    threshold: float,
    heavy_s: float = HEAVY_IMPORT_S,
) -> ModuleImportChange:
    a, b = [r.seconds for r in base], [r.seconds for r in head]
    base_s, head_s = statistics.median(a), statistics.median(b)
    p_value = ranks.mann_whitney_p(a, b)
    change, low, high = ranks.shift_interval(a, b)
    verdict = stats.decide(change, (low, high), p_value, threshold)
    if verdict in ("regression", "improvement") and abs(head_s - base_s) < MIN_IMPORT_CHANGE_S:
        verdict = "unchanged"
    base_loaded = {name for run in base for name in run.loaded}
    head_loaded = {name for run in head for name in run.loaded}
    return ModuleImportChange(
        module=module,
        base_seconds=base_s,
        head_seconds=head_s,
        change=change,
        ci=(low, high),
        p_value=p_value,
        verdict=verdict,
        base_rss_bytes=_median_or_none([r.rss_added_bytes for r in base]),
        head_rss_bytes=_median_or_none([r.rss_added_bytes for r in head]),
        base_modules=round(statistics.median(len(r.loaded) for r in base)),
        head_modules=round(statistics.median(len(r.loaded) for r in head)),
        new_heavy=new_heavy_modules(base, head, heavy_s),
        newcomers=new_module_tops(base, head)[:NEWCOMERS],
        new_modules=len(head_loaded - base_loaded),
        removed_modules=len(base_loaded - head_loaded),
        runs=(len(base), len(head)),
        duplicates=compare_duplicates([r.duplicates for r in base], [r.duplicates for r in head]),
    )


def compare_imports(
    base: ImportProfile,
    head: ImportProfile,
    time_threshold: float = 0.05,
    heavy_s: float = HEAVY_IMPORT_S,
) -> ImportComparison:
    """Each module measured on both sides, base against head; a new module is heavy from
    `heavy_s` on (a test plants modules far from that line, whatever the machine's load)."""
    modules = [m for m in head.runs if m in base.runs and base.runs[m] and head.runs[m]]
    return ImportComparison(
        modules=tuple(
            compare_module(m, base.runs[m], head.runs[m], time_threshold, heavy_s) for m in modules
        ),
        threshold=time_threshold,
    )


# --- JSON -----------------------------------------------------------------------------------


def _module_to_json(module: NewHeavyModule) -> dict[str, Any]:
    return {
        "name": module.name,
        "chain": list(module.chain),
        "seconds": module.seconds,
        "modules_pulled": module.modules_pulled,
    }


def _module_from_json(data: Mapping[str, Any]) -> NewHeavyModule:
    return NewHeavyModule(
        data["name"], tuple(data["chain"]), float(data["seconds"]), int(data["modules_pulled"])
    )


def _change_to_json(change: ModuleImportChange) -> dict[str, Any]:
    return {
        "module": change.module,
        "base_seconds": change.base_seconds,
        "head_seconds": change.head_seconds,
        "change": change.change,
        "ci": list(change.ci),
        "p_value": change.p_value,
        "verdict": change.verdict,
        "base_rss_bytes": change.base_rss_bytes,
        "head_rss_bytes": change.head_rss_bytes,
        "base_modules": change.base_modules,
        "head_modules": change.head_modules,
        "new_heavy": [_module_to_json(m) for m in change.new_heavy],
        "new_modules": change.new_modules,
        "newcomers": [_module_to_json(m) for m in change.newcomers],
        "removed_modules": change.removed_modules,
        "runs": list(change.runs),
        "duplicates": [duplicate_to_json(d) for d in change.duplicates],
    }


def _change_from_json(data: Mapping[str, Any]) -> ModuleImportChange:
    return ModuleImportChange(
        module=data["module"],
        base_seconds=float(data["base_seconds"]),
        head_seconds=float(data["head_seconds"]),
        change=float(data["change"]),
        ci=(float(data["ci"][0]), float(data["ci"][1])),
        p_value=float(data["p_value"]),
        verdict=data["verdict"],
        base_rss_bytes=data.get("base_rss_bytes"),
        head_rss_bytes=data.get("head_rss_bytes"),
        base_modules=int(data.get("base_modules", 0)),
        head_modules=int(data.get("head_modules", 0)),
        new_heavy=tuple(_module_from_json(m) for m in data.get("new_heavy", [])),
        newcomers=tuple(_module_from_json(m) for m in data.get("newcomers", [])),
        new_modules=int(data.get("new_modules", 0)),
        removed_modules=int(data.get("removed_modules", 0)),
        runs=tuple(data.get("runs", (0, 0))),
        duplicates=tuple(duplicate_from_json(d) for d in data.get("duplicates", [])),
    )
