"""The pytest plugin's documents: loading the plugin into any pytest, reading what it wrote.

Each measured run of a pytest benchmark writes one document (schema
``perfgate-pytest/1``, see docs/breakdown.md); this module makes the plugin
importable by the benchmark's own Python and turns a side's documents into
per-test samples for compare/tests.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..plugin_contract import ENV_VAR
from ..plugin_contract import SCHEMA as PLUGIN_SCHEMA


def plugin_env(path: Path) -> dict[str, str]:
    """The variable that switches the plugin on without touching the user's command."""
    return {ENV_VAR: str(path)}


#: The package the plugin is loaded as where perfgate is not installed; a name no
#: project uses, so it shadows nothing.
LOADER_PACKAGE = "_perfgate_pytest"


_LOADER_FILES = {
    "__init__.py": "_plugin_loader.py",
    "plugin_contract.py": "plugin_contract.py",
    "pytest_plugin.py": "pytest_plugin.py",
    "module_copies.py": "module_copies.py",
}


def plugin_loader_env(folder: Path, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the plugin loadable by any Python that runs pytest.

    The benchmark's pytest often runs in the project's environment, not
    perfgate's (perfgate from pipx, `venv: true`). The plugin is copied into
    `folder` as a package of its own, which goes last on PYTHONPATH (the
    project's paths keep precedence) and into PYTEST_PLUGINS.
    """
    package = folder / LOADER_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    source = Path(__file__).parent.parent  # the plugin's files live at the top of perfgate
    for target, name in _LOADER_FILES.items():
        (package / target).write_bytes((source / name).read_bytes())
    return {
        **env,
        "PYTHONPATH": _appended(env.get("PYTHONPATH", ""), str(folder), os.pathsep),
        "PYTEST_PLUGINS": _appended(env.get("PYTEST_PLUGINS", ""), LOADER_PACKAGE, ","),
    }


def _appended(value: str, item: str, separator: str) -> str:
    return f"{value}{separator}{item}" if value else item


def read_plugin_documents(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Load plugin documents; a missing or foreign file is named (ValueError)."""
    documents = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: no per-test data from the pytest plugin ({exc})") from exc
        if not isinstance(data, dict) or data.get("schema") != PLUGIN_SCHEMA:
            raise ValueError(f"{path}: not a {PLUGIN_SCHEMA} document")
        documents.append(data)
    return documents


def collect_pytest_breakdown(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The documents of one side's runs, skipping runs that wrote none (e.g. a warm-up)."""
    return read_plugin_documents([p for p in paths if Path(p).exists()])


@dataclass(frozen=True)
class TestSamples:
    """One test's samples over the runs of one side."""

    seconds: tuple[float, ...]
    peak_added_bytes: tuple[int, ...]
    peak_bytes: tuple[int, ...]


def test_seconds(record: Mapping[str, Any]) -> float:
    return sum(record.get(k) or 0.0 for k in ("setup_s", "call_s", "teardown_s"))


def aggregate(documents: Sequence[Mapping[str, Any]]) -> dict[str, TestSamples]:
    """Per test id, its samples over the runs (a test run twice in one session: the last)."""
    seconds: dict[str, list[float]] = {}
    added: dict[str, list[int]] = {}
    peaks: dict[str, list[int]] = {}
    for document in documents:
        per_run = {record["nodeid"]: record for record in document["tests"]}
        for nodeid, record in per_run.items():
            seconds.setdefault(nodeid, []).append(test_seconds(record))
            before, peak = record.get("rss_before_bytes"), record.get("peak_rss_bytes")
            if before is not None and peak is not None:
                added.setdefault(nodeid, []).append(max(0, peak - before))
                peaks.setdefault(nodeid, []).append(peak)
    return {
        nodeid: TestSamples(tuple(s), tuple(added.get(nodeid, ())), tuple(peaks.get(nodeid, ())))
        for nodeid, s in seconds.items()
    }


def seconds_per_run(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Per run, each test id's seconds (setup, call and teardown): what per-test budgets
    are judged on, which need the runs apart to sum a file's tests run by run."""
    return [{r["nodeid"]: test_seconds(r) for r in document["tests"]} for document in documents]


def test_order(documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """Test ids in the order the first run met them (then any the others added)."""
    seen: dict[str, None] = {}
    for document in documents:
        for record in document["tests"]:
            seen.setdefault(record["nodeid"], None)
    return list(seen)
