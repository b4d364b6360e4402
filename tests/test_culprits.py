"""Culprits a user can act on (issue 10, item 4).

Many tests that each get 1-3 ms slower stay under what one test can show;
summed per file, class and parametrized function they are found, with the
same Holm correction as the tests.  An import that grew by many small new
modules names them with their chains.  The console shows what the comment
shows.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from breakdown_helpers import write_files
from git_helpers import make_repo
from test_imports import _env

from perfgate.compare.imports import compare_imports
from perfgate.compare.tests import Breakdown, compare_breakdowns, groups_of
from perfgate.measure.import_trace import measure_imports
from perfgate.report.breakdown import culprit_lines, render_breakdown_markdown

PY = sys.executable


def test_each_test_belongs_to_its_file_classes_and_parametrized_function() -> None:
    assert groups_of("tests/test_a.py::TestX::TestY::test_f[1-2]") == [
        ("file", "tests/test_a.py"),
        ("class", "tests/test_a.py::TestX"),
        ("class", "tests/test_a.py::TestX::TestY"),
        ("function", "tests/test_a.py::TestX::TestY::test_f"),
    ]
    assert groups_of("tests/test_a.py::test_plain") == [("file", "tests/test_a.py")]


def _documents(seed: int, extra_s: float) -> list[dict]:
    """Ten runs of a suite: 120 cases of one parametrized test taking about 1 ms (plus
    `extra_s`, 1 to 3 ms by case) and 30 unchanged tests in another file."""
    rng = random.Random(seed)
    runs = []
    for _ in range(10):
        tests = [
            {"nodeid": f"tests/test_time.py::test_t[{i}]",
             "call_s": 0.001 + rng.uniform(0, 0.0005) + extra_s * (1 + i % 3)}
            for i in range(120)
        ]  # fmt: skip
        tests += [
            {"nodeid": f"tests/test_other.py::test_{i}", "call_s": 0.002 + rng.uniform(0, 0.001)}
            for i in range(30)
        ]
        runs.append({"tests": tests, "session": {}, "memory_method": "none"})
    return runs


def test_many_tests_each_slightly_slower_are_found_as_their_group() -> None:
    base, head = _documents(1, 0.0), _documents(2, 0.001)  # +1, +2, +3 ms by case
    tests = compare_breakdowns(base, head, 0.05, 0.10).tests
    assert tests.time_regressions == ()  # each below the 5 ms floor of one test
    (group,) = tests.group_regressions  # the file says the same less closely: left out
    assert (group.kind, group.change.nodeid, group.tests) == (
        "function", "tests/test_time.py::test_t", 120,
    )  # fmt: skip
    # 40 cases each of +1, +2 and +3 ms: +240 ms in all; the noise is under ±0.5 ms a test.
    assert 0.18 < group.change.difference < 0.30
    text = render_breakdown_markdown(Breakdown(tests=tests))
    assert "tests in parametrized function `tests/test_time.py::test_t`: 120 tests, +" in text
    assert Breakdown.from_json(Breakdown(tests=tests).to_json()).tests == tests


def test_identical_suites_name_no_group() -> None:
    tests = compare_breakdowns(_documents(1, 0.0), _documents(2, 0.0), 0.05, 0.10).tests
    assert tests.group_regressions == () and tests.groups_tested >= 1


PACKAGE_BASE = {"appkit/__init__.py": "import time\nfrom . import core\n", "appkit/core.py": ""}
# Head: core pulls in eight small new modules, each 2 ms to import (16 ms in all); none is
# heavy alone.  At load 12 a 2 ms sleep once took 14.8 ms, past the default 10 ms line:
# the test draws the line at 1 s, which no 2 ms import reaches on any machine.
HEAVY_LINE_S = 1.0
PACKAGE_HEAD = {
    **PACKAGE_BASE,
    "appkit/core.py": "".join(f"from . import part{i}\n" for i in range(8)),
    **{f"appkit/part{i}.py": "import time\ntime.sleep(0.002)\n" for i in range(8)},
}


def test_an_import_grown_by_small_new_modules_names_them_with_their_chains(
    tmp_path: Path,
) -> None:
    base = measure_imports(PY, ["appkit"], write_files(tmp_path / "b", PACKAGE_BASE), _env(), 5)
    head = measure_imports(PY, ["appkit"], write_files(tmp_path / "h", PACKAGE_HEAD), _env(), 5)
    (change,) = compare_imports(base, head, 0.05, heavy_s=HEAVY_LINE_S).modules
    assert change.new_heavy == ()
    assert change.new_modules == 8
    assert {m.name for m in change.newcomers} == {f"appkit.part{i}" for i in range(8)}
    assert all(m.chain == ("appkit", "appkit.core", m.name) for m in change.newcomers)
    imports = compare_imports(base, head, 0.05, heavy_s=HEAVY_LINE_S)
    text = render_breakdown_markdown(Breakdown(imports=imports))
    assert "with 8 new modules, none heavy alone" in text
    assert "`appkit` → `appkit.core` → `appkit.part" in text
    assert "; and 3 more" in text  # five named, three counted


SUITE = """\
import time

import pytest

DELAY = {delay}


@pytest.mark.parametrize("case", range(120))
def test_each(case):
    if DELAY:
        time.sleep(DELAY * (1 + case % 3))
"""
OTHER = """\
def test_sum():
    assert sum(range(100)) == 4950


def test_len():
    assert len("perfgate") == 8
"""


def test_the_console_names_the_group_the_comment_names(tmp_path: Path) -> None:
    """A real suite of 120 tests that each get 1, 2 or 3 ms slower, ten runs a side."""
    repo = make_repo(
        tmp_path / "suite",
        {"tests/test_time.py": SUITE.format(delay=0), "tests/test_other.py": OTHER},
        "base",
    )
    repo.git("branch", "base")
    repo.commit({"tests/test_time.py": SUITE.format(delay=0.001)}, "head")
    out, report = tmp_path / "results.json", tmp_path / "report.md"
    result = subprocess.run(
        [
            PY, "-m", "perfgate", "gate", "--repo", str(repo.path), "--base", "base",
            "--runs", "10", "--max-runs", "10", "--warmup", "1", "--json", str(out),
            "--markdown", str(report), "--", PY, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    groups = json.loads(out.read_text())["breakdown"]["tests"]["group_regressions"]
    assert [(g["nodeid"], g["tests"]) for g in groups] == [("tests/test_time.py::test_each", 120)]
    sentence = "tests in parametrized function tests/test_time.py::test_each: 120 tests, +"
    assert sentence in result.stdout
    assert "tests in parametrized function `tests/test_time.py::test_each`: 120 tests" in (
        report.read_text()
    )
    console = culprit_lines(json.loads(out.read_text())["breakdown"])
    assert all(line in result.stdout for line in console) and console
