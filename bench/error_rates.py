"""Error rates of the decision procedure (docs/statistics.md), fixed and adaptive.

    python bench/error_rates.py                    # both corpora, 1000 trials per cell
    python bench/error_rates.py --trials 200       # a quicker look

Each trial draws 30 interleaved pairs of one workload from a recorded noise
corpus (bench/corpus.py), plants a slowdown of 0, half, 80%, 100% or 200% of
the 5% threshold into head's wall time, and replays perfgate's decision:

- fixed 20 and fixed 30: one look (`runs` = `max-runs`), `stats.judge`'s level 1%;
- adaptive 10 to 30: the gate's planned looks (10, 15, 23, 30), each judged at
  its O'Brien-Fleming level by the same `stats.judge`, stopping once settled.

The first table is wall time alone (how often each verdict is reached, and
runs spent); the second is the whole gate on identical code: wall time, CPU
time and peak memory of the same runs, failed when any metric regressed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

from perfgate.compare import sequential, stats  # noqa: E402
from perfgate.results import Sample, Side  # noqa: E402

THRESHOLD = 0.05
THRESHOLDS = {"wall_time": THRESHOLD, "cpu_time": THRESHOLD, "peak_memory": 0.10}
SLOWDOWNS = (0.0, 0.5, 0.8, 1.0, 2.0)  # times the threshold
DESIGNS = {"fixed 20": (20, 20), "fixed 30": (30, 30), "adaptive 10-30": (10, 30)}
KINDS = ("regression", "unchanged", "inconclusive")


def sides(base: Sequence[tuple], head: Sequence[tuple]) -> tuple[Side, Side]:
    """(wall, cpu, memory) runs as the runner records them: pair k = orders 2k, 2k + 1."""

    def side(runs: Sequence[tuple], offset: int) -> Side:
        return Side("", "", tuple(
            Sample(w, c, int(m), int(m), 0, 2 * k + offset) for k, (w, c, m) in enumerate(runs)
        ))  # fmt: skip

    return side(base, 0), side(head, 1)


def replay(base, head, runs: int, max_runs: int, metrics: Sequence[str]) -> tuple[dict, int]:
    """The gate's decision on these runs: verdict per metric, and the runs it spent."""
    plan = sequential.Plan(THRESHOLDS, runs, max_runs)
    for n in plan.looks():
        b, h = sides(base[:n], head[:n])
        look = plan.look(n)
        found = [stats.compare_metric(b, h, m, THRESHOLDS[m], look) for m in metrics]
        if stats.settled(found) or n == max_runs:
            return {c.metric: c.verdict for c in found}, n
    raise AssertionError("the last look is always final")


def slowed(runs: Sequence[tuple], factor: float) -> list[tuple]:
    return [(w * factor, c, m) for w, c, m in runs]


def wall_table(name: str, trials: list[tuple[list, list]]) -> list[str]:
    lines = []
    for multiple in SLOWDOWNS:
        factor = 1 + multiple * THRESHOLD
        for design, (runs, max_runs) in DESIGNS.items():
            verdicts, spent = [], []
            for base, head in trials:
                found, n = replay(base, slowed(head, factor), runs, max_runs, ("wall_time",))
                verdicts.append(found["wall_time"])
                spent.append(n)
            shares = " | ".join(f"{verdicts.count(v) / len(trials):.1%}" for v in KINDS)
            lines.append(
                f"| {name} | {multiple:g}x = {multiple * THRESHOLD:.1%} | {design} | "
                f"{shares} | {statistics.fmean(spent):.1f} |"
            )
    return lines


def gate_table(name: str, trials: list[tuple[list, list]]) -> list[str]:
    lines = []
    metrics = ("wall_time", "cpu_time", "peak_memory")
    for design, (runs, max_runs) in DESIGNS.items():
        failed = 0
        by_metric = dict.fromkeys(metrics, 0)
        for base, head in trials:
            found, _ = replay(base, head, runs, max_runs, metrics)
            failed += any(v == "regression" for v in found.values())
            for m in metrics:
                by_metric[m] += found[m] == "regression"
        each = " / ".join(f"{by_metric[m] / len(trials):.1%}" for m in metrics)
        lines.append(f"| {name} | {design} | {failed / len(trials):.1%} | {each} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    wall = [
        "| corpus | slowdown | design | regression | unchanged | inconclusive "
        "| mean runs per side |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    gate = [
        "| corpus | design | gate failed | by metric (wall / CPU / peak memory) |",
        "|---|---|---:|---|",
    ]
    for path in corpus.CORPORA:
        series = corpus.load_runs(path)
        rng = random.Random(args.seed)
        names = sorted(series)
        trials = [
            corpus.draw_pairs(series[names[t % len(names)]], 30, rng) for t in range(args.trials)
        ]
        print(f"{path.name}: {', '.join(names)}", file=sys.stderr, flush=True)
        wall += wall_table(path.name, trials)
        gate += gate_table(path.name, trials)
    print(f"### Wall time, threshold 5%, {args.trials} trials per cell, seed {args.seed}\n")
    print("\n".join(wall))
    print(f"\n### The whole gate on identical code ({args.trials} trials per cell)\n")
    print("\n".join(gate))
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
