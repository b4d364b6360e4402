"""What users copy is linted: both actions (action.yml, on-runner/action.yml) and the example
workflows against GitHub's schemas,
the workflows and the action with zizmor (no high-severity finding), the Dockerfile with
hadolint.  The tools come with the test extra and work offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The examples users copy, and this repository's own release workflow.
WORKFLOW_FOLDERS = (ROOT / "examples" / "workflows", ROOT / ".github" / "workflows")
WORKFLOWS = sorted(str(p) for folder in WORKFLOW_FOLDERS for p in folder.glob("*.yml"))
ACTIONS = ("action.yml", "on-runner/action.yml")


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e .[test])")
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_action_yml_matches_the_actions_metadata_schema() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *ACTIONS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_workflows_match_the_workflow_schema() -> None:
    assert len(WORKFLOWS) >= 3
    checker = tool("check-jsonschema")
    result = run(checker, "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_high() -> None:
    result = run(tool("zizmor"), "--offline", "--min-severity", "high", *WORKFLOWS, *ACTIONS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_on_runner_action() -> None:
    """Not even low: it runs scripts on the runner, where template injection would land."""
    result = run(tool("zizmor"), "--offline", "on-runner/action.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_hadolint_finds_no_warning() -> None:
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
