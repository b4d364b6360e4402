"""The Docker action stops a project whose requires-python its image's Python cannot meet.

The specifier reader is checked against `packaging` (pytest's own dependency, an
independent implementation of PEP 440) over a grid of versions, and by hand; the stop
itself through `python -m perfgate.github.action` (the image's program) with the image's
marker variable set, against the fake GitHub on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from container_helpers import run_action as run_in_image
from git_helpers import make_repo
from github_server import TOKEN
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from test_action_e2e import REPO, event

from perfgate.github import image
from perfgate.github.runner_contract import input_variable

HERE = ".".join(map(str, sys.version_info[:3]))
#: A specifier the running interpreter cannot meet: ">=3.12" under the image's 3.11.
TOO_NEW = f">={sys.version_info.major}.{sys.version_info.minor + 1}"
MET = f">={sys.version_info.major}.{sys.version_info.minor}"

SPECIFIERS = [
    ">=3.12", ">3.11", ">3.11.2", "<3.12", "<=3.11", "<=3.11.2", "==3.11", "==3.11.2",
    "==3.11.*", "!=3.11.*", "!=3.11.2", "~=3.11", "~=3.11.1", "~=3.10.0", ">=3.9,<3.12",
    ">=3.8, !=3.11.*, <4", "==3", "===3.11.2", ">=3.11.0,<3.11.3", "", ">= 3.10 , < 3.13",
]  # fmt: skip
VERSIONS = [(3, 9, 18), (3, 10, 0), (3, 11, 0), (3, 11, 2), (3, 11, 9), (3, 12, 0), (3, 13, 1)]


@pytest.mark.parametrize("spec", SPECIFIERS)
def test_specifiers_agree_with_packaging(spec: str) -> None:
    for version in VERSIONS:
        expected = Version(".".join(map(str, version))) in SpecifierSet(spec)
        assert image.allows(spec, version) is expected, (spec, version)


def test_specifiers_by_hand() -> None:
    bookworm = (3, 11, 2)
    assert image.allows(">=3.10", bookworm) and not image.allows(">=3.12", bookworm)
    assert image.allows("~=3.9", bookworm)  # >=3.9, ==3.*
    assert not image.allows("~=3.9.0", bookworm)  # >=3.9.0, ==3.9.*
    assert not image.allows("==3.11", bookworm)  # 3.11.0 exactly
    assert image.allows("==3.11.*", bookworm) and not image.allows("!=3.11.*", bookworm)
    assert image.allows("==3.11.2,>3.11", bookworm) and not image.allows(">3.11,<3.11.2", bookworm)


@pytest.mark.parametrize(
    "spec", [">=3.12.0rc1", "3.11", ">=3.*", "~=3", "~=3.*", ">=3.10; python_version", "=>3"]
)
def test_what_the_reader_does_not_know_is_refused_not_guessed(spec: str) -> None:
    with pytest.raises(image.UnsupportedSpecifier):
        image.allows(spec, (3, 11, 2))


def test_requires_python_is_read_from_project_only() -> None:
    assert image.requires_python('[project]\nrequires-python = ">=3.12"\n') == ">=3.12"
    assert image.requires_python('[tool.x]\nrequires-python = ">=3.12"\n') is None
    assert image.requires_python("[project]\nrequires-python = 3\n") is None
    assert image.requires_python("not [ toml") is None
    assert image.requires_python('project = "a string"\n') is None


def pyproject(spec: str) -> str:
    return f'[project]\nname = "widgets"\nversion = "1"\nrequires-python = "{spec}"\n'


BENCH = "open({probe!r}, 'a').write('ran\\n')\n"


def run_action(tmp_path: Path, server, base_files: dict, head_files: dict, marker: bool = True):
    probe = tmp_path / "probe.txt"
    bench = {"bench.py": BENCH.format(probe=str(probe))}
    repo = make_repo(tmp_path / "workspace", {**bench, **base_files}, "base")
    base = repo.sha()
    head = repo.commit({"README.md": "PR\n", **head_files}, "the PR")
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"
    outputs.write_text("")
    summary.write_text("")
    inputs = {"command": f"{sys.executable} bench.py", "runs": "5", "max-runs": "5",
              "warmup": "0", "github-token": TOKEN}  # fmt: skip
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "CI": "true",
        "GITHUB_WORKSPACE": str(repo.path), "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event(tmp_path, base, head)), "GITHUB_SHA": head,
        "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": server.url, "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        **{input_variable(k): v for k, v in inputs.items()},
        **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")},
    }  # fmt: skip
    if marker:
        env[image.IMAGE_VARIABLE] = "Debian bookworm"
    done = subprocess.run(
        [sys.executable, "-I", "-m", "perfgate.github.action"], cwd="/", env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done, outputs.read_text(), summary.read_text(), probe.exists()


def test_requires_python_beyond_the_image_is_exit_2_with_advice(tmp_path, github_server) -> None:
    done, outputs, summary, ran = run_action(
        tmp_path, github_server, {"pyproject.toml": pyproject(TOO_NEW)}, {}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = (
        f"pyproject.toml of the base commit declares requires-python {TOO_NEW!r}, and this "
        f"Docker action runs Python {HERE} (Debian bookworm's, the only one in its image)"
    )
    assert f"::error title=perfgate::configuration: {message}" in done.stdout
    assert "OWNER/perfgate/on-runner@v1" in done.stdout and "actions/setup-python" in done.stdout
    assert "on-runner" in summary and "verdict<<" in outputs
    assert not ran and github_server.requests == []


def test_a_pull_request_that_raises_requires_python_is_stopped_too(tmp_path, github_server):
    done, _, _, ran = run_action(
        tmp_path, github_server, {"pyproject.toml": pyproject(MET)},
        {"pyproject.toml": pyproject(TOO_NEW)},
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pyproject.toml of the checkout declares requires-python {TOO_NEW!r}" in done.stdout
    assert not ran


@pytest.mark.parametrize(("marker", "spec"), [(False, TOO_NEW), (True, MET), (True, ">=3.12.0rc1")])
def test_the_gate_runs_when_the_image_can_or_outside_the_image(
    tmp_path, github_server, marker: bool, spec: str
) -> None:
    files = {"pyproject.toml": pyproject(spec)}
    done, outputs, _, ran = run_action(tmp_path, github_server, files, files, marker=marker)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran and "pass" in outputs
    unknown = "::warning title=perfgate::pyproject.toml of the base commit: requires-python"
    assert (unknown in done.stdout) is (spec == ">=3.12.0rc1")


def test_a_project_in_a_subfolder_is_read_there(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "ws", {"pkg/pyproject.toml": pyproject(">=3.12"), "README.md": "x"}, "base"
    )
    found = image.declared(repo.path, repo.sha(), "pkg")
    assert found == [
        ("pkg/pyproject.toml of the base commit", ">=3.12"),
        ("pkg/pyproject.toml of the checkout", ">=3.12"),
    ]
    assert image.declared(repo.path, None, "../elsewhere") == []


def test_the_grid_covers_both_answers() -> None:
    """The agreement test would prove little if every pair said the same."""
    answers = {Version(".".join(map(str, v))) in SpecifierSet(s)
               for s, v in itertools.product(SPECIFIERS, VERSIONS)}  # fmt: skip
    assert answers == {True, False}


@pytest.mark.container
def test_the_real_image_stops_a_project_that_needs_a_newer_python(
    container: str,  # conftest.py: the image, built once per session
    tmp_path: Path,
    github_server,
) -> None:
    """The image built from the Dockerfile, started as the runner starts it: Debian
    bookworm's Python is 3.11.2, so `>=3.12` cannot be met there."""
    files = {"bench.py": "print('ran')\n", "pyproject.toml": pyproject(">=3.12")}
    repo = make_repo(tmp_path / "workspace", files, "base")
    base = repo.sha()
    head = repo.commit({"README.md": "PR\n"}, "the PR")
    run = run_in_image(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, head), head
    )
    assert run.result.returncode == 2, run.log
    assert (
        "pyproject.toml of the base commit declares requires-python '>=3.12', and this Docker "
        "action runs Python 3.11.2 (Debian bookworm's, the only one in its image)"
    ) in run.result.stdout
    assert "OWNER/perfgate/on-runner@v1" in run.summary
    assert run.outputs["verdict"] == "error" and github_server.requests == []
