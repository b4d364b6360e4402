"""Which code each side imports: its own, never the user's checkout or the other side's.

A side's worktree holds its code, but Python imports a package from wherever
its path says: a project installed editable in the user's virtual
environment points at the user's checkout, a normal install at a copy in
site-packages.  Both sides then run the same code and the gate compares a
commit with itself: a verdict on the wrong code, the worst thing a gate can
say.  Two defences, both here:

- Without `setup`, the side's package root (its ``src/`` folder, or the
  folder itself for a flat layout) goes first on PYTHONPATH, ahead of every
  site-packages and `.pth` entry, so the user's environment still provides
  pytest and the dependencies but the project comes from the side's worktree.
  (With `setup`, each side has a venv of its own where setup installed it.)
- Before the first run, the benchmark's own Python (the interpreter the
  command starts, read from a script's `#!` line when the command is, say,
  `pytest`) is asked, in the side's folder and environment, where it finds
  each of the project's top-level packages (`importlib.util.find_spec`; no
  project code is imported).  Anything outside the side's worktree and its
  venv stops the gate with exit 2, naming the package, where each side would
  import it from, and the setting that fixes it.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import contain
from .errors import ConfigError

#: Folders at a project's root that hold packages of the repository, not of the project.
NOT_PROJECT = frozenset(
    {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks",
     "bench", "scripts", "tools", "build", "dist", "site-packages"}
)  # fmt: skip
#: How long asking the benchmark's Python where it finds the packages may take.
PROBE_TIMEOUT_S = 60.0
#: The most the probe may print; its answer is one short line.
PROBE_OUTPUT_BYTES = 1 << 20
_PROBE = """
import importlib.util, json, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]  # -c puts the folder first; a `pytest` script's Python does not
found = {}
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    if spec is None:
        found[name] = None
    elif spec.origin and spec.has_location:
        found[name] = spec.origin
    else:
        found[name] = next(iter(spec.submodule_search_locations or ()), None)
print("PERFGATE-SOURCES " + json.dumps({"python": sys.executable, "found": found}))
"""


@dataclass(frozen=True)
class Layout:
    """Where a side's top-level packages live: `root` is ``src/`` or the project folder."""

    root: Path
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Resolution:
    """Where the benchmark's Python of one side finds each package (None: nowhere)."""

    python: str
    found: Mapping[str, str | None]


def find_layout(folder: Path, top: Path | None = None) -> Layout | None:
    """The project's packages in `folder` (src layout first, then flat), else in `top`.

    A src layout counts every importable name in ``src/`` (packages, namespace
    folders, modules); a flat layout only folders with an ``__init__.py``
    that are not tests or docs, since `setup.py` or `conftest.py` at the root
    are not the project's code.
    """
    for base in dict.fromkeys([folder, top or folder]):
        src = base / "src"
        if src.is_dir() and (names := _importable_names(src, flat=False)):
            return Layout(src, names)
        if names := _importable_names(base, flat=True):
            return Layout(base, names)
    return None


def _importable_names(folder: Path, *, flat: bool) -> tuple[str, ...]:
    names = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if flat:
            package = entry.is_dir() and (entry / "__init__.py").is_file()
            if package and name.isidentifier() and name not in NOT_PROJECT:
                names.append(name)
        elif entry.is_dir():
            if name.isidentifier() and name != "__pycache__":
                names.append(name)
        elif entry.suffix == ".py" and entry.stem.isidentifier():
            names.append(entry.stem)
    return tuple(names)


def source_first_env(env: Mapping[str, str], layout: Layout | None) -> dict[str, str]:
    """`env` with the side's package root first on PYTHONPATH (nothing to add: as is)."""
    run_env = dict(env)
    if layout is not None:
        rest = run_env.get("PYTHONPATH", "")
        run_env["PYTHONPATH"] = str(layout.root) + (os.pathsep + rest if rest else "")
    return run_env


def benchmark_python(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The interpreter the benchmark starts: the command's own when it is a Python or a
    Python script (its `#!` line), else the `python` on the side's PATH."""
    path = env.get("PATH")
    program = first_program(argv)
    found = shutil.which(program, path=path) if program else None
    if found:
        if Path(found).name.startswith("python"):
            return found
        interpreter = _shebang_python(Path(found))
        if interpreter:
            return interpreter
    return shutil.which("python", path=path) or shutil.which("python3", path=path)


def first_program(argv: Sequence[str]) -> str | None:
    """The program a command starts (`sh -c` text: its first word), None when unsure."""
    if list(argv[:2]) == ["sh", "-c"] and len(argv) > 2:
        return _first_word(argv[2])
    return argv[0] if argv else None


def _first_word(text: str) -> str | None:
    """The program a simple shell command starts, or None when the shell is too clever for us."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    while words and "=" in words[0] and not words[0].startswith("="):
        words = words[1:]  # VAR=value prefixes
    if not words or any(ch in words[0] for ch in "$`(){};|&<>"):
        return None
    return words[0]


def _shebang_python(script: Path) -> str | None:
    try:
        with script.open("rb") as file:
            first = file.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and Path(words[0]).name == "env" and len(words) > 1:
        words = words[1:]
    if words and Path(words[0]).name.startswith("python"):
        return words[0] if os.path.isabs(words[0]) else None
    return None


def resolve(
    python: str,
    packages: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    account: contain.Account | None = None,
) -> Resolution:
    """Ask `python`, in the side's folder and environment, where each package would load from.

    The side's code may run here (a `sitecustomize` on its path, a `.pth`):
    its output goes to a file capped at PROBE_OUTPUT_BYTES (a larger write
    kills it) and the probe at PROBE_TIMEOUT_S, so that it can neither fill
    perfgate's memory nor hold it.  No answer means no check; the runs then
    meet the same code under their own timeout.  It runs as the side's
    `account`, and what it leaves running is killed, as after a measured run.
    """
    with tempfile.TemporaryFile() as output:
        try:
            contain.run(
                [python, "-c", _PROBE, *packages],
                account,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.DEVNULL,
                timeout=PROBE_TIMEOUT_S,
                preexec_fn=_cap_output,
            )
        except (OSError, subprocess.SubprocessError):
            return Resolution(python, {})
        output.seek(0)
        text = output.read(PROBE_OUTPUT_BYTES).decode("utf-8", "replace")
    line = next((x for x in text.splitlines()[::-1] if x.startswith("PERFGATE-SOURCES ")), None)
    if line is None:
        return Resolution(python, {})
    try:
        data = json.loads(line.removeprefix("PERFGATE-SOURCES "))
        found = {str(k): (str(v) if v is not None else None) for k, v in data["found"].items()}
    except (ValueError, KeyError, AttributeError, TypeError):
        return Resolution(python, {})
    return Resolution(str(data.get("python") or python), found)


def _cap_output() -> None:
    """In the probe's process: no file it writes may grow beyond PROBE_OUTPUT_BYTES."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (PROBE_OUTPUT_BYTES, PROBE_OUTPUT_BYTES))


def _inside(path: str, folders: Sequence[Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def foreign_imports(resolution: Resolution, own: Sequence[Path]) -> dict[str, str]:
    """Packages this side would import from outside its own folders: name -> where."""
    return {
        name: where
        for name, where in resolution.found.items()
        if where is not None and not _inside(where, own)
    }


def check_own_code(
    resolutions: Mapping[str, Resolution],
    own: Mapping[str, Sequence[Path]],
    *,
    setup: str | None,
    command: str,
) -> None:
    """Refuse (exit 2) when a side would import a project package from outside its own code."""
    foreign = {side: foreign_imports(r, own[side]) for side, r in resolutions.items()}
    name = next((n for side in foreign for n in foreign[side]), None)
    if name is None:
        return
    where = "; ".join(
        f"{side} would import it from {resolution.found.get(name)} (Python: {resolution.python})"
        for side, resolution in resolutions.items()
    )
    raise ConfigError(
        f"each side must measure its own code, but the benchmark would import `{name}` "
        f"from outside the side's checkout: {where}. {_fix(setup, command)}"
    )


def _fix(setup: str | None, command: str) -> str:
    if setup is None:
        return (
            "Fix: give `setup: pip install -e .[test]` (--setup 'pip install -e .[test]', or "
            "your project's install command with its test dependencies): each side then gets "
            "a virtual environment of its own with its own code installed."
        )
    return (
        f"Fix: the command ({command}) runs a Python outside the side's virtual "
        "environment; make `setup` install what the command runs there too "
        "(e.g. `pip install -e .[test]`, or add `pytest`), or start it as `python -m ...`."
    )
