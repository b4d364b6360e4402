"""Git: refs, one detached worktree per side, per-side setup, and a clean environment.

The user's checkout is never modified.  Base and head are checked out with
`git worktree add --detach` into a temporary folder, so a branch, an index,
uncommitted work or a stash stay exactly as they were, and the worktrees are
removed on every exit path (an exception, Ctrl-C, SIGTERM from a CI runner
cancelling the job).  The only trace in the user's `.git` is the worktree
bookkeeping under `.git/worktrees/`, which is pruned again on the way out.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from . import contain
from .errors import ConfigError, InfrastructureError
from .measure.run import RunSpec, log_tail, measure

# What the untrusted benchmark and setup never see (`benchmark_env`) on a laptop; in
# CI, and wherever the code runs as a bench user, the environment is built from an
# allow-list instead (contain.measured_env):
#
# - GITHUB_TOKEN, GH_TOKEN, GH_ENTERPRISE_TOKEN, PERFGATE_GITHUB_TOKEN: the API token;
# - INPUT_*: the action's inputs, one of which (INPUT_GITHUB-TOKEN) is the token;
# - ACTIONS_*: the runner's own credentials and endpoints (ACTIONS_RUNTIME_TOKEN,
#   ACTIONS_ID_TOKEN_REQUEST_TOKEN/_URL, ACTIONS_CACHE_URL, ACTIONS_RESULTS_URL...);
# - any name ending in _TOKEN, _SECRET, _PASSWORD or _API_KEY: other secrets a
#   workflow put in `env:` (NPM_TOKEN, AWS_SECRET, DB_PASSWORD...);
# - GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and the other repository-local git
#   variables (REPOSITORY_VARS): set when perfgate runs from a git hook, they
#   would point the benchmark's own git commands at the user's checkout;
# - GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY
#   (FILE_COMMANDS): the runner's command files; through GITHUB_ENV a
#   benchmark could set LD_PRELOAD or NODE_OPTIONS for every later step of
#   the job, through GITHUB_OUTPUT forge this action's verdict.  (The files
#   are still on disk; dropping the names takes away the easy path.)
#
# Names are compared upper-cased.  Everything else (PATH, HOME, LANG, CI,
# GITHUB_SHA, GITHUB_REPOSITORY, RUNNER_*...) is kept: benchmarks need it.
SECRET_NAMES = frozenset(
    {"GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "PERFGATE_GITHUB_TOKEN"}
)
FILE_COMMANDS = frozenset(
    {"GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY"}
)
SECRET_PREFIXES = ("INPUT_", "ACTIONS_")
SECRET_SUFFIXES = ("_TOKEN", "_SECRET", "_PASSWORD", "_API_KEY")
#: Variables that make git use another repository, index or object store than
#: the folder it runs in.  Dropped for perfgate's own git commands (which name
#: their repository by folder) and for the benchmark.  GIT_CONFIG_* is kept: a
#: caller may pass `safe.directory` that way.
REPOSITORY_VARS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_PREFIX",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_SHALLOW_FILE",
        "GIT_GRAFT_FILE",
        "GIT_NAMESPACE",
    }
)
DEFAULT_BASES = ("origin/main", "main", "origin/master", "master")
#: Seconds a fetch of a missing base commit may take before we give up.
FETCH_TIMEOUT_S = 600.0
#: Seconds any other git command may take (a worktree of a huge repository).
GIT_TIMEOUT_S = 600.0
_FULL_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_SIDE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Temporary folders of the `checkouts` blocks now open; `prepare_side` puts
#: a side's venv there, so that it is deleted with the worktrees.
_live_roots: set[Path] = set()


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in REPOSITORY_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a fetch must fail, not wait for a password
    return env


def _git(
    repo: Path, *args: str, check: bool = True, timeout_s: float = GIT_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run git in `repo`; with `check`, a failure is infrastructure trouble with git's words."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=_git_env(),
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        if not check:
            return subprocess.CompletedProcess(["git", *args], 124, "", "timed out")
        raise InfrastructureError(
            f"git {' '.join(args)} did not finish within {timeout_s:g} s in {repo}"
        ) from None
    if check and result.returncode != 0:
        raise InfrastructureError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result


def git_toplevel(repo: Path) -> Path:
    """The repository's root; refuses a folder that is not in a git repository."""
    folder = Path(repo)
    if not folder.is_dir():
        raise ConfigError(f"repo: not a folder: {folder}")
    result = _git(folder, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"repo: not a git repository: {folder.resolve()}{_git_complaint(result.stderr)}"
        )
    return Path(result.stdout.strip())


def _git_complaint(stderr: str) -> str:
    """git's first line, and the way out when git refuses a folder owned by someone else."""
    lines = stderr.strip().splitlines()
    if not lines:
        return ""
    if "dubious ownership" in stderr:
        return f" ({lines[0]}; mark it safe: git config --global --add safe.directory PATH)"
    return f" ({lines[0]})"


def is_shallow(repo: Path) -> bool:
    """True for a clone with cut-off history (actions/checkout's default)."""
    return _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"


def _has_commit(repo: Path, ref: str) -> bool:
    probe = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return probe.returncode == 0


def resolve_ref(repo: Path, ref: str) -> str:
    """The full SHA of `ref`; refuses a ref that does not name a commit here.

    In a shallow clone a full SHA that is missing (the base of a pull request,
    from the event) is fetched first with `ensure_commit`: that is the one case
    where the user cannot be expected to have it, and the one where a fetch is
    certain to ask for the right thing.
    """
    if not ref or ref.startswith("-") or any(c.isspace() or c == "\0" for c in ref):
        raise ConfigError(f"ref: {ref!r} is not a valid git ref")
    if not _has_commit(repo, ref) and _FULL_SHA.fullmatch(ref) and is_shallow(repo):
        ensure_commit(repo, ref)
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


def default_base(repo: Path) -> str:
    """The first of origin/main, main, origin/master, master that exists."""
    for ref in DEFAULT_BASES:
        if _has_commit(repo, ref):
            return ref
    raise ConfigError(
        f"base: not given and none of {', '.join(DEFAULT_BASES)} exists in {repo}; give --base REF"
    )


def ensure_commit(repo: Path, sha: str) -> None:
    """Fetch `sha` into a clone that lacks it, or say how to get it.

    actions/checkout fetches one commit by default; the base of a pull request
    is then missing.  One targeted fetch (`--depth=1`: only its tree is needed)
    usually fixes that without the whole history; a server that refuses to
    hand out a commit by SHA gets `--unshallow`.  When neither works, the
    message names the setting that does.  A full clone is never made shallow.
    """
    if not _FULL_SHA.fullmatch(sha):
        raise ConfigError(f"base: {sha!r} is not a full commit SHA (40 hex digits)")
    if _has_commit(repo, sha):
        return
    shallow = is_shallow(repo)
    depth = ("--depth=1",) if shallow else ()
    fetch = ("fetch", "--no-tags", "--quiet")
    fetched = _git(repo, *fetch, *depth, "origin", sha, check=False, timeout_s=FETCH_TIMEOUT_S)
    if fetched.returncode == 0 and _has_commit(repo, sha):
        return
    errors = fetched.stderr.strip()
    if shallow:
        whole = _git(repo, *fetch, "--unshallow", "origin", check=False, timeout_s=FETCH_TIMEOUT_S)
        if whole.returncode == 0 and _has_commit(repo, sha):
            return
        errors = whole.stderr.strip() or errors
    raise ConfigError(
        f"base: commit {sha[:12]} is not in the checkout and could not be fetched "
        f"({errors or 'not on origin'}); check out with fetch-depth: 0 "
        "(actions/checkout: with: {fetch-depth: 0})"
    )


def uncommitted_changes(repo: Path) -> list[str]:
    """Paths with changes not in any commit (`git status`): the gate measures commits only."""
    status = _git(repo, "status", "--porcelain", "--untracked-files=normal", check=False)
    if status.returncode != 0:
        return []
    return [line[3:] for line in status.stdout.splitlines() if len(line) > 3]


class _Terminated(BaseException):
    """SIGTERM turned into an exception, so that `finally` blocks run."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """For the block, SIGTERM (a cancelled CI job) raises instead of killing outright."""

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
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while cleaning up; they arrive once it is done.

    A second Ctrl-C (people press it twice) must not cut the removal of the
    worktrees short.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _check_sides(shas: Mapping[str, str]) -> None:
    for side, sha in shas.items():
        if not _SIDE_NAME.fullmatch(side):
            raise ValueError(f"side name {side!r} is not a plain folder name")
        if not _FULL_SHA.fullmatch(sha):
            raise ConfigError(f"{side}: {sha!r} is not a full commit SHA; resolve_ref it first")


def _remove_worktrees(repo: Path, root: Path, trees: Mapping[str, Path]) -> None:
    """Remove worktrees, then the folder, then git's bookkeeping, each best effort.

    The folder goes before `prune`, so that a worktree that `remove` refused
    (or one half-made when a signal hit `worktree add`) is pruned as well.
    """
    with _signals_held():
        for path in trees.values():
            _git(repo, "worktree", "remove", "--force", str(path), check=False, timeout_s=120)
        shutil.rmtree(root, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False, timeout_s=120)
        _live_roots.discard(root)


@contextlib.contextmanager
def checkouts(repo: Path, shas: Mapping[str, str]) -> Iterator[dict[str, Path]]:
    """Detached worktrees of each side's commit, gone again on every exit path.

    Yields {side: worktree}; all worktrees share one temporary folder outside
    the user's checkout.  SIGTERM inside the block raises SystemExit(143)
    after cleanup; Ctrl-C raises KeyboardInterrupt after cleanup.  The user's
    hooks are not run for these checkouts (core.hooksPath=/dev/null): they
    belong to the user's own work, not to perfgate's throw-away copies.
    """
    _check_sides(shas)
    root = Path(tempfile.mkdtemp(prefix="perfgate-"))
    _live_roots.add(root)
    trees: dict[str, Path] = {}
    try:
        with _sigterm_raises():
            try:
                for side, sha in shas.items():
                    path = root / side
                    _git(
                        repo, "-c", "core.hooksPath=/dev/null", "worktree", "add",
                        "--detach", "--quiet", str(path), sha,
                    )  # fmt: skip
                    trees[side] = path
                yield dict(trees)
            except _Terminated:
                raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        _remove_worktrees(repo, root, trees)


def is_secret(name: str) -> bool:
    """True for a variable the untrusted benchmark must not see (see the list above)."""
    upper = name.upper()
    return (
        upper in SECRET_NAMES
        or upper in REPOSITORY_VARS
        or upper in FILE_COMMANDS
        or upper.startswith(SECRET_PREFIXES)
        or upper.endswith(SECRET_SUFFIXES)
    )


def benchmark_env(
    environ: Mapping[str, str], account: contain.Account | None = None
) -> dict[str, str]:
    """The environment the untrusted benchmark and setup see: no token, no runner secret.

    In CI (where a job's `env:` holds secrets under any name) or run as a bench user,
    only allowed names pass (contain.measured_env); on a laptop, everything but the
    names above, so that a benchmark keeps the variables its author set.
    """
    if account is not None or contain.in_ci(environ):
        return contain.measured_env(environ, account)
    return {name: value for name, value in environ.items() if not is_secret(name)}


def _create_venv(
    side: str,
    worktree: Path,
    log_path: Path,
    timeout_s: float,
    account: contain.Account | None = None,
) -> Path:
    root = worktree.parent
    if root not in _live_roots:
        raise ValueError(
            f"prepare_side(venv=True) needs a worktree from checkouts(), not {worktree}"
        )
    venv_dir = root / f"venv-{side}"
    try:
        # Isolated (-I), from `/` and with a clean environment: run from the checkout,
        # `-m venv` would import a `venv.py` of the pull request, with perfgate's secrets.
        created = subprocess.run(
            [sys.executable, "-I", "-m", "venv", str(venv_dir)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
            cwd="/",
            env={"PATH": os.defpath, "LANG": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired:
        raise InfrastructureError(
            f"setup failed on {side}: creating its virtual environment took over {timeout_s:g} s"
        ) from None
    if created.returncode != 0:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(created.stdout + created.stderr, encoding="utf-8")
        raise InfrastructureError(
            f"setup failed on {side}: cannot create a virtual environment with "
            f"{sys.executable} -m venv (exit {created.returncode})",
            log_tail=log_tail(log_path),
        )
    contain.hand_over(venv_dir, account)  # the side's setup installs into it
    return venv_dir


def prepare_side(
    side: str,
    worktree: Path,
    *,
    setup: str | None,
    venv: bool,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
    account: contain.Account | None = None,
) -> dict[str, str]:
    """Give a side its own virtual environment (optional) and run `setup` in it.

    A head that changes its dependencies is then measured with its own.  The
    venv lives beside the worktree, in the `checkouts` folder, not inside it,
    so that the benchmark's own `git status` stays clean, and it is deleted
    with the worktrees.  With an `account` (contain.account_for), the venv is
    that user's and `setup` runs as that user.  Returns the environment for the runs.
    """
    run_env = dict(env)
    if venv:
        venv_dir = _create_venv(side, worktree, log_path, timeout_s, account)
        run_env["VIRTUAL_ENV"] = str(venv_dir)
        run_env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{run_env.get('PATH', os.defpath)}"
        run_env.pop("PYTHONHOME", None)
    if setup:
        spec = RunSpec(("sh", "-c", setup), worktree, run_env, timeout_s, log_path, account)
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
