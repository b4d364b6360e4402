"""Each side made ready to measure: its checkout's environment, its own code, its runs.

Between the checkouts (workspace.py) and the runs (measure/schedule.py): the
venv and setup of each side, the check that each side imports its own code,
and the Target each side's runs are made from.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import contain, sources, workspace
from .config import Config
from .errors import ConfigError
from .measure import pytest_documents, schedule
from .progress import Progress

SIDES = ("base", "head")


def checkout_warnings(repo: Path, refs: Mapping[str, str], shas: Mapping[str, str]) -> list[str]:
    """What the user may think is measured and is not: uncommitted work, one commit twice."""
    warnings = []
    if shas["head"] == workspace.resolve_ref(repo, "HEAD"):
        changed = workspace.uncommitted_changes(repo)
        if changed:
            shown = ", ".join(changed[:3]) + (
                f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            )
            warnings.append(
                f"uncommitted changes are not measured ({shown}): head is the commit "
                f"{shas['head'][:12]}; commit them to gate them"
            )
    if shas["base"] == shas["head"]:
        warnings.append(
            f"base ({refs['base']}) and head ({refs['head']}) are the same commit "
            f"{shas['head'][:12]}: both sides run the same code, so the verdict shows only "
            "the noise of this machine"
        )
    return warnings


def targets(
    config: Config,
    trees: Mapping[str, Path],
    envs: Mapping[str, Mapping[str, str]],
    log_dir: Path,
    accounts: Mapping[str, contain.Account | None],
    *,
    per_test: bool,
    loader: bool = True,
) -> dict[str, schedule.Target]:
    """What each side runs; with `per_test`, each run is given a file for its per-test
    data, and with `loader` the plugin is put where any pytest can import it."""
    targets = {}
    for side in SIDES:
        env = dict(envs[side])
        if per_test and loader:
            env = pytest_documents.plugin_loader_env(log_dir / "pytest-plugin", env)
        targets[side] = schedule.Target(
            side=side,
            argv=config.command,
            cwd=trees[side] / config.working_directory,
            env=env,
            timeout_s=config.timeout_s,
            log_dir=log_dir,
            run_file_env=pytest_documents.ENV_VAR if per_test else None,
            account=accounts[side],
        )
    return targets


def side_env(
    config: Config,
    side: str,
    tree: Path,
    sha: str,
    account: contain.Account | None,
    log_dir: Path,
    progress: Progress,
) -> dict[str, str]:
    """One side's environment: its venv and setup, or its own code first on PYTHONPATH.

    With an `account` (the image's bench user of this side), the worktree becomes
    that user's and everything of the side's own code runs as that user.
    """
    progress.step(f"preparing {side} in {tree}")
    contain.hand_over(tree, account)
    env = workspace.prepare_side(
        side,
        tree,
        setup=config.setup,
        venv=bool(config.venv),
        env=workspace.benchmark_env(os.environ, account),
        log_path=log_dir / f"setup-{side}.log",
        timeout_s=config.setup_timeout_s,
        account=account,
    )
    cwd = tree / config.working_directory
    if not cwd.is_dir():
        raise ConfigError(
            f"working-directory: {config.working_directory!r} does not exist "
            f"in the {side} commit ({sha[:12]})"
        )
    check_command_exists(config.command, cwd, env)
    if config.setup is None:
        env = sources.source_first_env(env, sources.find_layout(cwd, tree))
    return env


def check_own_code(
    config: Config,
    trees: Mapping[str, Path],
    envs: Mapping[str, Mapping[str, str]],
    progress: Progress,
    accounts: Mapping[str, contain.Account | None] | None = None,
) -> None:
    """Stop before measuring (exit 2) when a side would import the project from elsewhere."""
    resolutions = {}
    own = {}
    for side in SIDES:
        cwd = trees[side] / config.working_directory
        layout = sources.find_layout(cwd, trees[side])
        python = sources.benchmark_python(config.command, envs[side])
        if layout is None or python is None:
            return
        account = (accounts or {}).get(side)
        resolutions[side] = sources.resolve(python, layout.packages, cwd, envs[side], account)
        venv = envs[side].get("VIRTUAL_ENV") if config.venv else None
        own[side] = [trees[side], *([Path(venv)] if venv else [])]
    sources.check_own_code(resolutions, own, setup=config.setup, command=config.command_text)
    names = ", ".join(n for n, where in resolutions["head"].found.items() if where)
    if names:
        progress.step(f"each side imports {names} from its own checkout")


def check_command_exists(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> None:
    """Refuse a benchmark whose program cannot be found, before the first run.

    A shell command is asked of the shell itself (`command -v`), which knows
    builtins, functions and PATH exactly as the run will see them.
    """
    program = sources.first_program(argv)
    if program is None:
        return
    probe = subprocess.run(
        ["sh", "-c", 'command -v -- "$1" >/dev/null 2>&1', "sh", program],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
    )
    if probe.returncode != 0:
        raise ConfigError(
            f"command: {program!r} cannot be found (PATH or {cwd.name}/); "
            "expected a program the benchmark can run, installed by `setup` if need be"
        )
