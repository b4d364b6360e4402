"""The pipeline: config -> workspace -> measure -> compare -> results.  Glue only.

Failures after the configuration was accepted do not escape as exceptions:
they come back as results with verdict `error` and exit code 3 or 4, so the
JSON and the job summary are written whatever happened.  A gate that dies
without a word is a gate that someone will quietly switch off.
"""

from __future__ import annotations

import functools
import os
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import contain, evidence, metrics, options, prepare, shards, workspace
from .compare import budgets, counts, ranks, sequential, stats
from .config import Config
from .environment import capture
from .errors import EXIT_PASS, EXIT_REGRESSION, BenchmarkFailed, ConfigError, PerfgateError
from .measure import instructions as instructions_module
from .measure import pytest_documents, schedule
from .prepare import SIDES
from .progress import Progress
from .results import Results, Sample, Side


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
    for warning in prepare.checkout_warnings(repo, refs, shas):
        progress.step(f"warning: {warning}")
    # The per-test and per-import evidence tests at the level each look had before the
    # group-sequential design: split evenly over the looks (compare/tests.py).
    alpha = sequential.ALPHA / len(plan.looks())
    try:
        samples, breakdown, test_runs = _measure(
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
    results = replace(results, breakdown=breakdown, budgets=checks)
    return Outcome(results, exit_code(results))


def run_only(config: Config, progress: Progress) -> Results:
    """`perfgate run`: warm-ups, then `runs` measured runs of one command in the current
    folder, no verdict (the seed's benchmark script grown up)."""
    counter = instructions_module.require_counter() if config.instructions else None
    cwd = (config.repo / config.working_directory).resolve()
    per_test = any(b.test for b in config.budgets) and evidence.wants_pytest_breakdown(config)
    if not cwd.is_dir():
        raise ConfigError(f"working-directory: {config.working_directory!r} does not exist")
    env = workspace.benchmark_env(os.environ)
    prepare.check_command_exists(config.command, cwd, env)
    with tempfile.TemporaryDirectory(prefix="perfgate-logs-") as logs:
        if per_test:  # per-test budgets: the plugin records each test's time
            env = pytest_documents.plugin_loader_env(Path(logs) / "pytest-plugin", env)
        target = schedule.Target(
            "run", config.command, cwd, env, config.timeout_s, Path(logs),
            run_file_env=pytest_documents.ENV_VAR if per_test else None,
        )  # fmt: skip
        samples = schedule.run_single(
            target, runs=config.runs, warmup=config.warmup, progress=progress,
            instructions=counting(config, counter),
        )  # fmt: skip
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
        paired = judged_in_pairs(first)
    else:
        base = _pick_side(first, ("run", "base"), paths[0])
        head = _pick_side(second, ("run", "head"), str(paths[1]))
        source, paired = second, False  # runs of two recordings never shared coin flips
    for name, side, path in (("base", base, paths[0]), ("head", head, paths[1])):
        if len([s for s in side.samples if s.ok]) < stats.MIN_RUNS:
            raise ConfigError(
                f"compare: {path or paths[0]}: the {name} side has "
                f"{len(side.samples)} runs; need at least {stats.MIN_RUNS} successful ones"
            )
    settings = _recorded_thresholds(source, config)
    recorded = replace(config, **{name: settings[name] for name in THRESHOLD_SETTINGS.values()})
    return rejudge(base, head, source, settings, recorded.thresholds, paired=paired)


def judged_in_pairs(results: Results) -> bool:
    """Whether a gate judged its runs against their pairs' coin flips: its comparisons say
    so (results of a perfgate before compare/pairs.py were judged as two samples, and are
    re-judged as they were); with none recorded, the default."""
    if not results.comparisons:
        return stats.PAIRED
    return any(c.method.startswith("paired") for c in results.comparisons)


#: Threshold keys and the Config field (and results setting) each fills, per the registry.
THRESHOLD_SETTINGS = {m.threshold_key: m.threshold_field for m in metrics.METRICS}


def _recorded_thresholds(source: Results, cfg: Config) -> dict[str, Any]:
    """The thresholds the results were judged with, unless a flag says otherwise."""
    settings = dict(source.settings)
    for key, name in THRESHOLD_SETTINGS.items():
        if key in cfg.sources or name not in settings:
            settings[name] = getattr(cfg, name)
        else:  # a threshold read from a file is checked like one given as a flag
            settings[name] = options.parse_threshold(f"settings.{name}", settings[name])
    if "inconclusive" in cfg.sources or "inconclusive" not in settings:
        settings["inconclusive"] = cfg.inconclusive
    else:
        settings["inconclusive"] = options.parse_inconclusive(
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
    *,
    paired: bool = stats.PAIRED,
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
    judgement = stats.judge(
        base, head, plan, paired=paired, test=shards.merged_test(source, base, head)
    )
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


def counting(
    config: Config, counter: instructions_module.Counter | None
) -> instructions_module.Counting | None:
    """Counted runs as few as the counts need: enough once each side's agree at the
    instructions threshold (compare/counts.py), at most `runs` per side before every
    measured run is counted (docs/statistics.md, "Counts that agree")."""
    if counter is None:
        return None
    enough = functools.partial(counts.agree, threshold=config.instructions_threshold)
    return instructions_module.Counting(counter, enough, config.runs, counts.MIN_COUNTED_RUNS)


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
        envs = {
            side: prepare.side_env(
                config, side, trees[side], shas[side], accounts[side], log_dir, progress
            )
            for side in SIDES
        }
        prepare.check_own_code(config, trees, envs, progress, accounts)
        per_test = evidence.wants_pytest_breakdown(config)
        targets = prepare.targets(config, trees, envs, log_dir, accounts, per_test=per_test)
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
                instructions=counting(config, counter),
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
            targets = prepare.targets(
                config, trees, envs, log_dir, accounts, per_test=True, loader=False
            )
            base_samples, head_samples = measure_pairs()
            notes.append(evidence.PLUGIN_NOT_LOADED)
        progress.done()
        samples = {"base": base_samples, "head": head_samples}
        breakdown = evidence.collect(config, targets, samples, alpha, progress, notes)
        test_runs = _test_runs(targets["head"], len(head_samples)) if per_test else []
    return samples, breakdown, test_runs


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
