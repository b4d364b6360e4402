"""The pytest plugin: what it records, that it validates, and that it changes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from breakdown_helpers import MIB, pytest_env, run_pytest, write_files

from perfgate.pytest_plugin import ENV_VAR, MEMORY_ENV_VAR, SCHEMA

SCHEMA_PATH = Path(__file__).parents[1] / "docs" / "perfgate-pytest-1.schema.json"

MIXED_SUITE = {
    "test_mixed.py": f"""
import sys
import pytest

def test_passes():
    print("hello from a passing test")

def test_fails():
    print("about to fail")
    assert 1 + 1 == 3

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_skips_inside():
    pytest.skip("decided at run time")

@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpasses():
    pass

@pytest.mark.xfail(strict=True, reason="must fail")
def test_strict_xpass():
    pass

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

def test_setup_error(broken_setup):
    pass

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_teardown_error(broken_teardown):
    pass

def test_hungry():
    blob = b"x" * {20 * MIB}
    assert len(blob) == {20 * MIB}

def test_warns():
    import warnings
    warnings.warn("a user warning")
    sys.stderr.write("to stderr\\n")
""",
}

EXPECTED_OUTCOMES = {
    "test_mixed.py::test_passes": "passed",
    "test_mixed.py::test_fails": "failed",
    "test_mixed.py::test_skipped": "skipped",
    "test_mixed.py::test_skips_inside": "skipped",
    "test_mixed.py::test_xfails": "xfailed",
    "test_mixed.py::test_xpasses": "xpassed",
    "test_mixed.py::test_strict_xpass": "failed",
    "test_mixed.py::test_param[1]": "passed",
    "test_mixed.py::test_param[2]": "failed",
    "test_mixed.py::test_param[3]": "passed",
    "test_mixed.py::test_setup_error": "error",
    "test_mixed.py::test_teardown_error": "error",
    "test_mixed.py::test_hungry": "passed",
    "test_mixed.py::test_warns": "passed",
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("mixed"), MIXED_SUITE)


def _normalized(output: str) -> str:
    """pytest's output without what differs between any two runs: durations."""
    return re.sub(r"\d+\.\d+s", "N.NNs", output)


def test_document_records_every_test_and_validates(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "perf.json"
    result = run_pytest(mixed, "-q", f"--perfgate-json={out}")
    assert result.returncode == 1, result.stdout
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["schema"] == SCHEMA
    outcomes = {t["nodeid"]: t["outcome"] for t in document["tests"]}
    assert outcomes == EXPECTED_OUTCOMES
    assert [t["index"] for t in document["tests"]] == list(range(len(EXPECTED_OUTCOMES)))
    assert document["session"]["collected"] == len(EXPECTED_OUTCOMES)
    assert document["session"]["exit_status"] == 1
    by_id = {t["nodeid"]: t for t in document["tests"]}
    assert by_id["test_mixed.py::test_skipped"]["call_s"] is None
    assert by_id["test_mixed.py::test_passes"]["call_s"] is not None
    if document["memory_method"] == "vmhwm":
        hungry = by_id["test_mixed.py::test_hungry"]
        assert hungry["peak_rss_bytes"] - hungry["rss_before_bytes"] >= 19 * MIB
        # The peak was reset before the next test: it does not inherit the 20 MB.
        warns = by_id["test_mixed.py::test_warns"]
        assert warns["peak_rss_bytes"] - warns["rss_before_bytes"] < 5 * MIB
        assert document["session"]["peak_rss_bytes"] >= hungry["peak_rss_bytes"]


def test_schema_rejects_a_broken_document(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "perf.json"
    run_pytest(mixed, "-q", f"--perfgate-json={out}")
    document = json.loads(out.read_text())
    document["tests"][0]["outcome"] = "sort of"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))


def test_environment_variable_switches_it_on(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "from-env.json"
    run_pytest(mixed, "-q", "-k", "passes and not xpasses", env={**pytest_env(), ENV_VAR: str(out)})
    document = json.loads(out.read_text())
    assert [t["nodeid"] for t in document["tests"]] == ["test_mixed.py::test_passes"]


def test_off_unless_asked(tmp_path: Path) -> None:
    project = write_files(tmp_path / "p", {"test_one.py": "def test_one():\n    pass\n"})
    result = run_pytest(project, "-q")
    assert result.returncode == 0
    assert sorted(p.name for p in project.iterdir()) == ["test_one.py"]


@pytest.mark.parametrize(
    "args",
    [("-rA",), ("-rA", "-x"), ("-rA", "-v", "--tb=short"), ("-q", "-rA", "-k", "param or xfail")],
    ids=["rA", "rA-x", "verbose", "selection"],
)
def test_outcomes_order_and_output_unchanged(mixed: Path, tmp_path: Path, args) -> None:
    without = run_pytest(mixed, *args)
    with_plugin = run_pytest(mixed, *args, f"--perfgate-json={tmp_path / 'perf.json'}")
    assert with_plugin.returncode == without.returncode
    assert _normalized(with_plugin.stdout) == _normalized(without.stdout)
    assert with_plugin.stderr == without.stderr
    recorded = json.loads((tmp_path / "perf.json").read_text())["tests"]
    if "-x" in args:  # stops at the first failure, and the record stops with it
        assert [t["nodeid"] for t in recorded] == [
            "test_mixed.py::test_passes",
            "test_mixed.py::test_fails",
        ]
    if "-v" in args:  # the same tests in the same order as pytest's own verbose lines
        reported = re.findall(r"^(test_mixed\.py::\S+) ", without.stdout, re.M)
        assert [t["nodeid"] for t in recorded] == list(dict.fromkeys(reported))
        assert len(recorded) == len(EXPECTED_OUTCOMES)


@pytest.mark.parametrize("method", ["ru_maxrss", "none"])
def test_memory_method_can_be_chosen(mixed: Path, tmp_path: Path, method: str) -> None:
    """ru_maxrss leaves the process's peak alone (the fallback off Linux); none: no figures."""
    out = tmp_path / "perf.json"
    env = {**pytest_env(), MEMORY_ENV_VAR: method}
    run_pytest(mixed, "-q", f"--perfgate-json={out}", env=env)
    document = json.loads(out.read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["memory_method"] == method
    hungry = next(t for t in document["tests"] if t["nodeid"].endswith("test_hungry"))
    if method == "none":
        assert hungry["peak_rss_bytes"] is None and hungry["rss_after_bytes"] is None
    else:  # a monotone peak: at least what the 20 MB test reached, never reset
        peaks = [t["peak_rss_bytes"] for t in document["tests"]]
        assert peaks == sorted(peaks)
        assert hungry["peak_rss_bytes"] >= hungry["rss_before_bytes"] + 19 * MIB


def test_unwritable_path_is_refused_before_any_test_runs(tmp_path: Path) -> None:
    project = write_files(tmp_path / "p", {"test_one.py": "def test_one():\n    pass\n"})
    (tmp_path / "taken").write_text("a file, not a folder")
    result = run_pytest(project, "-q", f"--perfgate-json={tmp_path / 'taken' / 'perf.json'}")
    assert result.returncode == 4  # pytest's usage error
    assert "cannot write" in result.stderr and "perf.json" in result.stderr
    assert "1 passed" not in result.stdout
