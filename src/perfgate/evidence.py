"""The evidence beside the verdict: which tests and which imports moved.

Collected once the runs are done, from what they left (the pytest plugin's
documents) and from fresh import traces; it never changes the verdict.
pipeline.py calls `collect`; measuring is measure/'s, comparing compare/'s.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence

from .compare import imports as import_changes
from .compare import tests as test_changes
from .config import Config
from .errors import PerfgateError
from .measure import import_trace, pytest_documents, schedule
from .prepare import SIDES
from .progress import Progress
from .results import Sample

#: Why a pytest benchmark has no per-test data when pytest could not import the plugin.
PLUGIN_NOT_LOADED = (
    "no per-test data: pytest could not import perfgate's plugin (the command sets "
    "PYTHONPATH, which carries it; append to it instead, PYTHONPATH=src:$PYTHONPATH, or "
    "install perfgate where the tests run)"
)


def wants_pytest_breakdown(config: Config) -> bool:
    """Per-test evidence when asked for, or by default when the benchmark is pytest."""
    if config.shard is not None:  # per-test evidence is not merged across shards
        return False
    if config.breakdown == "pytest":
        return True
    return config.breakdown in (None, "auto") and "pytest" in config.command_text


def collect(
    config: Config,
    targets: Mapping[str, schedule.Target],
    samples: Mapping[str, Sequence[Sample]],
    alpha: float,
    progress: Progress,
    notes: Sequence[str] = (),
) -> dict | None:
    """Which tests and which imports moved: the `breakdown` key of the results."""
    tests = imports = None
    notes = list(notes)  # PLUGIN_NOT_LOADED: kept only when that left no per-test data
    if targets["base"].run_file_env:
        try:
            documents = {
                side: pytest_documents.collect_pytest_breakdown(
                    targets[side].run_files(len(samples[side]))
                )
                for side in SIDES
            }
            if documents["base"] and documents["head"]:
                tests = test_changes.compare_breakdowns(
                    documents["base"], documents["head"], config.time_threshold,
                    config.memory_threshold, alpha=alpha,
                ).tests  # fmt: skip
                notes = [n for n in notes if n != PLUGIN_NOT_LOADED]
        except Exception as problem:  # the run wrote these files: hostile input, never a crash
            documents = {}
            notes.append(f"per-test data left out: the run's files are unusable ({problem})"[:300])
        if (
            documents
            and not (documents["base"] and documents["head"])
            and (PLUGIN_NOT_LOADED not in notes)
        ):
            notes.append(
                "no per-test data: the pytest plugin did not run (is the benchmark pytest? "
                "a command that sets PYTEST_PLUGINS or PYTHONPATH, or a Python started with "
                "-I or -E, drops the variables that load it; installing perfgate where the "
                "tests run also loads it)"
            )
    if config.imports and config.shard is None:
        progress.step(f"measuring the import of {', '.join(config.imports)} on each side")
        try:
            profiles = {
                side: import_trace.measure_imports(
                    _python_of(targets[side].env),
                    config.imports,
                    targets[side].cwd,
                    targets[side].env,
                    runs=5,
                    timeout_s=config.timeout_s,
                    account=targets[side].account,
                )  # fmt: skip
                for side in SIDES
            }
            imports = import_changes.compare_imports(
                profiles["base"], profiles["head"], config.time_threshold
            )
        except PerfgateError:
            raise
        except Exception as problem:  # what the import printed is hostile input too
            notes.append(f"import data left out: the probe's output is unusable ({problem})"[:300])
    if tests is None and imports is None and not notes:
        return None
    return test_changes.Breakdown(tests=tests, imports=imports, notes=tuple(notes)).to_json()


def _python_of(env: Mapping[str, str]) -> str:
    """The interpreter the benchmark would get for `python`: its venv's, else perfgate's."""
    return shutil.which("python", path=env.get("PATH")) or sys.executable
