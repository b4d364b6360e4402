"""Sharp edges of a real gate (issue 10, item 3), through the real CLI.

A command that sets PYTHONPATH or PYTEST_PLUGINS itself, uncommitted work,
base and head on one commit, a setup slower than one run, a results file
with a corrupt figure.  No duration is asserted: only codes, verdicts and
what the user is told.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from git_helpers import make_repo
from test_gate import SUITE, _pytest_without_perfgate, perfgate

PY = sys.executable


def suite_repo(tmp_path: Path):
    repo = make_repo(tmp_path / "suite", {"test_suite.py": SUITE.format(delay=0.0)}, "base")
    repo.git("branch", "base")
    repo.commit({"test_suite.py": SUITE.format(delay=0.0), "README.md": "docs\n"}, "head")
    return repo


def run_gate(
    repo, tmp_path: Path, *extra: str, command: str
) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "results.json"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", "--runs", "5", "--max-runs", "5",
        "--warmup", "0", "--time-threshold", "60%", "--memory-threshold", "60%",
        "--json", str(out), *extra, "--command", command,
    )  # fmt: skip
    return result, (json.loads(out.read_text()) if out.exists() else {})


def test_a_command_that_sets_pythonpath_is_measured_and_told_why_no_per_test_data(
    tmp_path: Path,
) -> None:
    """PYTHONPATH=... in the command hides the plugin's copy from pytest, whose
    `Error importing plugin` used to fail every run (exit 3)."""
    repo = suite_repo(tmp_path)
    site = _pytest_without_perfgate(tmp_path / "site")
    command = f"PYTHONPATH={site} {PY} -S -m pytest -q -p no:cacheprovider"
    result, data = run_gate(repo, tmp_path, command=command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["verdict"] == "pass"
    notes = data["breakdown"]["notes"]
    assert any("pytest could not import perfgate's plugin" in n for n in notes), notes
    assert any("PYTHONPATH" in n for n in notes)


def test_a_command_that_sets_pythonpath_keeps_per_test_data_where_perfgate_is_installed(
    tmp_path: Path,
) -> None:
    """The benchmark's Python has perfgate installed: its entry point loads the plugin
    even when the copy on PYTHONPATH is hidden, so the breakdown is still there."""
    repo = suite_repo(tmp_path)
    result, data = run_gate(
        repo, tmp_path, command=f"PYTHONPATH=. {PY} -m pytest -q -p no:cacheprovider"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["breakdown"]["tests"]["compared"] == 3
    assert data["breakdown"]["notes"] == []


def test_a_command_that_sets_pytest_plugins_is_measured_and_told_why(tmp_path: Path) -> None:
    repo = suite_repo(tmp_path)
    site = _pytest_without_perfgate(tmp_path / "site")
    command = (
        f'PYTEST_PLUGINS=_pytest.pytester PYTHONPATH="$PYTHONPATH:{site}" '
        f"{PY} -S -m pytest -q -p no:cacheprovider"
    )
    result, data = run_gate(repo, tmp_path, command=command)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = data["breakdown"]["notes"]
    assert any("no per-test data" in n and "PYTEST_PLUGINS" in n for n in notes), notes


def test_uncommitted_changes_are_said_not_to_be_measured(tmp_path: Path) -> None:
    repo = suite_repo(tmp_path)
    (repo.path / "test_suite.py").write_text(SUITE.format(delay=0.5))  # not committed
    result, data = run_gate(repo, tmp_path, command=f"{PY} -m pytest -q -p no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr  # the commit is measured
    assert "warning: uncommitted changes are not measured (test_suite.py)" in result.stderr


def test_a_clean_checkout_gets_no_warning(tmp_path: Path) -> None:
    repo = suite_repo(tmp_path)
    result, _ = run_gate(repo, tmp_path, command=f"{PY} -m pytest -q -p no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning:" not in result.stderr


def test_base_and_head_on_the_same_commit_says_so(tmp_path: Path) -> None:
    repo = suite_repo(tmp_path)
    repo.git("branch", "-f", "base", "HEAD")
    result, data = run_gate(repo, tmp_path, command=f"{PY} -m pytest -q -p no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    sha = repo.sha()[:12]
    assert f"are the same commit {sha}" in result.stderr
    assert data["sides"]["base"]["sha"] == data["sides"]["head"]["sha"]


def test_setup_has_a_timeout_of_its_own(tmp_path: Path) -> None:
    """`timeout` is one run's; a setup slower than that still runs, and `setup-timeout`
    stops a setup that hangs (exit 4, saying so)."""
    repo = suite_repo(tmp_path)
    command = "true"  # a run far below `timeout` even on a loaded machine
    slow_setup = ("--setup", "sleep 4", "--timeout", "2")
    result, data = run_gate(repo, tmp_path, *slow_setup, "--breakdown", "none", command=command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["settings"]["setup_timeout_s"] == 1800
    hung = ("--setup", "sleep 60", "--setup-timeout", "1")
    result, data = run_gate(repo, tmp_path, *hung, command=command)
    assert result.returncode == 4, result.stdout + result.stderr
    # the venv of the side counts as setup too: either may be what the second ran out in
    assert "setup failed on base" in result.stderr
    assert "timed out after 1 s" in result.stderr or "took over 1 s" in result.stderr


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("wall_s", None, "sides.run.samples[0].wall_s is None"),
        ("wall_s", -0.5, "sides.run.samples[0].wall_s is -0.5"),
        ("max_rss_bytes", "lots", "Sample.max_rss_bytes is str"),
        ("cpu_s", "NaN", "Sample.cpu_s is str"),
    ],
)
def test_a_corrupt_figure_in_a_results_file_is_exit_2_naming_the_field(
    tmp_path: Path, field: str, value: object, named: str
) -> None:
    good = tmp_path / "good.json"
    made = perfgate("run", "--runs", "4", "--warmup", "0", "--json", str(good), "--", "true")
    assert made.returncode == 0, made.stderr
    data = json.loads(good.read_text())
    data["sides"]["run"]["samples"][0][field] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = perfgate("compare", str(bad), str(good))
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


def test_a_corrupt_threshold_or_breakdown_in_a_results_file_is_exit_2(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    made = perfgate("run", "--runs", "4", "--warmup", "0", "--json", str(good), "--", "true")
    assert made.returncode == 0, made.stderr
    data = json.loads(good.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "settings": {**data["settings"], "time_threshold": -3}}))
    result = perfgate("compare", str(good), str(bad))
    assert result.returncode == 2 and "settings.time_threshold: -3" in result.stderr
    broken = {"schema": "perfgate-breakdown/1", "imports": {"modules": [{"module": "x"}]}}
    bad.write_text(json.dumps({**data, "breakdown": broken}))
    result = perfgate("compare", str(bad), str(good))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "breakdown: field 'base_seconds' missing" in result.stderr
    assert "Traceback" not in result.stderr
