"""One `Config` from defaults, `.perfgate.yml`, action inputs and CLI flags.

Every value is checked here, before anything runs: a typo in a threshold
found after ten minutes of measuring is ten minutes lost, and a gate that
silently ignores an unknown key gates on something other than what the
reviewer read.  Each refusal names the key, the value and what is allowed.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .metrics import METRICS
from .options import PARSERS, Budget

CONFIG_FILE = ".perfgate.yml"


@dataclass(frozen=True)
class Config:
    """Everything a gate or a run needs to know, validated.

    `command` is an argv; a command given as one string is run by `sh -c`
    (as the action's `command` input is), and `command_text` keeps what the
    user wrote, for the report.
    """

    command: tuple[str, ...] = ()
    command_text: str = ""
    repo: Path = Path(".")
    base: str | None = None
    head: str = "HEAD"
    setup: str | None = None
    #: A virtual environment per side; None (the default) means "when there is a setup".
    venv: bool | None = None
    #: Seconds `setup` may take on each side (a pip install is slower than one run).
    setup_timeout_s: float = 1800.0
    working_directory: str = "."
    runs: int = 10
    max_runs: int = 30
    warmup: int = 1
    timeout_s: float = 600.0
    time_budget_s: float | None = None
    time_threshold: float = 0.05
    memory_threshold: float = 0.10
    #: Count the benchmark's instructions too (see measure/instructions.py): a metric that
    #: barely varies on a noisy runner, hence its own, much smaller threshold.
    instructions: bool = False
    instructions_threshold: float = 0.01
    #: What "no verdict" (too noisy to tell) does to the exit code and the status.
    inconclusive: str = "pass"
    json_path: Path | None = None
    markdown_path: Path | None = None
    seed: int | None = None
    breakdown: str | None = None
    imports: tuple[str, ...] = ()
    #: Absolute limits on head (or on `perfgate run`'s runs): see compare/budgets.py.
    budgets: tuple[Budget, ...] = ()
    #: This job's share of a gate spread over a CI matrix: (K, N) for shard K of N.
    shard: tuple[int, int] | None = None
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def thresholds(self) -> dict[str, float]:
        """Threshold per metric name, from the key the registry names for each metric."""
        return {m.name: getattr(self, m.threshold_field) for m in METRICS}

    def settings(self) -> dict[str, Any]:
        """The settings a reader needs to judge a result, for the results JSON."""
        return {
            "runs": self.runs,
            "max_runs": self.max_runs,
            "warmup": self.warmup,
            "timeout_s": self.timeout_s,
            "time_budget_s": self.time_budget_s,
            "time_threshold": self.time_threshold,
            "memory_threshold": self.memory_threshold,
            "instructions": self.instructions,
            "instructions_threshold": self.instructions_threshold,
            "inconclusive": self.inconclusive,
            "setup": self.setup,
            "setup_timeout_s": self.setup_timeout_s,
            "venv": self.venv,
            "working_directory": self.working_directory,
            "budgets": {b.key: b.text for b in self.budgets},
        }


def apply(config: Config, values: Mapping[str, Any], source: str) -> Config:
    """Layer `values` (keys as in `.perfgate.yml`) over `config`, checking each."""
    changes: dict[str, Any] = {}
    sources = dict(config.sources)
    for key, value in values.items():
        if value is None:
            continue
        if not isinstance(key, str):
            raise ConfigError(
                f"{source}: key {key!r} is not a name; allowed keys: {', '.join(sorted(PARSERS))}"
            )
        normal = key.replace("_", "-")
        if normal not in PARSERS:
            raise ConfigError(
                f"{source}: unknown key {key!r}; allowed keys: {', '.join(sorted(PARSERS))}"
            )
        name, parse = PARSERS[normal]
        try:
            changes[name] = parse(normal, value)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        if normal == "budgets":  # one budget given again replaces it; the others stay
            changes[name] = _merged_budgets(config.budgets, changes[name])
        if normal == "command":
            changes["command_text"] = (
                str(value).strip() if isinstance(value, str) else shlex.join(changes[name])
            )
        sources[normal] = source
    return replace(config, **changes, sources=sources)


def _merged_budgets(old: tuple[Budget, ...], new: tuple[Budget, ...]) -> tuple[Budget, ...]:
    merged = {(b.metric, b.test): b for b in old}
    merged.update({(b.metric, b.test): b for b in new})
    return tuple(merged.values())


def read_file(path: Path) -> dict[str, Any]:
    """Read `.perfgate.yml` with the safe loader; an empty file is no settings."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"config: cannot read {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {kind}")
    return data


def load(
    *,
    repo: Path | None = None,
    config_path: Path | None = None,
    layers: tuple[tuple[str, Mapping[str, Any]], ...] = (),
    require_command: bool = True,
    read_repo_file: bool = True,
) -> Config:
    """Defaults < `.perfgate.yml` (or `config_path`) < each of `layers`, in order.

    `layers` are (source name, values) pairs such as ("action input", {...})
    then ("command line", {...}); later layers win.
    """
    config = Config()
    merged_repo = repo
    for _, values in layers:
        if values.get("repo") is not None:
            merged_repo = Path(str(values["repo"]))
    if merged_repo is not None:
        config = replace(config, repo=merged_repo)
    path = config_path
    if path is None:
        candidate = config.repo / CONFIG_FILE
        path = candidate if read_repo_file and candidate.is_file() else None
    elif not path.is_file():
        raise ConfigError(f"config: {path} does not exist")
    if path is not None:
        config = apply(config, read_file(path), str(path))
        config = replace(config, config_path=path)
    for source, values in layers:
        config = apply(config, values, source)
    return check(config, require_command=require_command)


def check(config: Config, *, require_command: bool = True) -> Config:
    """Checks that involve more than one key."""
    if require_command and not config.command:
        raise ConfigError(
            "command: missing; give the benchmark after `--` (perfgate gate -- pytest -q), "
            "with --command 'pytest -q', or as `command:` in .perfgate.yml"
        )
    if config.max_runs < config.runs and "max-runs" not in config.sources:
        config = replace(config, max_runs=config.runs)  # more runs asked for: allow them
    if config.max_runs < config.runs:
        raise ConfigError(
            f"max-runs: {config.max_runs} is below runs ({config.runs}); "
            "expected max-runs to be at least runs"
        )
    config = _check_venv(config)
    _check_budget_runs(config)
    if config.shard is not None:
        # A shard runs a fixed number of pairs: its looks would be blind to the other
        # shards, and the merged verdict is one fixed look over all of them.
        config = replace(config, max_runs=config.runs, time_budget_s=None)
        if config.budgets:
            raise ConfigError(
                "shard: budgets are not judged across shards (an absolute limit depends on "
                "each runner's speed); drop budgets from the sharded gate, or gate budgets "
                "in a job of their own"
            )
    workdir = Path(config.working_directory)
    if workdir.is_absolute() or ".." in workdir.parts:
        raise ConfigError(
            f"working-directory: {config.working_directory!r} is not allowed; "
            "expected a folder inside the repository, relative to its root"
        )
    for key, path in (("json", config.json_path), ("markdown", config.markdown_path)):
        if path is not None:
            check_writable(key, path)
    return config


def _check_budget_runs(config: Config) -> None:
    """Budgets judged on fewer runs than their interval needs could never be over or met."""
    from .compare.budgets import LEVEL, fewest_runs  # compare/budgets.py reads this module's Budget

    if config.budgets and config.runs < fewest_runs():
        raise ConfigError(
            f"runs: {config.runs} runs cannot judge a budget (the median's interval at "
            f"{LEVEL:.0%} per end needs at least {fewest_runs()} runs); use --runs "
            f"{fewest_runs()} or more, or drop the budgets"
        )


def _check_venv(config: Config) -> Config:
    """`setup` always runs in a virtual environment per side.

    Run in one shared environment, the two sides install one after the other
    and both measure whichever came last; run in the environment perfgate was
    started from, it would change the user's own (an editable install left
    pointing at a deleted worktree).  Without a setup there is nothing to
    install, and the benchmark runs in the caller's environment.
    """
    if config.venv is None:
        return replace(config, venv=config.setup is not None)
    if config.setup is not None and not config.venv:
        raise ConfigError(
            "venv: false is not allowed with setup; setup runs in a virtual environment of "
            "each side's own, so that neither side installs into the environment perfgate "
            "runs in nor over the other side's install (drop venv: false)"
        )
    return config


def check_writable(key: str, path: Path) -> None:
    """Refuse an output path now rather than lose the results after the benchmark."""
    folder = path.parent.resolve()
    if not folder.is_dir():
        raise ConfigError(f"{key}: cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"{key}: cannot write {path}: it is a folder; give a file name")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{key}: cannot write {path}: permission denied")
