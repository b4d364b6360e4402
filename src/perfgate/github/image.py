"""What the Docker action's image can run: its one Python against the project's `requires-python`.

The image has Debian bookworm's Python and no other, so a project that declares
`requires-python = ">=3.12"` cannot be installed there, and its `setup` would fail
half-way (exit 4, a pip error about the Python version) after minutes of work.  The
gate stops before anything runs instead, with exit code 2 and the way out: the
on-runner action, which benchmarks with whichever Python the job sets up.

The Dockerfile names the image in PERFGATE_IMAGE; without it (the CLI, the on-runner
action) nothing here runs.  `packaging` is no dependency of perfgate, so the PEP 440
specifiers are read here, for final releases, which is all an interpreter's version is:
`>=`, `>`, `<=`, `<`, `==` and `!=` (with `.*`), `~=`, `===`, joined by commas.
"""

from __future__ import annotations

import operator
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import workspace as git_workspace
from ..config import Config
from ..errors import ConfigError
from . import runner_contract

#: Set by the Dockerfile to the image's distribution ("Debian bookworm").
IMAGE_VARIABLE = "PERFGATE_IMAGE"
ADVICE = (
    "to benchmark with another Python, use the on-runner action after actions/setup-python "
    "(uses: OWNER/perfgate/on-runner@v1; docs/action.md, 'On the runner')"
)

_CLAUSE = re.compile(r"\s*(===|==|!=|~=|<=|>=|<|>)\s*(\S+)\s*")
_RELEASE = re.compile(r"v?(\d+(?:\.\d+)*)(\.\*)?")
_ORDERED: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}  # fmt: skip

Version = tuple[int, ...]


class UnsupportedSpecifier(ValueError):
    """A specifier beyond the common forms (a pre-release, a local version, a marker)."""


def _padded(a: Version, b: Version) -> tuple[Version, Version]:
    """Release segments compare as if the shorter had trailing zeros (3.11 == 3.11.0)."""
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _clause_allows(op: str, text: str, version: Version) -> bool:
    if op == "===":
        return text == ".".join(map(str, version))
    match = _RELEASE.fullmatch(text)
    if not match:
        raise UnsupportedSpecifier(f"{op}{text}")
    release = tuple(int(part) for part in match.group(1).split("."))
    wildcard = bool(match.group(2))
    if wildcard and op not in ("==", "!="):
        raise UnsupportedSpecifier(f"{op}{text}")
    if op in ("==", "!="):
        if wildcard:  # a prefix: ==3.11.* is any 3.11
            equal = version[: len(release)] == release
        else:
            left, right = _padded(version, release)
            equal = left == right
        return equal if op == "==" else not equal
    if op == "~=":
        if len(release) < 2:
            raise UnsupportedSpecifier(f"{op}{text}")
        return _clause_allows(">=", text, version) and version[: len(release) - 1] == release[:-1]
    left, right = _padded(version, release)
    return _ORDERED[op](left, right)


def allows(specifiers: str, version: Version) -> bool:
    """Whether a final release `version` meets every comma-joined clause of `specifiers`.

    Raises UnsupportedSpecifier for what this reader does not know, so that a caller
    never stops a project on a guess.
    """
    for clause in specifiers.split(","):
        if not clause.strip():
            continue
        match = _CLAUSE.fullmatch(clause)
        if not match:
            raise UnsupportedSpecifier(clause.strip())
        if not _clause_allows(match.group(1), match.group(2), version):
            return False
    return True


def requires_python(pyproject_text: str) -> str | None:
    """`[project] requires-python` of a pyproject.toml, or None (absent, or not TOML)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10; the image has 3.11
        return None
    try:
        value = tomllib.loads(pyproject_text).get("project", {}).get("requires-python")
    except (tomllib.TOMLDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _pyproject_paths(working_directory: str) -> list[str]:
    paths = ["pyproject.toml"]
    inner = Path(working_directory) / "pyproject.toml"
    if inner.as_posix() not in paths and not inner.is_absolute() and ".." not in inner.parts:
        paths.append(inner.as_posix())
    return paths


def declared(
    workspace: Path, base_sha: str | None, working_directory: str
) -> list[tuple[str, str]]:
    """(where, specifier) for each `requires-python` the base commit and the checkout declare."""
    found = []
    for path in _pyproject_paths(working_directory):
        if base_sha:
            shown = subprocess.run(
                ["git", "show", f"{base_sha}:{path}"], cwd=workspace, capture_output=True, text=True
            )
            spec = requires_python(shown.stdout) if shown.returncode == 0 else None
            if spec is not None:
                found.append((f"{path} of the base commit", spec))
        checkout = workspace / path
        if checkout.is_file():
            spec = requires_python(checkout.read_text(encoding="utf-8", errors="replace"))
            if spec is not None:
                found.append((f"{path} of the checkout", spec))
    return found


def check_python(environ: Mapping[str, str], cfg: Config, version: Version | None = None) -> None:
    """In the image only: ConfigError (exit 2) when a declared requires-python excludes the
    image's Python, naming both and the on-runner action; a warning when it cannot tell.

    Both the base commit and the checkout count: either side must install here.
    """
    image = environ.get(IMAGE_VARIABLE, "").strip()
    if not image:
        return
    base_sha = git_workspace.resolve_ref(cfg.repo, cfg.base) if cfg.base else None
    version = version or tuple(sys.version_info[:3])
    shown = ".".join(map(str, version))
    for where, spec in declared(cfg.repo, base_sha, cfg.working_directory):
        try:
            met = allows(spec, version)
        except UnsupportedSpecifier as unknown:
            runner_contract.warn(
                f"{where}: requires-python {spec!r}: cannot read {str(unknown)!r}; "
                f"the image runs Python {shown}"
            )
            continue
        if not met:
            raise ConfigError(
                f"{where} declares requires-python {spec!r}, and this Docker action runs "
                f"Python {shown} ({image}'s, the only one in its image); {ADVICE}"
            )
