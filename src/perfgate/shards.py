"""Shards: one gate spread over the jobs of a CI matrix, merged into one verdict.

Why: a gate costs 2 x (10 to 30) runs of the benchmark; for a suite of
minutes that is an hour on one runner.  A CI matrix runs N jobs at once, so
`perfgate gate --shard K/N` runs one N-th of the pairs on each runner and
`perfgate merge` decides once over all of them, at 1/N of the wall time.

Why the runners' differences cost nothing: each shard runs base and head
interleaved on its own runner, so a runner 30% slower slows both of its
sides alike.  The merged statistics compare base and head within each shard
only (stratified.py: van Elteren's test and its shift) and judge them by the
gate's own rules (stats.judge), at one fixed look over all the runs.

A shard runs a fixed number of pairs (`runs`): no looks, no early stop, as
one shard cannot know what the others saw.  Merging refuses (exit 2, naming
the file) shards of other commands, commits, settings or perfgate versions, a
missing or a duplicate shard, and any file that is not one shard's results.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import config, environment, options
from .compare import sequential, stats, stratified
from .errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_PASS,
    EXIT_REGRESSION,
    ConfigError,
)
from .results import Results, Sample, Side

#: The settings that may differ between the shards of one gate: none do today; the key
#: is here so that a later per-machine setting is added on purpose, not by accident.
PER_SHARD_SETTINGS: frozenset[str] = frozenset()


def label(index: int, count: int) -> str:
    return f"{index}/{count}"


def shard_seed(seed: int, index: int) -> int:
    """The run order seed of shard `index`: each shard its own shuffled pairs, and one
    seed given to all the jobs of a matrix replays every shard's order."""
    return random.Random(f"perfgate shard {seed} {index}").randrange(2**32)


def record(shard: tuple[int, int], exit_code: int) -> dict[str, Any]:
    """What a shard's results say about the shard: which one, on which machine, and the
    exit code its own job had (an error in one shard is the merged gate's error)."""
    index, count = shard
    return {
        "index": index,
        "count": count,
        "machine": environment.machine(),
        "exit_code": exit_code,
    }


def unreachable(runs: int, count: int, level: float = sequential.ALPHA) -> str | None:
    """Why `count` shards of `runs` pairs could never show a regression, or None: with every
    shard's head above its base the merged p-value is prod 1 / C(2 runs, runs)."""
    smallest = stratified.smallest_p([(runs, runs)] * count)
    if smallest <= level:
        return None
    return (
        f"runs: {count} shard(s) of {runs} runs per side can never show a regression at the "
        f"{level:.0%} level (the smallest p-value is {smallest:.3g}); use more runs or shards"
    )


# --- Merging ---------------------------------------------------------------------------------


def read(path: Path) -> Results:
    """One shard's results file, refused (exit 2, the file named) when it is not one: it
    is another job's output, uploaded and downloaded as an artifact."""
    try:
        return Results.read(path)
    except FileNotFoundError:
        raise ConfigError(f"merge: {path} does not exist") from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise ConfigError(f"merge: {path} is not a perfgate results file: {error}") from None


def merge(named: Sequence[tuple[str, Results]]) -> tuple[Results, int]:
    """One verdict and its exit code from the results of every shard of one gate (`named`:
    file name and results), decided as the gate decides, with the stratified test; refused
    (ConfigError) when the files are not the shards of one gate."""
    shards = check_mergeable(named)
    failed = [(name, r) for name, r in shards if r.verdict == "error"]
    if failed:
        return _error(shards, failed[0])
    first = shards[0][1]
    sides, records, blocks = _combined(shards)
    thresholds = thresholds_of(first.settings)
    total = min(len(sides["base"].samples), len(sides["head"].samples))
    plan = sequential.Plan.fixed(thresholds, total)
    test = stratified.blocked_test(blocks["base"], blocks["head"])
    judgement = stats.judge(sides["base"], sides["head"], plan, test=test)
    results = Results(
        verdict=judgement.verdict,
        sides=sides,
        comparisons=judgement.comparisons,
        command=first.command,
        environment=first.environment,
        seed=None,
        settings={**_merged_settings(first.settings, total), **plan.settings()},
        shards=records,
    )
    return results, EXIT_REGRESSION if results.fails else EXIT_PASS


def blocks_of(results: Results, side: str) -> list[int]:
    """The shard of each run of a merged side, from the run orders each shard holds."""
    found = []
    for sample in results.sides[side].samples:
        shard = next(
            (r["index"] for r in results.shards if r["orders"][0] <= sample.order < r["orders"][1]),
            None,
        )
        if shard is None:
            raise ValueError(f"sides.{side}: run order {sample.order} is in no shard")
        found.append(shard)
    return found


def merged_test(source: Results, base: Side, head: Side) -> stats.RankTest | None:
    """The stratified test of merged shards' own base and head (`perfgate compare` on a
    merge re-judges it as the merge judged it); None for anything else."""
    if not source.shards or base is not source.sides.get("base"):
        return None
    if head is not source.sides.get("head"):
        return None
    try:
        return stratified.blocked_test(blocks_of(source, "base"), blocks_of(source, "head"))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ConfigError(f"compare: the shards of this merge are unreadable: {error!r}") from None


def thresholds_of(settings: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds per metric a results file was judged with (checked: the file is
    another job's output)."""
    values = {
        name: options.parse_threshold(f"settings.{name}", settings.get(name, default))
        for name, default in (
            ("time_threshold", config.Config.time_threshold),
            ("memory_threshold", config.Config.memory_threshold),
            ("instructions_threshold", config.Config.instructions_threshold),
        )
    }
    return replace(config.Config(), **values).thresholds


def check_mergeable(named: Sequence[tuple[str, Results]]) -> list[tuple[str, Results]]:
    """The shards in order, or ConfigError naming the file and what sets it apart."""
    if not named:
        raise ConfigError("merge: no results files given")
    for name, results in named:
        _check_is_shard(name, results)
    first_name, first = named[0]
    for name, results in named[1:]:
        _check_same_gate(first_name, first, name, results)
    by_index: dict[int, str] = {}
    count = first.shard["count"]
    for name, results in named:
        index = results.shard["index"]
        if index in by_index:
            raise ConfigError(
                f"merge: shard {label(index, count)} is given twice: {by_index[index]} and {name}"
            )
        by_index[index] = name
    missing = [label(k, count) for k in range(1, count + 1) if k not in by_index]
    if missing:
        raise ConfigError(
            f"merge: shard {', '.join(missing)} missing (given: "
            f"{', '.join(f'{label(k, count)} in {by_index[k]}' for k in sorted(by_index))})"
        )
    return sorted(named, key=lambda item: item[1].shard["index"])


def _check_is_shard(name: str, results: Results) -> None:
    if results.shards:
        raise ConfigError(f"merge: {name} is already a merge of {len(results.shards)} shards")
    shard = results.shard
    if shard is None:
        raise ConfigError(
            f"merge: {name} is not one shard's results (it has no `shard`; shards are "
            "written by perfgate gate --shard K/N --json FILE)"
        )
    index, count = shard.get("index"), shard.get("count")
    if not (_whole(index) and _whole(count) and 1 <= index <= count <= 100):
        raise ConfigError(f"merge: {name}: shard index {index!r} of {count!r} is not K of N")
    if not _whole(shard.get("exit_code", 0)):
        raise ConfigError(f"merge: {name}: shard exit_code {shard.get('exit_code')!r}")
    if not {"base", "head"} <= set(results.sides):
        raise ConfigError(f"merge: {name} has no base and head sides")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_same_gate(first_name: str, first: Results, name: str, results: Results) -> None:
    """Refuse a shard of another gate: another command, commits, settings or perfgate."""
    if results.shard["count"] != first.shard["count"]:
        raise ConfigError(
            f"merge: {name} is shard {label(results.shard['index'], results.shard['count'])} "
            f"but {first_name} is one of {first.shard['count']} shards"
        )
    if results.command != first.command:
        raise ConfigError(
            f"merge: {name} ran another command than {first_name} "
            f"({results.command[:80]!r} against {first.command[:80]!r})"
        )
    for side in ("base", "head"):
        theirs, ours = results.sides[side].sha, first.sides[side].sha
        if theirs != ours:
            raise ConfigError(
                f"merge: {name} measured another {side} commit than {first_name} "
                f"({theirs[:12]} against {ours[:12]}): shards of one gate measure the same commits"
            )
    differing = sorted(
        key
        for key in set(results.settings) | set(first.settings)
        if key not in PER_SHARD_SETTINGS and results.settings.get(key) != first.settings.get(key)
    )
    if differing:
        shown = ", ".join(
            f"{key} ({results.settings.get(key)!r} against {first.settings.get(key)!r})"
            for key in differing[:4]
        )
        raise ConfigError(f"merge: {name} was run with other settings than {first_name}: {shown}")
    if results.environment.perfgate != first.environment.perfgate:
        raise ConfigError(
            f"merge: {name} was written by perfgate {results.environment.perfgate!r}, "
            f"{first_name} by {first.environment.perfgate!r}; run every shard with one version"
        )


def _combined(
    shards: Sequence[tuple[str, Results]],
) -> tuple[dict[str, Side], tuple[dict[str, Any], ...], dict[str, list[int]]]:
    """Both sides with every shard's runs, in shard order, their run orders moved past the
    previous shards' (so that pair k is still orders 2k and 2k + 1); the shard records
    with the orders each holds; and the shard of each run."""
    first = shards[0][1]
    samples: dict[str, list[Sample]] = {"base": [], "head": []}
    blocks: dict[str, list[int]] = {"base": [], "head": []}
    records = []
    offset = 0
    for _, results in shards:
        index = results.shard["index"]
        end = offset
        for side in ("base", "head"):
            for sample in results.sides[side].samples:
                order = offset + max(sample.order, 0)
                samples[side].append(replace(sample, order=order))
                blocks[side].append(index)
                end = max(end, order + 1)
        end += end % 2  # pairs stay whole: the next shard starts at an even order
        records.append({**dict(results.shard), "seed": results.seed, "orders": [offset, end]})
        offset = end
    sides = {
        side: Side(first.sides[side].ref, first.sides[side].sha, tuple(samples[side]))
        for side in ("base", "head")
    }
    return sides, tuple(records), blocks


def _merged_settings(settings: Mapping[str, Any], total: int) -> dict[str, Any]:
    """The shards' settings, with the runs per side the merged verdict stands on."""
    return {**settings, "runs": total, "max_runs": total, "runs_per_shard": settings.get("runs")}


def _error(
    shards: Sequence[tuple[str, Results]], failed: tuple[str, Results]
) -> tuple[Results, int]:
    """A shard that failed (its benchmark, or its setup) is the merged gate's error: no
    verdict is given on the runs of the others."""
    name, results = failed
    record_of = results.shard
    where = (
        record_of.get("machine", {}).get("hostname", "")
        if isinstance(record_of.get("machine"), Mapping)
        else ""
    )
    message = (
        f"shard {label(record_of['index'], record_of['count'])} ({name}"
        f"{', on ' + str(where)[:80] if where else ''}) failed: {results.error or 'no message'}"
    )
    code = record_of.get("exit_code")
    merged = Results(
        verdict="error",
        sides={side: Side(results.sides[side].ref, results.sides[side].sha) for side in
               ("base", "head")},
        command=results.command,
        environment=results.environment,
        error=message,
        settings=dict(results.settings),
        shards=tuple(dict(r.shard) for _, r in shards),
    )  # fmt: skip
    return merged, code if code in (EXIT_BENCHMARK_FAILED, EXIT_INFRASTRUCTURE) else (
        EXIT_INFRASTRUCTURE
    )
