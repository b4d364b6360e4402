"""Import breakdown: real `python -X importtime` runs of generated packages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from breakdown_helpers import MIB, write_files

from perfgate.compare.imports import ImportComparison, compare_imports
from perfgate.compare.tests import Breakdown
from perfgate.errors import BenchmarkFailed, InfrastructureError
from perfgate.measure.import_trace import measure_import_once, measure_imports, parse_importtime
from perfgate.report.breakdown import render_breakdown_markdown

TRACE = """\
import time: self [us] | cumulative | imported package
import time:        96 |         96 |   _io
import time:       213 |        546 | _frozen_importlib_external
perfgate-importtime-start
import time:        50 |         50 |       heavy.core
import time:        20 |         20 |       heavy.util
import time:       900 |        970 |     heavy
import time:        30 |       1000 |   mypkg.api
import time:        10 |         10 |   mypkg.models
import time:       100 |       1110 | mypkg
import time:         5 |          5 | other
"""

BASE = {
    "mypkg/__init__.py": "from . import api\n",
    "mypkg/api.py": "def render(x):\n    import heavydep\n    return heavydep.render(x)\n",
    "heavydep/__init__.py": (
        "import time\nfrom . import tables\n\n"
        f"_table = b'x' * {20 * MIB}\ntime.sleep(0.05)\n\n"
        "def render(x):\n    return str(x)\n"
    ),
    "heavydep/tables.py": "import json, decimal\nTABLE = {}\n",
}
HEAD = {
    **BASE,
    "mypkg/api.py": "import heavydep\n\ndef render(x):\n    return heavydep.render(x)\n",
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def test_trace_nesting_becomes_chains() -> None:
    entries = {e.name: e for e in parse_importtime(TRACE)}
    assert "_io" not in entries  # before the marker: the interpreter's own start-up
    assert entries["heavy.core"].chain == ("mypkg", "mypkg.api", "heavy", "heavy.core")
    assert entries["heavy"].chain == ("mypkg", "mypkg.api", "heavy")
    assert entries["mypkg.models"].chain == ("mypkg", "mypkg.models")
    assert entries["other"].chain == ("other",)
    assert (entries["heavy"].self_us, entries["heavy"].cumulative_us) == (900, 970)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("imports")
    base = write_files(root / "base", BASE)
    head = write_files(root / "head", HEAD)
    return (
        measure_imports(sys.executable, ["mypkg"], base, _env(), runs=5),
        measure_imports(sys.executable, ["mypkg"], head, _env(), runs=5),
    )


def test_module_level_import_is_named_with_its_chain(profiles) -> None:
    base, head = profiles
    comparison = compare_imports(base, head, time_threshold=0.05)
    (change,) = comparison.modules
    assert change.module == "mypkg"
    assert [m.name for m in change.new_heavy] == ["heavydep"]
    heavy = change.new_heavy[0]
    assert heavy.chain == ("mypkg", "mypkg.api", "heavydep")
    assert heavy.modules_pulled >= 2  # heavydep and heavydep.tables at least
    assert heavy.seconds >= 0.05  # it sleeps 50 ms while importing
    assert change.verdict == "regression"
    assert change.added_bytes is not None and change.added_bytes >= 19 * MIB
    assert change.new_modules >= 2 and change.removed_modules == 0
    text = render_breakdown_markdown(Breakdown(imports=comparison))
    assert "`mypkg.api` now imports `heavydep` at module level" in text
    assert "`mypkg` → `mypkg.api` → `heavydep`" in text
    assert ImportComparison.from_json(comparison.to_json()) == comparison


def test_same_code_names_no_new_module(profiles) -> None:
    base, _ = profiles
    (change,) = compare_imports(base, base).modules
    assert change.new_heavy == () and change.new_modules == 0
    assert change.verdict != "regression"


def test_lazy_import_stays_out_of_the_trace(profiles) -> None:
    base, head = profiles
    base_names = {e.name for run in base.runs["mypkg"] for e in run.entries}
    head_names = {e.name for run in head.runs["mypkg"] for e in run.entries}
    assert "heavydep" not in base_names and "heavydep" in head_names
    assert {"mypkg", "mypkg.api"} <= base_names


def test_broken_import_is_a_failed_benchmark(tmp_path: Path) -> None:
    project = write_files(tmp_path, {"broken.py": "import does_not_exist_anywhere\n"})
    with pytest.raises(BenchmarkFailed, match="import broken") as caught:
        measure_import_once(sys.executable, "broken", project, _env())
    assert "does_not_exist_anywhere" in caught.value.log_tail


def test_a_package_printing_to_stdout_is_still_measured(tmp_path: Path) -> None:
    project = write_files(tmp_path, {"chatty.py": "print('hello')\nprint('PERFGATE', end='')\n"})
    run = measure_import_once(sys.executable, "chatty", project, _env())
    assert run.loaded == ("chatty",)
    assert [e.chain for e in run.entries] == [("chatty",)]


def test_missing_interpreter_is_infrastructure_trouble(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="cannot run"):
        measure_import_once(tmp_path / "no-python", "json", tmp_path, _env())


def test_an_import_that_loads_its_own_module_twice_is_named(tmp_path: Path) -> None:
    """Head's package puts its own folder on sys.path and imports `tables` by its bare
    name too: one file, two module objects, each with its own 3 MB table."""
    files = {
        "shop/__init__.py": "from . import tables\n",
        "shop/tables.py": f"PRICES = bytearray({3 * MIB})\n",
    }
    head_init = (
        "import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\n"
        "from . import tables\nimport tables as bare\n"
    )
    base = write_files(tmp_path / "base", files)
    head = write_files(tmp_path / "head", {**files, "shop/__init__.py": head_init})
    profiles = {
        side: measure_imports(sys.executable, ["shop"], root, _env(), runs=3)
        for side, root in (("base", base), ("head", head))
    }
    assert all(run.duplicates == () for run in profiles["base"].runs["shop"])
    [module] = compare_imports(profiles["base"], profiles["head"]).modules
    [twice] = module.duplicates
    assert (twice.file, twice.names, twice.new) == (
        "shop/tables.py",
        ("shop.tables", "tables"),
        True,
    )
    assert 3 * MIB <= twice.extra_bytes < 3 * MIB + 100  # the bytearray and its header
    text = render_breakdown_markdown(
        Breakdown(imports=compare_imports(profiles["base"], profiles["head"]))
    )
    assert "- 🔴 `shop/tables.py` is loaded twice, as `shop.tables` and `tables`" in text
