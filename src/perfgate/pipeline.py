"""The pipeline: config -> workspace -> measure -> compare -> results.  Glue only.

Failures after the configuration was accepted do not escape as exceptions:
they come back as results with verdict `error` and exit code 3 or 4, so the
JSON and the job summary are written whatever happened.  A gate that dies
without a word is a gate that someone will quietly switch off.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import config as config_module
from . import contain, metrics, shards, sources, workspace
from .compare import budgets, ranks, sequential, stats
from .compare import imports as import_changes
from .compare import tests as test_changes
from .config import Config
from .environment import capture
from .errors import EXIT_PASS, EXIT_REGRESSION, BenchmarkFailed, ConfigError, PerfgateError
from .measure import import_trace, pytest_documents, schedule
from .measure import instructions as instructions_module
from .progress import Progress
from .results import Results, Sample, Side

SIDES = ("base", "head")


@dataclass(frozen=True)
class Outcome:
    """What a gate produced and the exit code that tells a CI system about it."""

    results: Results
    exit_code: int


def new_seed() -> int:
    """A fresh seed for the run order; recorded so that the order can be replayed."""
    return random.SystemRandom().randrange(2**32)


def run_gate(config: Config, progress: Progress) -> Outcome:
    """Measure base and head, compare them and decide.

    ConfigError propagates: it is raised before anything runs (a machine that
    cannot count instructions when they were asked for included).  Every later
    failure becomes an `error` outcome that keeps what was measured so far.
    """
    plan = plan_for(config)
    counter = instructions_module.require_counter() if config.instructions else None
    repo = workspace.git_toplevel(config.repo)
    base_ref = config.base or workspace.default_base(repo)
    refs = {"base": base_ref, "head": config.head}
    shas = {side: workspace.resolve_ref(repo, ref) for side, ref in refs.items()}
    seed = config.seed if config.seed is not None else new_seed()
    if config.shard is not None and config.seed is not None:
        seed = shards.shard_seed(config.seed, config.shard[0])
    progress.step(
        f"perfgate: base {base_ref} ({shas['base'][:12]}) against head {config.head} "
        f"({shas['head'][:12]}), {config.runs} to {config.max_runs} runs per side, seed {seed}"
    )
    if counter is not None:
        progress.step(f"counting instructions in runs of their own: {counter.note}")
    for warning in checkout_warnings(repo, refs, shas):
        progress.step(f"warning: {warning}")
    # The per-test and per-import evidence tests at the level each look had before the
    # group-sequential design: split evenly over the looks (compare/tests.py).
    alpha = sequential.ALPHA / len(plan.looks())
    try:
        samples, evidence, test_runs = _measure(
            config, plan, repo, shas, seed, alpha, progress, counter
        )
    except ConfigError:
        raise
    except PerfgateError as error:
        kept = getattr(error, "samples", {}) or {}
        sides = {side: Side(refs[side], shas[side], kept.get(side, ())) for side in SIDES}
        return _error_outcome(config, sides, seed, error, counter)
    sides = {side: Side(refs[side], shas[side], samples[side]) for side in SIDES}
    if config.shard is not None:  # no shard alone decides: its runs, for `perfgate merge`
        results = _results(config, sides, seed, verdict=None, counter=counter)
        return Outcome(replace(results, shard=shards.record(config.shard, EXIT_PASS)), EXIT_PASS)
    judgement = stats.judge(sides["base"], sides["head"], plan)
    checks = budgets.judge(config.budgets, sides["head"], test_runs)
    results = _results(
        config,
        sides,
        seed,
        verdict="fail" if budgets.over(checks) else judgement.verdict,
        comparisons=judgement.comparisons,
        counter=counter,
    )
    results = replace(results, breakdown=evidence, budgets=checks)
    return Outcome(results, exit_code(results))


def run_only(config: Config, progress: Progress) -> Results:
    """`perfgate run`: warm-ups, then `runs` measured runs of one command in the current
    folder, no verdict (the seed's benchmark script grown up)."""
    counter = instructions_module.require_counter() if config.instructions else None
    cwd = (config.repo / config.working_directory).resolve()
    per_test = any(b.test for b in config.budgets) and wants_pytest_breakdown(config)
    if not cwd.is_dir():
        raise ConfigError(f"working-directory: {config.working_directory!r} does not exist")
    env = workspace.benchmark_env(os.environ)
    check_command_exists(config.command, cwd, env)
    with tempfile.TemporaryDirectory(prefix="perfgate-logs-") as logs:
        if per_test:  # per-test budgets: the plugin records each test's time
            env = pytest_documents.plugin_loader_env(Path(logs) / "pytest-plugin", env)
        target = schedule.Target(
            "run", config.command, cwd, env, config.timeout_s, Path(logs),
            run_file_env=pytest_documents.ENV_VAR if per_test else None,
        )  # fmt: skip
        samples = schedule.run_single(
            target, runs=config.runs, warmup=config.warmup, progress=progress, instructions=counter
        )
        progress.done()
        test_runs = _test_runs(target, len(samples)) if per_test else []
    side = Side(ref="", sha="", samples=samples)
    return Results(
        verdict=None,
        sides={"run": side},
        command=config.command_text,
        environment=capture(),
        settings={**config.settings(), **instructions_module.counter_settings(counter)},
        budgets=budgets.judge(config.budgets, side, test_runs),
    )


def _test_runs(target: schedule.Target, runs: int) -> list[dict[str, float]]:
    """Each run's per-test seconds, or none when the run's files are unusable (they are
    the benchmark's: hostile input, never a crash; the budgets say `not measured`)."""
    try:
        return pytest_documents.seconds_per_run(
            pytest_documents.collect_pytest_breakdown(target.run_files(runs))
        )
    except Exception:  # noqa: BLE001
        return []


def plan_for(config: Config) -> sequential.Plan:
    """How the gate will decide; settings that could never find a regression are refused
    here, before anything runs (exit 2), naming the run count that can."""
    plan = sequential.Plan(config.thresholds, config.runs, config.max_runs)
    if config.shard is not None:  # what counts is the merged test over every shard
        problem = shards.unreachable(config.runs, config.shard[1])
    else:
        problem = plan.unreachable()
    if problem:
        raise ConfigError(problem)
    return plan


def exit_code(results: Results) -> int:
    """1 for a regression (or no verdict with `inconclusive: fail`), else 0."""
    return EXIT_REGRESSION if results.fails else EXIT_PASS


def compare_saved(
    first: Results, second: Results | None, config: Config, paths: tuple[str, str | None]
) -> Outcome:
    """`perfgate compare` on saved results: one gate's base and head, or the run (or base)
    side of `first` against the run (or head) side of `second`, re-judged (`rejudge`).

    Too few successful runs, or a file without the sides asked for, is exit 2 naming
    the file (`paths`, as the user gave them).
    """
    if second is None:
        if not {"base", "head"} <= set(first.sides):
            raise ConfigError(f"{paths[0]}: has no base and head sides; give two results files")
        base, head, source = first.sides["base"], first.sides["head"], first
    else:
        base = _pick_side(first, ("run", "base"), paths[0])
        head = _pick_side(second, ("run", "head"), str(paths[1]))
        source = second
    for name, side, path in (("base", base, paths[0]), ("head", head, paths[1])):
        if len([s for s in side.samples if s.ok]) < stats.MIN_RUNS:
            raise ConfigError(
                f"compare: {path or paths[0]}: the {name} side has "
                f"{len(side.samples)} runs; need at least {stats.MIN_RUNS} successful ones"
            )
    settings = _recorded_thresholds(source, config)
    recorded = replace(config, **{name: settings[name] for name in THRESHOLD_SETTINGS.values()})
    return rejudge(base, head, source, settings, recorded.thresholds)


#: Threshold keys and the Config field (and results setting) each fills, per the registry.
THRESHOLD_SETTINGS = {m.threshold_key: m.threshold_field for m in metrics.METRICS}


def _recorded_thresholds(source: Results, cfg: Config) -> dict[str, Any]:
    """The thresholds the results were judged with, unless a flag says otherwise."""
    settings = dict(source.settings)
    for key, name in THRESHOLD_SETTINGS.items():
        if key in cfg.sources or name not in settings:
            settings[name] = getattr(cfg, name)
        else:  # a threshold read from a file is checked like one given as a flag
            settings[name] = config_module.parse_threshold(f"settings.{name}", settings[name])
    if "inconclusive" in cfg.sources or "inconclusive" not in settings:
        settings["inconclusive"] = cfg.inconclusive
    else:
        settings["inconclusive"] = config_module.parse_inconclusive(
            "settings.inconclusive", settings["inconclusive"]
        )
    return settings


def _pick_side(results: Results, names: Sequence[str], path: str) -> Side:
    for name in names:
        if name in results.sides:
            return results.sides[name]
    raise ConfigError(f"compare: {path} has none of the sides {', '.join(names)}")


def rejudge(
    base: Side,
    head: Side,
    source: Results,
    settings: Mapping[str, Any],
    thresholds: Mapping[str, float],
) -> Outcome:
    """`perfgate compare`: base against head decided as the gate decides, by `stats.judge`.

    `settings` are the source's, with `thresholds` (per metric) as they apply.  A gate's results
    carry their plan (runs, max-runs, levels), so re-judging them gives the gate's
    verdict exactly; two separate runs are one fixed look.  Run counts that can never
    reach the level are refused (exit 2), as the gate refuses such settings.
    """
    runs = min(len(base.samples), len(head.samples))
    gate_results = {"base", "head"} <= set(source.sides) and "max_runs" in settings
    if gate_results:
        plan = sequential.Plan.from_settings(settings, thresholds)
    else:
        plan = sequential.Plan.fixed(thresholds, runs)
    level = plan.look(runs).regression_level
    fewest = ranks.smallest_p(len(base.samples), len(head.samples))
    if fewest > level:
        raise ConfigError(
            f"compare: {len(base.samples)} and {len(head.samples)} runs can never show a "
            f"regression at this look's level ({level:.3g}; their smallest p-value is "
            f"{fewest:.3g}); record at least {_fewest_runs(level)} runs per side"
        )
    judgement = stats.judge(base, head, plan, test=shards.merged_test(source, base, head))
    checks = budgets.rejudge(source, head)
    results = Results(
        verdict="fail" if budgets.over(checks) else judgement.verdict,
        sides={"base": base, "head": head},
        comparisons=judgement.comparisons,
        command=source.command,
        environment=source.environment,
        seed=source.seed,
        settings={**settings, **plan.settings()},
        breakdown=source.breakdown if gate_results else None,
        budgets=checks,
        shards=source.shards if gate_results else (),
    )
    return Outcome(results, exit_code(results))


def _fewest_runs(level: float) -> int:
    runs = stats.MIN_RUNS
    while ranks.smallest_p(runs, runs) > level:
        runs += 1
    return runs


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


def _measure(
    config: Config,
    plan: sequential.Plan,
    repo: Path,
    shas: Mapping[str, str],
    seed: int,
    alpha: float,
    progress: Progress,
    counter: instructions_module.Counter | None = None,
) -> tuple[dict[str, tuple[Sample, ...]], dict | None, list[dict[str, float]]]:
    """Both sides' runs, the per-test and per-import evidence, and head's per-test seconds
    of each run (for per-test budgets)."""
    with (
        tempfile.TemporaryDirectory(prefix="perfgate-logs-") as logs,
        workspace.checkouts(repo, shas) as trees,
    ):
        log_dir = Path(logs)
        accounts = {side: contain.account_for(side) for side in SIDES}  # in the image
        envs = {side: _prepare(config, side, trees[side], shas[side], accounts[side], log_dir,
                               progress)
                for side in SIDES}  # fmt: skip
        check_own_code(config, trees, envs, progress, accounts)
        per_test = wants_pytest_breakdown(config)
        targets = _targets(config, trees, envs, log_dir, accounts, per_test=per_test)
        settled = settled_at_looks(plan, shas)

        def measure_pairs() -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
            return schedule.run_pairs(
                targets["base"],
                targets["head"],
                runs=config.runs,
                max_runs=config.max_runs,
                warmup=config.warmup,
                seed=seed,
                time_budget_s=config.time_budget_s,
                settled=settled,
                progress=progress,
                instructions=counter,
                looks=plan.looks(),
            )

        notes: list[str] = []
        try:
            base_samples, head_samples = measure_pairs()
        except BenchmarkFailed as failure:
            if not per_test or pytest_documents.LOADER_PACKAGE not in failure.log_tail:
                raise
            progress.step(
                "note: pytest could not import perfgate's plugin (does the command set "
                "PYTHONPATH?); measuring again without loading it"
            )
            targets = _targets(config, trees, envs, log_dir, accounts, per_test=True, loader=False)
            base_samples, head_samples = measure_pairs()
            notes.append(PLUGIN_NOT_LOADED)
        progress.done()
        samples = {"base": base_samples, "head": head_samples}
        evidence = _evidence(config, targets, samples, alpha, progress, notes)
        test_runs = _test_runs(targets["head"], len(head_samples)) if per_test else []
    return samples, evidence, test_runs


def settled_at_looks(
    plan: sequential.Plan, shas: Mapping[str, str]
) -> Callable[[Sequence[Sample], Sequence[Sample]], bool]:
    """When the gate may stop adding runs: only at a planned look (see sequential.Plan), and
    there only when the judgement is settled.  The levels of the looks spend the error
    rate for those run counts alone; a stop in between would spend more than planned."""
    look_points = set(plan.looks())

    def settled(base: Sequence[Sample], head: Sequence[Sample]) -> bool:
        if len(base) not in look_points:
            return False
        base_side = Side("base", shas["base"], tuple(base))
        return stats.judge(base_side, Side("head", shas["head"], tuple(head)), plan).settled

    return settled


#: Why a pytest benchmark has no per-test data when pytest could not import the plugin.
PLUGIN_NOT_LOADED = (
    "no per-test data: pytest could not import perfgate's plugin (the command sets "
    "PYTHONPATH, which carries it; append to it instead, PYTHONPATH=src:$PYTHONPATH, or "
    "install perfgate where the tests run)"
)


def _targets(
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


def _prepare(
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


def wants_pytest_breakdown(config: Config) -> bool:
    """Per-test evidence when asked for, or by default when the benchmark is pytest."""
    if config.shard is not None:  # per-test evidence is not merged across shards
        return False
    if config.breakdown == "pytest":
        return True
    return config.breakdown in (None, "auto") and "pytest" in config.command_text


def _evidence(
    config: Config,
    targets: Mapping[str, schedule.Target],
    samples: Mapping[str, Sequence[Sample]],
    alpha: float,
    progress: Progress,
    notes: Sequence[str] = (),
) -> dict | None:
    """Which tests and which imports moved: the `breakdown` key of the results."""
    tests = imports = None
    notes = list(notes)  # PLUGIN_NOT_LOADED: kept only when that left no per-test data
    if targets["base"].run_file_env:
        try:
            documents = {
                side: pytest_documents.collect_pytest_breakdown(
                    targets[side].run_files(len(samples[side]))
                )
                for side in SIDES
            }
            if documents["base"] and documents["head"]:
                tests = test_changes.compare_breakdowns(
                    documents["base"], documents["head"], config.time_threshold,
                    config.memory_threshold, alpha=alpha,
                ).tests  # fmt: skip
                notes = [n for n in notes if n != PLUGIN_NOT_LOADED]
        except Exception as problem:  # the run wrote these files: hostile input, never a crash
            documents = {}
            notes.append(f"per-test data left out: the run's files are unusable ({problem})"[:300])
        if (
            documents
            and not (documents["base"] and documents["head"])
            and (PLUGIN_NOT_LOADED not in notes)
        ):
            notes.append(
                "no per-test data: the pytest plugin did not run (is the benchmark pytest? "
                "a command that sets PYTEST_PLUGINS or PYTHONPATH, or a Python started with "
                "-I or -E, drops the variables that load it; installing perfgate where the "
                "tests run also loads it)"
            )
    if config.imports and config.shard is None:
        progress.step(f"measuring the import of {', '.join(config.imports)} on each side")
        try:
            profiles = {
                side: import_trace.measure_imports(
                    _python_of(targets[side].env),
                    config.imports,
                    targets[side].cwd,
                    targets[side].env,
                    runs=5,
                    timeout_s=config.timeout_s,
                    account=targets[side].account,
                )  # fmt: skip
                for side in SIDES
            }
            imports = import_changes.compare_imports(
                profiles["base"], profiles["head"], config.time_threshold
            )
        except PerfgateError:
            raise
        except Exception as problem:  # what the import printed is hostile input too
            notes.append(f"import data left out: the probe's output is unusable ({problem})"[:300])
    if tests is None and imports is None and not notes:
        return None
    return test_changes.Breakdown(tests=tests, imports=imports, notes=tuple(notes)).to_json()


def _python_of(env: Mapping[str, str]) -> str:
    """The interpreter the benchmark would get for `python`: its venv's, else perfgate's."""
    return shutil.which("python", path=env.get("PATH")) or sys.executable


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


def _results(
    config: Config,
    sides: Mapping[str, Side],
    seed: int,
    *,
    verdict: str | None,
    comparisons: tuple = (),
    error: str | None = None,
    counter: instructions_module.Counter | None = None,
) -> Results:
    return Results(
        verdict=verdict,
        sides=dict(sides),
        comparisons=tuple(comparisons),
        command=config.command_text,
        environment=capture(),
        seed=seed,
        error=error,
        settings={
            **config.settings(),
            **sequential.Plan(config.thresholds, config.runs, config.max_runs).settings(),
            **instructions_module.counter_settings(counter),
        },
    )


def _error_outcome(
    config: Config,
    sides: Mapping[str, Side],
    seed: int,
    error: PerfgateError,
    counter: instructions_module.Counter | None = None,
) -> Outcome:
    message = str(error)
    tail = getattr(error, "log_tail", "")
    if tail:
        message = f"{message}\n\n{tail.rstrip()}"
    results = _results(config, sides, seed, verdict="error", error=message, counter=counter)
    if config.shard is not None:
        results = replace(results, shard=shards.record(config.shard, error.exit_code))
    return Outcome(results, error.exit_code)
