"""The prebuilt image's release: `.github/pin-image` rewrites action.yml to a digest, and the
release workflow builds, pushes and pins with the least rights it can.

pin-image runs for real on a copy of action.yml; the pinned file is checked against
GitHub's action schema by check-jsonschema, as the real one is (test_lint.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = ROOT / ".github" / "pin-image"
WORKFLOW = ROOT / ".github" / "workflows" / "release-image.yml"
DIGEST = "sha256:" + "0123456789abcdef" * 4
REF = f"ghcr.io/octo/perfgate@{DIGEST}"


def pin(action: Path, ref: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(PIN), str(action), ref], capture_output=True, text=True, timeout=60
    )


def copy_of_action(tmp_path: Path) -> Path:
    action = tmp_path / "action.yml"
    shutil.copy(ROOT / "action.yml", action)
    return action


def test_the_action_builds_from_the_dockerfile_until_a_release_pins_it() -> None:
    assert yaml.safe_load((ROOT / "action.yml").read_text())["runs"] == {
        "using": "docker",
        "image": "Dockerfile",
    }


def test_pinning_changes_the_image_line_only(tmp_path: Path) -> None:
    action = copy_of_action(tmp_path)
    before = action.read_text().splitlines()
    result = pin(action, REF)
    assert result.returncode == 0, result.stderr
    after = action.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [("  image: Dockerfile", f"  image: docker://{REF}")]
    runs = yaml.safe_load(action.read_text())["runs"]
    assert runs == {"using": "docker", "image": f"docker://{REF}"}
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install -e .[test])")
    schema = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-actions", str(action)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/octo/perfgate:v1.4.0",  # a tag can be moved to another image
        "ghcr.io/octo/perfgate@sha256:0123",  # not a whole digest
        f"ghcr.io/octo/perfgate@{DIGEST.upper()}",
        f"ghcr.io/octo/perfgate@{DIGEST}|x",  # would end the sed expression
        f"ghcr.io/octo/perfgate@{DIGEST}\n  using: node20",  # a second line of YAML
        f"perfgate@{DIGEST}",  # no registry
    ],
)
def test_anything_but_a_reference_pinned_by_digest_is_refused(tmp_path: Path, ref: str) -> None:
    action = copy_of_action(tmp_path)
    before = action.read_bytes()
    result = pin(action, ref)
    assert result.returncode == 2
    assert "is not an image pinned by digest" in result.stderr
    assert action.read_bytes() == before


def test_a_file_already_pinned_is_left_as_it_is(tmp_path: Path) -> None:
    action = copy_of_action(tmp_path)
    assert pin(action, REF).returncode == 0
    pinned = action.read_bytes()
    result = pin(action, REF.replace("0123", "4567"))
    assert result.returncode == 2
    assert "has no single line '  image: Dockerfile'" in result.stderr
    assert action.read_bytes() == pinned


def test_the_release_workflow_has_the_least_rights_per_job() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}  # YAML's `on`
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert jobs["pin"]["permissions"] == {"contents": "write"}
    assert jobs["pin"]["needs"] == "image"
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                assert step["with"]["persist-credentials"] is False
            # Values from the event reach the scripts through env, never spliced into them.
            assert "${{" not in step.get("run", "")
    assert ".github/pin-image action.yml" in jobs["pin"]["steps"][1]["run"]
