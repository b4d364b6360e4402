"""Which import: the time and memory it costs to import a package, base against head.

The commonest silent slowdown of a Python project is a heavy dependency
moved to module level: every process that imports the package (every CLI
call, every worker, every test session) now pays for it.  `python -X
importtime` tells, per module, how long it took and which import pulled it
in (the nesting of its output); a fresh interpreter per run keeps one run
from warming the next.

    base = measure_imports(python, ["mypkg"], cwd=base_tree, env=base_env, runs=5)
    head = measure_imports(python, ["mypkg"], cwd=head_tree, env=head_env, runs=5)
    comparison = compare_imports(base, head, time_threshold=0.05)

Measuring runs subprocesses; comparing and rendering are pure.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import contain, stats
from .errors import BenchmarkFailed, InfrastructureError

#: A new module counts as heavy when importing it (with everything it pulls
#: in) takes at least this long on head.
HEAVY_IMPORT_S = 0.010
#: Or when the whole import grew by this much memory and this module is the
#: largest newcomer.
HEAVY_IMPORT_BYTES = 5 * 2**20
#: How many new modules an import's record keeps (the costliest).
NEWCOMERS = 10
#: Import-time changes below this are not worth a reviewer's attention.
MIN_IMPORT_CHANGE_S = 0.005

_MARKER = "perfgate-importtime-start"
_RESULT = "PERFGATE-IMPORT-RESULT "
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S.*)$")

# Runs in the side's interpreter: records RSS and sys.modules around one
# import; the marker on stderr separates the interpreter's own start-up
# imports (and this probe's) from the package's in the -X importtime trace.
_PROBE = f"""
import json, os, sys, time

def rss():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None

name = sys.argv[1]
before = set(sys.modules)
rss_before = rss()
sys.stderr.write({_MARKER!r} + "\\n")
sys.stderr.flush()
started = time.perf_counter()
__import__(name)
elapsed = time.perf_counter() - started
rss_after = rss()
loaded = sorted(set(sys.modules) - before)
sys.stdout.flush()
sys.stdout.write("\\n" + {_RESULT!r} + json.dumps(
    {{"seconds": elapsed, "rss_before": rss_before, "rss_after": rss_after, "loaded": loaded}}
) + "\\n")
"""


# --- Data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportEntry:
    """One module in an -X importtime trace: its own time, with its imports, and who pulled it in.

    `chain` runs from the top-level import down to this module, e.g.
    ("mypkg", "mypkg.api", "fastapi"): the first is what was asked for.
    """

    name: str
    self_us: int
    cumulative_us: int
    chain: tuple[str, ...]


@dataclass(frozen=True)
class ImportRun:
    """One fresh interpreter importing one module."""

    module: str
    seconds: float
    rss_before_bytes: int | None
    rss_after_bytes: int | None
    entries: tuple[ImportEntry, ...]
    loaded: tuple[str, ...]

    @property
    def rss_added_bytes(self) -> int | None:
        if self.rss_before_bytes is None or self.rss_after_bytes is None:
            return None
        return self.rss_after_bytes - self.rss_before_bytes


@dataclass(frozen=True)
class ImportProfile:
    """Every run of every module on one side."""

    python: str
    runs: Mapping[str, tuple[ImportRun, ...]]


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


# --- Parsing -X importtime ------------------------------------------------------------------


def parse_importtime(stderr: str) -> tuple[ImportEntry, ...]:
    """The modules of an -X importtime trace after the probe's marker, each with its chain.

    The trace is printed in post-order (a module after the imports it
    triggered), each nesting level indented by two more spaces; so the lines
    since the last line at a level not deeper than L are the imports
    triggered by the next line at level L.
    """
    lines = stderr.splitlines()
    if _MARKER in lines:
        lines = lines[lines.index(_MARKER) + 1 :]
    nodes: list[tuple[int, str, int, int, list]] = []  # level, name, self, cumulative, children
    stack: list[tuple[int, str, int, int, list]] = []
    for line in lines:
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        level = len(indent) // 2
        children = []
        while stack and stack[-1][0] > level:
            children.append(stack.pop())
        node = (level, name.strip(), int(self_us), int(cumulative_us), children[::-1])
        stack.append(node)
        nodes.append(node)
    entries: list[ImportEntry] = []

    def walk(node: tuple, chain: tuple[str, ...]) -> None:
        here = (*chain, node[1])
        entries.append(ImportEntry(node[1], node[2], node[3], here))
        for child in node[4]:
            walk(child, here)

    for root in stack:
        walk(root, ())
    return tuple(entries)


# --- Measuring --------------------------------------------------------------------------------


def measure_import_once(
    python: str | Path,
    module: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float = 120.0,
    account: contain.Account | None = None,
) -> ImportRun:
    """Import `module` in a fresh `python -X importtime`, in `cwd` with `env`.

    The import is the pull request's code: it runs as the side's `account` and
    whatever it leaves running is killed (contain.sweep), as after a measured run.
    """
    try:
        result = contain.run(
            [str(python), "-X", "importtime", "-c", _PROBE, module],
            account,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkFailed(f"importing {module} took longer than {timeout_s:g} s") from exc
    except OSError as exc:  # no such interpreter, or not executable
        raise InfrastructureError(f"cannot run {python} to import {module}: {exc}") from exc
    payload = next(
        (line[len(_RESULT) :] for line in result.stdout.splitlines() if line.startswith(_RESULT)),
        None,
    )
    if result.returncode != 0 or payload is None:
        tail = "\n".join(
            line for line in result.stderr.splitlines()[-30:] if not line.startswith("import time:")
        )
        raise BenchmarkFailed(
            f"`{python} -c 'import {module}'` failed in {cwd} (exit {result.returncode})",
            log_tail=tail,
        )
    data = json.loads(payload)
    return ImportRun(
        module=module,
        seconds=float(data["seconds"]),
        rss_before_bytes=data["rss_before"],
        rss_after_bytes=data["rss_after"],
        entries=parse_importtime(result.stderr),
        loaded=tuple(data["loaded"]),
    )


def measure_imports(
    python: str | Path,
    modules: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    runs: int = 5,
    timeout_s: float = 120.0,
    account: contain.Account | None = None,
) -> ImportProfile:
    """`runs` fresh imports of each module; the modules take turns so drift hits all alike."""
    if runs < 1:
        raise ValueError("measure_imports needs at least one run")
    collected: dict[str, list[ImportRun]] = {m: [] for m in modules}
    for _ in range(runs):
        for module in modules:
            collected[module].append(
                measure_import_once(python, module, cwd, env, timeout_s, account)
            )
    return ImportProfile(python=str(python), runs={m: tuple(r) for m, r in collected.items()})


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
    module: str, base: Sequence[ImportRun], head: Sequence[ImportRun], threshold: float
) -> ModuleImportChange:
    a, b = [r.seconds for r in base], [r.seconds for r in head]
    base_s, head_s = statistics.median(a), statistics.median(b)
    p_value = stats.mann_whitney_p(a, b)
    change, low, high = stats.shift_interval(a, b)
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
        new_heavy=new_heavy_modules(base, head),
        newcomers=new_module_tops(base, head)[:NEWCOMERS],
        new_modules=len(head_loaded - base_loaded),
        removed_modules=len(base_loaded - head_loaded),
        runs=(len(base), len(head)),
    )


def compare_imports(
    base: ImportProfile, head: ImportProfile, time_threshold: float = 0.05
) -> ImportComparison:
    """Each module measured on both sides, base against head."""
    modules = [m for m in head.runs if m in base.runs and base.runs[m] and head.runs[m]]
    return ImportComparison(
        modules=tuple(
            compare_module(m, base.runs[m], head.runs[m], time_threshold) for m in modules
        ),
        threshold=time_threshold,
    )


# --- JSON and text ------------------------------------------------------------------------------


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
    )


def relative(change: float) -> str:
    """A relative change in the report's one notation: +12.3%, +67,900.0% (never ×680:
    a reader compares changes across tables only when they read alike)."""
    from .report import format as fmt

    return fmt.percent(change)


def relative_interval(ci: tuple[float, float]) -> str:
    return f"{relative(ci[0])} … {relative(ci[1])}"


def describe_new_heavy(
    change: ModuleImportChange, quote: Callable[[str], str] | None = None
) -> list[str]:
    """Sentences a reviewer can act on: who now imports what, and what it costs.

    Heavy newcomers get a sentence each.  When the import grew and none is
    heavy alone, the new modules that account for it are named together,
    costliest first, each with its chain.  `quote` shows outside text (module
    names): inline code in Markdown, one plain line on a terminal.
    """
    from .report import format as fmt

    quote = quote or fmt.untrusted
    sentences = []
    for heavy in change.new_heavy:
        importer = heavy.chain[-2] if len(heavy.chain) > 1 else change.module
        chain = " → ".join(quote(name) for name in heavy.chain)
        cost = f"+{fmt.seconds(heavy.seconds)}"
        added = change.added_bytes
        if added is not None and added > 0 and heavy is change.new_heavy[0]:
            cost += f", import of {quote(change.module)} +{fmt.megabytes(added)}"
        more = f", with {heavy.modules_pulled - 1} more modules" if heavy.modules_pulled > 1 else ""
        sentences.append(
            f"{quote(importer)} now imports {quote(heavy.name)} at module level: "
            f"{cost}{more} (chain: {chain})"
        )
    grew = change.verdict == "regression" or change.added_seconds >= MIN_IMPORT_CHANGE_S
    if not change.new_heavy and change.newcomers and grew:
        shown = change.newcomers[:5]
        listed = "; ".join(
            f"{quote(m.name)} +{fmt.seconds(m.seconds)} (chain: "
            + " → ".join(quote(name) for name in m.chain)
            + ")"
            for m in shown
        )
        rest = change.new_modules - sum(m.modules_pulled for m in shown)
        more = f"; and {rest} more" if rest > 0 else ""
        sentences.append(
            f"the import of {quote(change.module)} grew by +{fmt.seconds(change.added_seconds)} "
            f"with {change.new_modules} new modules, none heavy alone: {listed}{more}"
        )
    return sentences


def render_imports_markdown(comparison: ImportComparison) -> str:
    """The import section of the comment: a table, then the newcomers in words."""
    from .report import format as fmt

    if not comparison.modules:
        return ""
    rows = [
        "| import | base | head | change | 95% interval | memory | modules |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    sentences = []
    for m in comparison.modules:
        icon = fmt.VERDICT_ICONS.get(m.verdict, "")
        memory = "n/a"
        if m.base_rss_bytes is not None and m.head_rss_bytes is not None:
            memory = fmt.delta("peak_memory", m.base_rss_bytes, m.head_rss_bytes)
        rows.append(
            f"| {icon} {fmt.untrusted(m.module, cell=True)} | {fmt.seconds(m.base_seconds)} | "
            f"{fmt.seconds(m.head_seconds)}"
            f" | {relative(m.change)} ({fmt.delta('wall_time', m.base_seconds, m.head_seconds)})"
            f" | {relative_interval(m.ci)} | {memory}"
            f" | {m.base_modules} → {m.head_modules} |"
        )
        sentences.extend(describe_new_heavy(m))
    text = "**Import time**\n\n" + "\n".join(rows)
    if sentences:
        text += "\n\n" + "\n".join(f"- {s}" for s in sentences)
    return text
