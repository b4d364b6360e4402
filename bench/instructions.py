"""Instructions against wall time: run-to-run variation and power on a planted slowdown.

Issue 4, item 6.  A real Python workload (a dict and a sort over N keys) is
run as base (N) and as head (N * (1 + slowdown)), interleaved in shuffled
rounds on the machine at hand:

- wall time with perfgate's measure() (cheap: many runs per side);
- instructions with perfgate's counter (instructions.find_counter: hardware
  counters when the machine has them, else callgrind, 20-100x slower), once
  with the hash seed fixed (PYTHONHASHSEED=0, what perfgate's counted runs
  get by default) and once with Python's random hash seed.

It prints the coefficient of variation of each metric per side, the median
change each metric sees, and, by drawing n runs per side from the recorded
pools many times, how often perfgate's own verdict rule (stats.compare_metric,
threshold 2%) calls the planted slowdown a regression (power) and how often
it calls two draws from the base pool a regression (false alarms).

    .venv/bin/python bench/instructions.py [--rounds 12] [--wall-runs 30]

The pools are small (the counted runs are slow), so draws overlap and the
rates are indications, not the 1000-trial cells of the decision-rule benchmark.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from perfgate.compare import stats
from perfgate.measure.instructions import Counter, count_instructions, find_counter
from perfgate.measure.run import RunSpec, measure
from perfgate.results import Sample, Side

PY = sys.executable
WORKLOAD = textwrap.dedent(
    """
    import sys
    n = int(sys.argv[1])
    table = {}
    for i in range(n):
        table[f"key-{i}"] = (i * 7919) % 1000003
    ordered = sorted(table, key=table.get)
    print(len(ordered), ordered[0])
    """
)
THRESHOLD = 0.02


def wall_pools(
    script: Path, sizes: Mapping[str, int], runs: int, rng: random.Random, workdir: Path
) -> dict[str, list[float]]:
    pools: dict[str, list[float]] = {side: [] for side in sizes}
    for _ in range(runs):
        for side in rng.sample(list(sizes), len(sizes)):
            spec = RunSpec(
                (PY, str(script), str(sizes[side])),
                workdir,
                dict(os.environ),
                120,
                workdir / "wall.log",
            )
            sample = measure(spec)
            assert sample.ok, (workdir / "wall.log").read_text()
            pools[side].append(sample.wall_s)
    return pools


def instruction_pools(
    script: Path,
    sizes: Mapping[str, int],
    runs: int,
    counter: Counter,
    env: Mapping[str, str],
    rng: random.Random,
    workdir: Path,
) -> dict[str, list[float]]:
    pools: dict[str, list[float]] = {side: [] for side in sizes}
    for _ in range(runs):
        for side in rng.sample(list(sizes), len(sizes)):
            spec = RunSpec(
                (PY, str(script), str(sizes[side])), workdir, env, 120, workdir / "count.log"
            )
            sample = count_instructions(spec, counter)
            assert sample.ok and sample.instructions, (workdir / "count.log").read_text()
            pools[side].append(float(sample.instructions))
    return pools


def verdict(base: Sequence[float], head: Sequence[float]) -> str:
    """perfgate's rule on any metric: the values ride in wall_s, runs unpaired (order -1)."""

    def side(values: Sequence[float]) -> Side:
        return Side("", "", tuple(Sample(v, 0.0, 0, 0, 0, -1) for v in values))

    return stats.compare_metric(side(base), side(head), "wall_time", THRESHOLD).verdict


def rates(
    pools: Mapping[str, list[float]], n: int, trials: int, rng: random.Random
) -> tuple[float, float | None]:
    """(power, false-alarm rate) over `trials` draws of n runs per side."""
    base, head = pools["base"], pools["head"]
    hits = sum(
        verdict(rng.sample(base, n), rng.sample(head, n)) == "regression" for _ in range(trials)
    )
    if 2 * n > len(base):
        return hits / trials, None  # not enough base runs for two disjoint halves
    alarms = 0
    for _ in range(trials):
        drawn = rng.sample(base, 2 * n)
        alarms += verdict(drawn[:n], drawn[n:]) == "regression"
    return hits / trials, alarms / trials


def cv(values: Sequence[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="counted runs per side")
    parser.add_argument("--wall-runs", type=int, default=30, help="timed runs per side")
    parser.add_argument("--size", type=int, default=100_000, help="keys in base's workload")
    parser.add_argument("--slowdown", type=float, default=0.05, help="planted extra work")
    parser.add_argument("--trials", type=int, default=1000, help="draws per cell")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    detection = find_counter()
    print(f"# instructions against wall time ({os.cpu_count()} cores)\n")
    for finding in detection.findings:
        print(f"- {finding}")
    if detection.counter is None:
        print("\nNo instruction counter on this machine: nothing to compare.")
        return
    counter = detection.counter
    rng = random.Random(args.seed)
    sizes = {"base": args.size, "head": round(args.size * (1 + args.slowdown))}
    with tempfile.TemporaryDirectory(prefix="perfgate-instructions-bench-") as tmp:
        workdir = Path(tmp)
        script = workdir / "workload.py"
        script.write_text(WORKLOAD)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
        pools = {
            "wall time": wall_pools(script, sizes, args.wall_runs, rng, workdir),
            "instructions, PYTHONHASHSEED=0 (default)": instruction_pools(
                script, sizes, args.rounds, counter, env, rng, workdir
            ),
            "instructions, random hash seed": instruction_pools(
                script, sizes, args.rounds, counter, {**env, "PYTHONHASHSEED": "random"}, rng,
                workdir,
            ),
        }  # fmt: skip
    print(
        f"\nWorkload: a dict and a sort over {sizes['base']:,} keys (base) and "
        f"{sizes['head']:,} keys (head, {args.slowdown:.0%} more loop work); counter: "
        f"{counter.note}; verdicts by stats.compare_metric at threshold {THRESHOLD:.0%}, "
        f"{args.trials} draws per cell.\n"
    )
    sample_sizes = (5, 10)
    header = (
        "| metric | runs per side | CV base | CV head | median change | "
        + " | ".join(f"power n={n} | false alarms n={n}" for n in sample_sizes)
        + " |"
    )
    print(header)
    print("|---" * (5 + 2 * len(sample_sizes)) + "|")
    for name, pool in pools.items():
        change = statistics.median(pool["head"]) / statistics.median(pool["base"]) - 1
        cells = []
        for n in sample_sizes:
            if n > len(pool["base"]):
                cells += ["n/a", "n/a"]
                continue
            power, alarms = rates(pool, n, args.trials, rng)
            cells += [f"{power:.0%}", "n/a" if alarms is None else f"{alarms:.1%}"]
        print(
            f"| {name} | {len(pool['base'])} | {cv(pool['base']):.2%} | {cv(pool['head']):.2%} | "
            f"{change:+.2%} | " + " | ".join(cells) + " |"
        )


if __name__ == "__main__":
    main()
