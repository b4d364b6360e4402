"""Synthetic, seeded `Results` for the report tests.

The reports are pure functions of `Results`; building them from seeded
samples and the real `stats.compare` keeps every verdict honest (a "fail"
below really is one by perfgate's rules) while the tests stay fast and
repeatable.
"""

from __future__ import annotations

import random
import re

from perfgate.compare import stats
from perfgate.results import Environment, Results, Sample, Side

THRESHOLDS = {"wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10}
ENVIRONMENT = Environment("Test CPU @ 2.0GHz", 2, "3.11.7", "Linux-6.1-x86_64", "0.1.0")
BASE_MEMORY_BYTES = 50e6
#: The headline of a gate that did not fail: pass, or no verdict (too noisy to tell) when a
#: real gate on a loaded machine cannot tell an unchanged commit within its runs.
PASSED = re.compile(r"perfgate: (pass|no verdict)")


def make_samples(
    runs: int,
    *,
    side_index: int,
    wall_s: float = 0.4,
    memory_bytes: float = BASE_MEMORY_BYTES,
    cv: float = 0.01,
    rng: random.Random,
    paired: bool = True,
) -> tuple[Sample, ...]:
    """`runs` samples around `wall_s`; paired orders 2k + side_index, else 0..runs-1."""
    samples = []
    for k in range(runs):
        wall = wall_s * (1 + rng.gauss(0, cv))
        order = 2 * k + side_index if paired else k
        samples.append(
            Sample(
                wall_s=wall,
                cpu_s=wall * 0.95,
                max_rss_bytes=int(memory_bytes * 0.9),
                tree_peak_rss_bytes=int(memory_bytes * (1 + rng.gauss(0, 0.001))),
                exit_code=0,
                order=order,
            )
        )
    return tuple(samples)


def make_results(
    runs: int = 10,
    slowdown: float = 1.0,
    extra_mb: float = 0,
    cv: float = 0.01,
    seed: int = 1,
    head_runs: int | None = None,
) -> Results:
    """A whole gate: base and head interleaved, judged by the real statistics."""
    rng = random.Random(seed)
    base = make_samples(runs, side_index=0, cv=cv, rng=rng)
    head = make_samples(
        runs if head_runs is None else head_runs,
        side_index=1,
        wall_s=0.4 * slowdown,
        memory_bytes=BASE_MEMORY_BYTES + extra_mb * 1e6,
        cv=cv,
        rng=rng,
    )
    sides = {"base": Side("main", "a" * 40, base), "head": Side("HEAD", "b" * 40, head)}
    comparisons = stats.compare(sides["base"], sides["head"], THRESHOLDS)
    return Results(
        verdict=stats.gate_verdict(comparisons),
        sides=sides,
        comparisons=comparisons,
        command="pytest -q",
        environment=ENVIRONMENT,
        seed=5,
        settings={"runs": runs, "max_runs": 30, "time_threshold": 0.05, "memory_threshold": 0.10},
    )


def make_run(runs: int = 10, cv: float = 0.01, seed: int = 1, wall_s: float = 0.4) -> Results:
    """What `perfgate run` produces: one side named "run", no verdict."""
    rng = random.Random(seed)
    samples = make_samples(runs, side_index=0, wall_s=wall_s, cv=cv, rng=rng, paired=False)
    return Results(
        verdict=None,
        sides={"run": Side("", "", samples)},
        command="pytest -q",
        environment=ENVIRONMENT,
    )


def make_error(log_tail: str = "boom", runs_before: int = 3) -> Results:
    """A gate whose benchmark failed on head, with the runs measured before it."""
    rng = random.Random(7)
    base = make_samples(runs_before, side_index=0, rng=rng)
    head = make_samples(runs_before, side_index=1, rng=rng)
    failed = Sample(0.05, 0.04, 10_000_000, 10_000_000, 5, 2 * runs_before + 1)
    return Results(
        verdict="error",
        sides={
            "base": Side("main", "a" * 40, base),
            "head": Side("HEAD", "b" * 40, head + (failed,)),
        },
        command="pytest -q",
        environment=ENVIRONMENT,
        seed=5,
        error=(
            f"the benchmark failed on head: run {runs_before + 1} exited with code 5\n\n{log_tail}"
        ),
    )
