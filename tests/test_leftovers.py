"""What a test leaves behind and module files loaded twice: the plugin's record of real
suites, and the rule that names a test (made-up runs, checked against scipy)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
from breakdown_helpers import UTIL_BYTES, run_pytest, story_suite, write_files
from git_helpers import Repo, make_repo
from scipy.stats import fisher_exact

from perfgate.compare.leftovers import (
    can_name,
    compare_duplicates,
    find_left_behind,
    fisher_greater,
)
from perfgate.module_copies import duplicated_modules
from perfgate.report.format import untrusted
from perfgate.report.leftovers import duplicate_sentence, left_sentence, markdown_parts

SCHEMA_PATH = Path(__file__).parents[1] / "docs" / "perfgate-pytest-1.schema.json"


class _Between:
    """Equal to any int in [low, high): a bound worked out by hand, in an equality."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and self.low <= other < self.high


#: The second copy's 2,000,000-byte bytearray and its header (under 100 bytes).
ANY_SIZE = _Between(2_000_000, 2_000_100)


def _document(project: Path, out: Path) -> dict:
    result = run_pytest(project, "-q", f"--perfgate-json={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    return document


def test_the_plugin_records_what_each_test_leaves_and_the_module_loaded_twice(
    tmp_path: Path,
) -> None:
    head = _document(write_files(tmp_path / "head", story_suite(True)), tmp_path / "head.json")
    base = _document(write_files(tmp_path / "base", story_suite(False)), tmp_path / "base.json")
    assert head["resources_method"] == base["resources_method"] == "proc"
    left = {t["nodeid"]: t.get("left") for t in head["tests"]}
    # Planted: 4 worker threads (a barrier of 4 needs them all) and 1 listening socket; one
    # loop per test (its epoll descriptor; its self-pipe's two sockets are its own).
    assert left == {
        "tests/test_clean.py::test_nothing_left": None,
        "tests/test_loops.py::test_loop_a": {"event_loops": 1},
        "tests/test_loops.py::test_loop_b": {"event_loops": 1},
        "tests/test_pool.py::test_connect": {"threads": 4, "sockets": 1},
        "tests/test_util.py::test_table": None,
    }
    assert all("left" not in t for t in base["tests"])
    assert base["duplicates"] == {"count": 0, "files": []}
    [twice] = head["duplicates"]["files"]
    assert twice["file"] == "src/calc/util.py"  # relative to the rootdir: sides agree
    assert twice["names"] == ["calc.util", "util"]
    # The second copy holds its own 8 MB table (bytearray's header is under 100 bytes).
    assert UTIL_BYTES <= twice["extra_bytes"] < UTIL_BYTES + 100


def test_processes_and_other_descriptors_are_counted(tmp_path: Path) -> None:
    suite = {
        "test_rest.py": (
            "import subprocess, sys\n_kept = []\n\n"
            "def test_child():\n"
            "    _kept.append(subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(30)']))\n\n"
            "def test_files():\n"
            "    _kept.extend(open(__file__) for _ in range(3))\n\n"
            "def test_stops_its_child():\n"
            "    _kept.pop(0).kill()\n"
        )
    }
    document = _document(write_files(tmp_path / "p", suite), tmp_path / "out.json")
    left = {t["nodeid"].split("::")[1]: t.get("left") for t in document["tests"]}
    assert left == {"test_child": {"processes": 1}, "test_files": {"fds": 3},
                    "test_stops_its_child": None}  # fmt: skip


def _runs(counts: list[dict | None]) -> list[dict]:
    """One plugin document per run, with test `t.py::test_a` leaving `counts[k]` in run k."""
    return [
        {
            "resources_method": "proc",
            "tests": [
                {"nodeid": "t.py::test_a", **({"left": c} if c else {})},
                {"nodeid": "t.py::test_b"},
            ],
        }
        for c in counts
    ]


@pytest.mark.parametrize(
    ("head_hits", "base_hits", "n"), [(6, 0, 6), (5, 1, 6), (4, 0, 6), (10, 3, 10), (2, 2, 5)]
)
def test_the_count_test_is_fishers_exact_test(head_hits: int, base_hits: int, n: int) -> None:
    table = [[head_hits, n - head_hits], [base_hits, n - base_hits]]
    expected = fisher_exact(table, alternative="greater").pvalue
    assert fisher_greater(head_hits, n, base_hits, n) == pytest.approx(expected, rel=1e-9)


def test_a_test_is_named_only_when_most_head_runs_leave_it_and_base_rarely_does() -> None:
    threads = {"threads": 4, "sockets": 2}
    # 6 of 6 against 0 of 6: p = 1/C(12, 6) = 1/924 per kind, Holm over 2 kinds: 2/924.
    found, tested = find_left_behind(_runs([None] * 6), _runs([threads] * 6), alpha=0.01)
    [item] = found
    assert tested == 2
    assert item.kinds == (("threads", 4), ("sockets", 2))
    assert (item.head_runs, item.head_of, item.base_runs) == (6, 6, 0)
    assert item.p_adjusted == pytest.approx(2 / 924)
    assert left_sentence(item, lambda s: f"`{s}`") == (
        "`t.py::test_a` leaves 4 threads and 2 sockets open after its teardown (6 of 6 runs); "
        "base left none"
    )
    # One head run that left a thread (a late collection, a slow join) names nothing.
    once = [threads] + [None] * 9
    assert find_left_behind(_runs([None] * 10), _runs(once))[0] == ()
    # Base leaving the same as head: not the pull request's.
    assert find_left_behind(_runs([threads] * 6), _runs([threads] * 6), alpha=0.01)[0] == ()
    # Too few runs to reach the level: nothing named, however consistent.
    assert find_left_behind(_runs([None] * 4), _runs([threads] * 4), alpha=0.01)[0] == ()
    # 1/C(8, 4) = 1/70 per pair: 4 runs a side cannot name one pair at 1%; 5 can name 2.
    assert not can_name(4, 1, 0.01) and can_name(5, 2, 0.01) and not can_name(5, 3, 0.01)


def test_a_module_loaded_twice_is_new_only_when_base_never_did() -> None:
    entry = {"file": "src/calc/util.py", "names": ["calc.util", "util"], "extra_bytes": 8_000_000}
    [new] = compare_duplicates([[]] * 5, [[entry]] * 5)
    assert new.new and new.names == ("calc.util", "util") and new.extra_bytes == 8_000_000
    [old] = compare_duplicates([[entry]] + [[]] * 4, [[entry]] * 5)
    assert not old.new and (old.base_runs, old.base_of) == (1, 5)
    assert compare_duplicates([[]] * 5, [[entry]] * 2 + [[]] * 3) == ()  # 2 of 5: not most
    sentence = duplicate_sentence(new, lambda s: f"`{s}`")
    assert sentence == (
        "`src/calc/util.py` is loaded twice, as `calc.util` and `util`: +8.0 MB of module-level "
        "objects in the extra copies; new on head (base loads it once)"
    )


def test_hostile_names_are_bounded_and_shown_as_text() -> None:
    evil = "x`y\n# heading <img src=x> @team |" + "z" * 5000
    entry = {"file": evil, "names": [evil, "b", 7, None], "extra_bytes": "lots"}
    [dup] = compare_duplicates([[]] * 3, [[entry, "junk", {"file": 3}]] * 3)
    assert dup.names == (evil[:300], "b") and dup.extra_bytes == 0
    threads = {"threads": 4, "junk": 9, "sockets": True, "fds": -3}
    found, _ = find_left_behind(
        *([{**d, "tests": [{**d["tests"][0], "nodeid": evil}]} for d in _runs(counts)]
          for counts in ([None] * 8, [threads] * 8))
    )  # fmt: skip
    assert found[0].kinds == (("threads", 4),)
    text = "\n".join(markdown_parts(found, [dup], top=5))
    shown = untrusted(evil[:300])  # one line, cut to 200 characters, in a longer code fence
    assert shown.startswith("``x`y # heading <img src=x> @team |") and len(shown) < 220
    assert text.count(shown) == 3  # the file, its first name, the test
    assert "\n# heading" not in text and text.count("<img") == 3
    assert all(len(line) < 1000 for line in text.splitlines())


# --- Gated base against head: one gate run, its findings checked one by one --------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`perfgate gate` of the story suite: base cleans up, head plants three problems."""
    root = tmp_path_factory.mktemp("story")
    repo = make_repo(root / "repo", story_suite(False), "base: cleans up")
    repo.git("branch", "base")
    repo.commit(story_suite(True), "head: sys.path.insert, a pool never stopped, open loops")
    out, report = root / "results.json", root / "report.md"
    result = subprocess.run(
        [
            sys.executable, "-m", "perfgate", "gate", "--repo", str(repo.path), "--base", "base",
            "--runs", "6", "--max-runs", "6", "--warmup", "0", "--json", str(out),
            "--markdown", str(report), "--", sys.executable, "-m", "pytest", "-q",
            "-p", "no:cacheprovider",
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    tests = json.loads(out.read_text())["breakdown"]["tests"]
    return {"tests": tests, "console": result.stdout, "comment": report.read_text()}


def test_gate_names_the_module_that_sys_path_insert_loads_twice(gated: dict) -> None:
    [twice] = gated["tests"]["duplicates"]
    assert (twice["file"], twice["names"], twice["new"]) == (
        "src/calc/util.py", ["calc.util", "util"], True
    )  # fmt: skip
    assert (twice["head_runs"], twice["base_runs"]) == (6, 0)
    assert UTIL_BYTES <= twice["extra_bytes"] < UTIL_BYTES + 100
    sentence = (
        "`src/calc/util.py` is loaded twice, as `calc.util` and `util`: +8.0 MB of module-level "
        "objects in the extra copies; new on head (base loads it once)"
    )
    assert sentence in gated["comment"]
    headline = gated["comment"].splitlines()[0]
    assert "`util` loaded twice" in headline
    assert (
        "loaded twice: src/calc/util.py is loaded twice, as calc.util and util"
        in (gated["console"])
    )


def test_gate_names_the_fixture_that_leaves_a_pool_and_a_socket_open(gated: dict) -> None:
    left = {t["nodeid"]: t for t in gated["tests"]["left_behind"]}
    pool = left["tests/test_pool.py::test_connect"]
    assert pool["kinds"] == {"threads": 4, "sockets": 1}
    assert (pool["head_runs"], pool["head_of"], pool["base_runs"]) == (6, 6, 0)
    sentence = "leaves 4 threads and 1 socket open after its teardown (6 of 6 runs); base left none"
    assert f"`tests/test_pool.py::test_connect` {sentence}" in gated["comment"]
    assert f"left behind: tests/test_pool.py::test_connect {sentence}" in gated["console"]


def test_gate_names_each_test_that_leaves_its_event_loop_open(gated: dict) -> None:
    left = {t["nodeid"]: t["kinds"] for t in gated["tests"]["left_behind"]}
    assert left == {
        "tests/test_pool.py::test_connect": {"threads": 4, "sockets": 1},
        "tests/test_loops.py::test_loop_a": {"event_loops": 1},
        "tests/test_loops.py::test_loop_b": {"event_loops": 1},
    }  # and neither test_util.py nor test_clean.py, which leave nothing
    assert "`tests/test_loops.py::test_loop_a` leaves 1 event loop open" in gated["comment"]
    assert "3 tests leave resources behind" in gated["comment"].splitlines()[0]


def test_the_seed_story_plants_one_problem_per_commit(tmp_path: Path) -> None:
    """examples/seed-story (make demo-seed): five commits on pr, and the three plants that
    the plugin records show in one run of each side (the full gate runs in `make demo-seed`)."""
    example = Path(__file__).parents[1] / "examples" / "seed-story"
    repo = tmp_path / "repo"
    built = subprocess.run(
        [sys.executable, str(example / "build.py"), str(repo)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    log = Repo(repo).git("log", "--format=%s", "main..pr")
    assert len(log.splitlines()) == 5 and "sys.path.insert" in log
    documents = {}
    for branch in ("main", "pr"):
        subprocess.run(["git", "checkout", "-q", branch], cwd=repo, check=True)
        documents[branch] = _document(repo, tmp_path / f"{branch}.json")
    left = {t["nodeid"]: t["left"] for t in documents["pr"]["tests"] if "left" in t}
    assert left == {
        "tests/test_events.py::test_double": {"event_loops": 1},
        "tests/test_events.py::test_double_zero": {"event_loops": 1},
        # 4 warmed workers and the acceptor thread; the listening socket
        "tests/test_service.py::test_service_listens": {"threads": 5, "sockets": 1},
        "tests/test_service.py::test_service_computes": {"threads": 5, "sockets": 1},
    }
    assert not any("left" in t for t in documents["main"]["tests"])
    [twice] = documents["pr"]["duplicates"]["files"]
    assert (twice["file"], twice["names"]) == ("appkit/tables.py", ["appkit.tables", "tables"])
    assert documents["main"]["duplicates"]["files"] == []


def test_copies_are_module_objects_of_one_source_file_not_aliases(tmp_path: Path) -> None:
    source = write_files(tmp_path / "src", {"pkg/table.py": "DATA = bytearray(2_000_000)\n"})
    linked = tmp_path / "linked"
    linked.symlink_to(source / "pkg")  # the same folder reached by a second path

    def load(name: str, path: Path) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    extension = [types.ModuleType(n) for n in ("ext._core", "ext._core.sub")]
    for module in extension:  # pybind11 submodules all name their extension's file
        module.__file__ = str(source / "ext" / "_core.cpython-311-x86_64-linux-gnu.so")
    first = load("pkg.table", source / "pkg" / "table.py")
    modules = {
        "pkg.table": first,
        "table": load("table", linked / "table.py"),
        "os.path": os.path,
        "posixpath": os.path,  # one object, two names: an alias, not a copy
        "also.table": first,
        **{m.__name__: m for m in extension},
    }
    assert duplicated_modules(modules, str(source)) == {
        "count": 1,
        "files": [
            {"file": "pkg/table.py", "names": ["pkg.table", "table"], "extra_bytes": ANY_SIZE}
        ],
    }
