"""Git: refs, one detached worktree per side, per-side setup, and a clean environment.

The user's checkout is never modified.  Base and head are checked out with
`git worktree add --detach` into a temporary folder, so a branch, an index,
uncommitted work or a stash stay exactly as they were, and the worktrees are
removed on every exit path (an exception, Ctrl-C, SIGTERM from a CI runner
cancelling the job).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import ConfigError, InfrastructureError
from .measure import RunSpec, log_tail, measure

#: Variables the untrusted benchmark must never see.  Action inputs carry the
#: token (INPUT_GITHUB-TOKEN); ACTIONS_* hold the runner's own credentials
#: (ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN, cache and results URLs).
SECRET_NAMES = frozenset(
    {"GITHUB_TOKEN", "GH_TOKEN", "PERFGATE_GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN"}
)
SECRET_PREFIXES = ("INPUT_", "ACTIONS_")
SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_API_KEY")
DEFAULT_BASES = ("origin/main", "main", "origin/master", "master")


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        raise InfrastructureError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result


def git_toplevel(repo: Path) -> Path:
    """The repository's root; refuses a folder that is not in a git repository."""
    if not Path(repo).is_dir():
        raise ConfigError(f"repo: {repo} is not a folder")
    result = _git(Path(repo), "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        raise ConfigError(f"repo: {Path(repo).resolve()} is not a git repository ({detail})")
    return Path(result.stdout.strip())


def is_shallow(repo: Path) -> bool:
    return _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"


def resolve_ref(repo: Path, ref: str) -> str:
    """The full SHA of `ref`; refuses a ref that does not name a commit here."""
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if result.returncode != 0:
        hint = (
            " (this clone is shallow: fetch the history, e.g. actions/checkout with "
            "fetch-depth: 0, or git fetch --unshallow)"
            if is_shallow(repo)
            else " (git fetch it first, or check the spelling)"
        )
        raise ConfigError(f"ref: {ref!r} does not name a commit in {repo}{hint}")
    return result.stdout.strip()


def _has_commit(repo: Path, ref: str) -> bool:
    probe = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return probe.returncode == 0


def default_base(repo: Path) -> str:
    """The first of origin/main, main, origin/master, master that exists."""
    for ref in DEFAULT_BASES:
        if (
            _git(
                repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False
            ).returncode
            == 0
        ):
            return ref
    raise ConfigError(
        f"base: not given and none of {', '.join(DEFAULT_BASES)} exists in {repo}; give --base REF"
    )


def ensure_commit(repo: Path, sha: str) -> None:
    """Fetch `sha` into a shallow clone that lacks it, or say how to get it.

    actions/checkout fetches one commit by default; the base of a pull request
    is then missing.  One targeted fetch usually fixes that without the whole
    history; when it cannot, the message names the setting that does.
    """
    if _has_commit(repo, sha):
        return
    fetched = _git(repo, "fetch", "--no-tags", "--quiet", "origin", sha, check=False)
    if fetched.returncode == 0 and _has_commit(repo, sha):
        return
    raise ConfigError(
        f"base: commit {sha[:12]} is not in the checkout and could not be fetched "
        f"({fetched.stderr.strip() or 'no origin'}); check out with fetch-depth: 0 "
        "(actions/checkout: with: {fetch-depth: 0})"
    )


class _Terminated(BaseException):
    """SIGTERM turned into an exception, so that `finally` blocks run."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def checkouts(repo: Path, shas: Mapping[str, str]) -> Iterator[dict[str, Path]]:
    """Detached worktrees of each side's commit, gone again on every exit path."""
    root = Path(tempfile.mkdtemp(prefix="perfgate-"))
    trees: dict[str, Path] = {}
    try:
        with _sigterm_raises():
            try:
                for side, sha in shas.items():
                    path = root / side
                    _git(repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
                    trees[side] = path
                yield dict(trees)
            except _Terminated:
                raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        for path in trees.values():
            _git(repo, "worktree", "remove", "--force", str(path), check=False)
        _git(repo, "worktree", "prune", check=False)
        shutil.rmtree(root, ignore_errors=True)


def is_secret(name: str) -> bool:
    upper = name.upper()
    return (
        upper in SECRET_NAMES
        or upper.startswith(SECRET_PREFIXES)
        or upper.endswith(SECRET_SUFFIXES)
    )


def benchmark_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the untrusted benchmark and setup see: no token, no runner secret."""
    return {name: value for name, value in environ.items() if not is_secret(name)}


def prepare_side(
    side: str,
    worktree: Path,
    *,
    setup: str | None,
    venv: bool,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
) -> dict[str, str]:
    """Give a side its own virtual environment (optional) and run `setup` in it.

    The venv lives beside the worktree, not inside it, so that the benchmark's
    own `git status` stays clean.  Returns the environment for the runs.
    """
    run_env = dict(env)
    if venv:
        venv_dir = worktree.parent / f"venv-{side}"
        created = subprocess.run(
            [sys.executable, "-m", "venv", str(venv_dir)], capture_output=True, text=True
        )
        if created.returncode != 0:
            raise InfrastructureError(
                f"setup failed on {side}: cannot create a virtual environment: "
                f"{created.stderr.strip()}"
            )
        run_env["VIRTUAL_ENV"] = str(venv_dir)
        run_env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{run_env.get('PATH', '')}"
        run_env.pop("PYTHONHOME", None)
    if setup:
        spec = RunSpec(("sh", "-c", setup), worktree, run_env, timeout_s, log_path)
        result = measure(spec)
        if not result.ok:
            cause = (
                f"timed out after {timeout_s:g} s"
                if result.timed_out
                else f"exit {result.exit_code}"
            )
            raise InfrastructureError(
                f"setup failed on {side} ({cause}): {setup}", log_tail=log_tail(log_path)
            )
    return run_env
