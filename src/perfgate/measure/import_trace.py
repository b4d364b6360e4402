"""Import traces: `python -X importtime` of one import in a fresh interpreter, parsed.

A fresh interpreter per run keeps one run from warming the next; the probe
records RSS and sys.modules around the import.  compare/imports.py compares
the profiles of the two sides.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import contain, module_copies
from ..errors import BenchmarkFailed, InfrastructureError

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
duplicates = duplicated_modules(sys.modules, os.getcwd())["files"]
sys.stdout.flush()
sys.stdout.write("\\n" + {_RESULT!r} + json.dumps(
    {{"seconds": elapsed, "rss_before": rss_before, "rss_after": rss_after, "loaded": loaded,
      "duplicates": duplicates}}
) + "\\n")
"""
# The probe finds module files loaded twice with the plugin's own code (module_copies is
# standard library only): its text goes first in the script.
_PROBE = Path(module_copies.__file__).read_text(encoding="utf-8") + _PROBE


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
    #: Module files loaded twice after the import (module_copies.duplicated_modules' files).
    duplicates: tuple[Mapping[str, Any], ...] = ()

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
        duplicates=tuple(data.get("duplicates") or ()),
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
