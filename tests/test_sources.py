"""Which code a side imports: layouts, the benchmark's interpreter, the pre-flight answer.

Real folders and real interpreters; the end-to-end cases (a user's venv
with the project installed) are in test_own_code.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from breakdown_helpers import write_files

from perfgate.errors import ConfigError
from perfgate.sources import (
    Resolution,
    benchmark_python,
    check_own_code,
    find_layout,
    first_program,
    resolve,
    source_first_env,
)


def test_src_layout_counts_packages_namespaces_and_modules(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/nspkg/part.py": "",
            "src/single.py": "",
            "src/pkg.egg-info/PKG-INFO": "",
            "tests/__init__.py": "",
            "setup.py": "",
        },
    )
    layout = find_layout(tmp_path)
    assert layout is not None
    assert (layout.root, layout.packages) == (tmp_path / "src", ("nspkg", "pkg", "single"))


def test_flat_layout_counts_packages_but_not_tests_docs_or_root_scripts(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "tests/__init__.py": "",
            "docs/__init__.py": "",
            "notapackage/data.txt": "",
            "setup.py": "",
            "conftest.py": "",
        },
    )
    layout = find_layout(tmp_path)
    assert layout is not None and (layout.root, layout.packages) == (tmp_path, ("pkg",))


def test_a_working_directory_without_packages_falls_back_to_the_checkout(tmp_path: Path) -> None:
    write_files(tmp_path, {"src/pkg/__init__.py": "", "bench/run.py": ""})
    layout = find_layout(tmp_path / "bench", tmp_path)
    assert layout is not None and layout.root == tmp_path / "src"
    assert find_layout(tmp_path / "bench") is None


def test_the_package_root_goes_first_and_keeps_what_was_there(tmp_path: Path) -> None:
    layout = find_layout(write_files(tmp_path, {"src/pkg/__init__.py": ""}))
    env = source_first_env({"PYTHONPATH": "/elsewhere"}, layout)
    assert env["PYTHONPATH"] == f"{tmp_path / 'src'}{os.pathsep}/elsewhere"
    assert source_first_env({}, layout)["PYTHONPATH"] == str(tmp_path / "src")
    assert source_first_env({"A": "1"}, None) == {"A": "1"}


@pytest.mark.parametrize(
    ("argv", "program"),
    [
        (("sh", "-c", "FOO=1 pytest -q"), "pytest"),
        (("sh", "-c", "python -m pytest"), "python"),
        (("sh", "-c", "$(which python) x.py"), None),
        (("sh", "-c", "'unclosed"), None),
        (("/usr/bin/env", "python3"), "/usr/bin/env"),
    ],
)
def test_the_program_a_command_starts(argv: tuple[str, ...], program: str | None) -> None:
    assert first_program(argv) == program


def test_a_scripts_interpreter_is_read_from_its_first_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pytest"
    script.write_text(f"#!{sys.executable}\nimport sys\n")
    script.chmod(0o755)
    env_script = bin_dir / "tool"
    env_script.write_text("#!/usr/bin/env python3\n")
    env_script.chmod(0o755)
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    assert benchmark_python(("sh", "-c", "pytest -q"), path) == sys.executable
    # `env python3` names no file: the `python` the side would start instead
    assert benchmark_python(("sh", "-c", "tool"), path) == benchmark_python(("true",), path)


def test_the_benchmarks_python_says_where_it_finds_each_package(tmp_path: Path) -> None:
    write_files(tmp_path, {"src/pkg/__init__.py": "raise SystemExit('never imported')\n"})
    layout = find_layout(tmp_path)
    assert layout is not None
    env = source_first_env(dict(os.environ), layout)
    found = resolve(sys.executable, ("pkg", "no_such_pkg_xyz"), tmp_path, env)
    assert found.found == {
        "pkg": str(tmp_path / "src" / "pkg" / "__init__.py"),
        "no_such_pkg_xyz": None,
    }
    assert resolve(str(tmp_path / "missing-python"), ("pkg",), tmp_path, env).found == {}


def test_a_package_from_outside_the_side_is_refused_naming_both_sides(tmp_path: Path) -> None:
    base, head, user = tmp_path / "base", tmp_path / "head", tmp_path / "user"
    resolutions = {
        "base": Resolution("/venv/bin/python", {"pkg": str(user / "pkg/__init__.py")}),
        "head": Resolution("/venv/bin/python", {"pkg": str(head / "src/pkg/__init__.py")}),
    }
    with pytest.raises(ConfigError) as refused:
        check_own_code(resolutions, {"base": [base], "head": [head]}, setup=None, command="x")
    message = str(refused.value)
    assert f"base would import it from {user / 'pkg/__init__.py'}" in message
    assert f"head would import it from {head / 'src/pkg/__init__.py'}" in message
    assert "Fix: give `setup: pip install -e .[test]`" in message
    own = {"base": [base, user], "head": [head]}
    check_own_code(resolutions, own, setup=None, command="x")  # each inside its own: fine


def test_a_side_that_floods_the_probe_gets_no_answer_not_perfgates_memory(tmp_path: Path) -> None:
    """A sitecustomize on the side's path that prints without end: the probe is cut at
    1 MiB of output (the write limit kills it), and no answer means no check."""
    write_files(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/sitecustomize.py": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        },
    )
    env = source_first_env(dict(os.environ), find_layout(tmp_path))
    found = resolve(sys.executable, ("pkg",), tmp_path, env)
    assert found.found == {}
