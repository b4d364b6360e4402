"""Each side measures its own code, whatever the user's environment holds (issue 10).

End to end through the real CLI, with a real virtual environment standing
for the user's: the project installed editable in it (src and flat layout),
installed normally into its site-packages, or not installed at all.  The
head commit plants a 5 ms sleep in a function the benchmark calls 60 times
(+0.3 s on a run of a few tens of ms): a gate that measures head's code
cannot miss it, a gate that measures the user's checkout (or site-packages)
on both sides cannot see it.  Thresholds are wide (50%) so that identical
code never fails on a loaded machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_helpers import Repo, make_repo

PY = sys.executable
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "slowpkg"
version = "0.1"
"""
PACKAGE = """\
import time

DELAY = {delay}


def work(x):
    if DELAY:
        time.sleep(DELAY)
    return x + 1
"""
# In a folder of its own, so that `python benchmarks/run.py` does not put the
# project's root first on sys.path (a flat layout would otherwise be found there).
BENCH = """\
import slowpkg

total = 0
for i in range(60):
    total = slowpkg.work(total)
print(slowpkg.__file__)
"""
SLOW = 0.005


def project(tmp_path: Path, layout: str, *, same: bool = False) -> Repo:
    """A git repository of `slowpkg`: branch `base`, and HEAD 60 x 5 ms slower (or the same)."""
    package = "src/slowpkg/__init__.py" if layout == "src" else "slowpkg/__init__.py"
    repo = make_repo(
        tmp_path / "checkout",
        {
            "pyproject.toml": PYPROJECT,
            package: PACKAGE.format(delay=0),
            "benchmarks/run.py": BENCH,
            "README.md": "slowpkg\n",
        },
        "base",
    )
    repo.git("branch", "base")
    slower = {package: PACKAGE.format(delay=SLOW)}
    repo.commit({"README.md": "slowpkg, faster docs\n"} if same else slower, "head")
    return repo


def user_venv(tmp_path: Path) -> Path:
    """The user's own virtual environment (what `python -m venv .venv` gives them)."""
    venv = tmp_path / "user-venv"
    subprocess.run([PY, "-m", "venv", str(venv)], check=True, capture_output=True)
    return venv


def pip_install(venv: Path, *args: str) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def activated(venv: Path | None) -> dict[str, str]:
    """The environment of a shell in which the user ran `source VENV/bin/activate`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def imported_file(venv: Path, cwd: Path) -> str:
    """Which file the user's environment imports for `slowpkg` (from a neutral folder)."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import slowpkg; print(slowpkg.__file__)"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def gate(
    repo: Repo, tmp_path: Path, env: dict[str, str], *extra: str, command: str = "python"
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The README's one-line gate, run from the user's checkout with the user's environment.

    7 runs a side: at load 12 a base run (a Python start under coverage) once took longer
    than a head run 0.3 s slower, and at 5 runs two such inversions leave p = 4/252 above
    the 1% level ("no verdict"); at 7 runs four leave 12/3432.
    """
    out = tmp_path / "results.json"
    result = subprocess.run(
        [
            PY, "-m", "perfgate", "gate", "--base", "base", "--runs", "7", "--max-runs", "7",
            "--warmup", "0", "--time-threshold", "50%", "--memory-threshold", "50%",
            "--json", str(out), *extra, "--", command, "benchmarks/run.py",
        ],
        cwd=repo.path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else {}
    return result, data


def wall_verdict(data: dict) -> str:
    return next(c["verdict"] for c in data["comparisons"] if c["metric"] == "wall_time")


@pytest.mark.parametrize("layout", ["src", "flat"])
def test_editable_install_in_the_users_venv_measures_each_sides_code(
    tmp_path: Path, layout: str
) -> None:
    repo = project(tmp_path, layout)
    venv = user_venv(tmp_path)
    pip_install(venv, "-e", str(repo.path))
    assert imported_file(venv, tmp_path).startswith(str(repo.path))  # the user's checkout
    result, data = gate(repo, tmp_path, activated(venv))
    assert result.returncode == 1, result.stdout + result.stderr
    assert wall_verdict(data) == "regression"
    assert "imports slowpkg from its own checkout" in result.stderr


def test_normal_install_in_site_packages_measures_each_sides_code(tmp_path: Path) -> None:
    repo = project(tmp_path, "src")
    venv = user_venv(tmp_path)
    repo.git("checkout", "-q", "base")  # site-packages holds base's copy: both sides fast
    pip_install(venv, str(repo.path))
    repo.git("checkout", "-q", "-")
    assert "site-packages" in imported_file(venv, tmp_path)
    result, data = gate(repo, tmp_path, activated(venv))
    assert result.returncode == 1, result.stdout + result.stderr
    assert wall_verdict(data) == "regression"


def test_not_installed_src_layout_measures_each_sides_code(tmp_path: Path) -> None:
    repo = project(tmp_path, "src")
    result, data = gate(repo, tmp_path, activated(None), command=PY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert wall_verdict(data) == "regression"


def test_identical_code_passes_with_an_editable_install(tmp_path: Path) -> None:
    repo = project(tmp_path, "src", same=True)
    venv = user_venv(tmp_path)
    pip_install(venv, "-e", str(repo.path))
    result, data = gate(repo, tmp_path, activated(venv))
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["verdict"] == "pass"


def test_setup_never_installs_into_the_users_venv(tmp_path: Path) -> None:
    """The Action's documented `setup: pip install -e .`: each side installs into a venv of
    its own, the regression is found, and the user's venv imports what it did before."""
    repo = project(tmp_path, "src")
    venv = user_venv(tmp_path)
    pip_install(venv, "-e", str(repo.path))
    before = imported_file(venv, tmp_path)
    result, data = gate(repo, tmp_path, activated(venv), "--setup", "pip install -e .")
    assert result.returncode == 1, result.stdout + result.stderr
    assert wall_verdict(data) == "regression"
    assert imported_file(venv, tmp_path) == before == str(repo.path / "src/slowpkg/__init__.py")


def test_a_python_outside_the_sides_venv_is_refused_before_measuring(tmp_path: Path) -> None:
    """With a setup that does not install the project, the command's own interpreter (the
    user's venv, named outright) would import the user's checkout on both sides: exit 2,
    naming the package, where each side would import it from, and the fix."""
    repo = project(tmp_path, "src")
    venv = user_venv(tmp_path)
    pip_install(venv, "-e", str(repo.path))
    python = str(venv / "bin" / "python")
    result, data = gate(repo, tmp_path, activated(venv), "--setup", "true", command=python)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "`slowpkg`" in result.stderr
    user_copy = str(repo.path / "src" / "slowpkg" / "__init__.py")
    assert f"base would import it from {user_copy}" in result.stderr
    assert f"head would import it from {user_copy}" in result.stderr
    assert "setup" in result.stderr.split("Fix:")[1]
    assert data == {}  # nothing measured, no verdict
