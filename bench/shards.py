"""Shards: the power of N shards of R pairs merged, against N x R pairs on one machine.

    python bench/shards.py                     # both corpora, 400 trials per cell
    python bench/shards.py --trials 100        # a quicker look

Each trial replays perfgate's decision on wall time (threshold 5%, level 1%, one
fixed look, as `perfgate merge` judges) on runs from a recorded noise corpus
(bench/corpus.py), with a planted slowdown of 0, 7.5% or 10% in head (1.5 and 2 times
the threshold: at the threshold itself a rule that asks the estimate to pass it finds
about half):

- one machine, N x R pairs: 2 N R consecutive runs of one workload, alternately
  base and head (how perfgate interleaves), judged by the ordinary unstratified test;
- N shards of R pairs, merged: N windows of 2 R consecutive runs, each from its own
  random place in the recording (another moment, another load), each multiplied,
  both sides alike, by a runner offset; judged by `perfgate merge`'s test (van
  Elteren's stratified test, compare/stratified.py) through `stats.compare_metric`;
- the same shards pooled: the shards' runs judged as if from one machine, to show
  what the stratification buys.

The runner offsets are either drawn from bench/noise/offsets-vm-2core.json (the
medians of sessions of one workload recorded minutes apart on this machine under
other sessions' load, by bench/record_offsets.py: each shard gets the ratio of a
random session's median to the median of all sessions), or one runner 30% slower
than the others.  Wall time: each runner makes 2 R runs plus its warm-ups, against
2 N R on one machine; the setup (checkout, install) is paid once per runner.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

from perfgate.compare import sequential, stats, stratified  # noqa: E402
from perfgate.results import Sample, Side  # noqa: E402

THRESHOLD = 0.05
SLOWDOWNS = (0.0, 0.075, 0.10)
SHARD_COUNTS = (1, 2, 3, 5)
RUNS_PER_SHARD = 10
OFFSETS = Path(__file__).resolve().parent / "noise" / "offsets-vm-2core.json"


def session_offsets(path: Path = OFFSETS) -> list[float]:
    """Each recorded session's median wall time over the median of all sessions' medians."""
    data = json.loads(path.read_text(encoding="utf-8"))
    medians = [statistics.median(r["wall_s"] for r in s["runs"] if r["status"] == 0)
               for s in data["sessions"]]  # fmt: skip
    centre = statistics.median(medians)
    return [m / centre for m in medians]


def side(values: Sequence[float], offset: int) -> Side:
    return Side("", "", tuple(Sample(v, v, 10**7, 10**7, 0, 2 * k + offset)
                              for k, v in enumerate(values)))  # fmt: skip


def verdict(base: Sequence[float], head: Sequence[float], blocks: Sequence[int] | None) -> str:
    """Wall time judged at one fixed look over all the runs, stratified by `blocks` if given."""
    look = sequential.Plan.fixed({"wall_time": THRESHOLD}, len(base)).look(len(base))
    test = stratified.blocked_test(blocks, blocks) if blocks else None
    return stats.compare_metric(
        side(base, 0), side(head, 1), "wall_time", THRESHOLD, look, test=test
    ).verdict


def one_machine(series: Sequence[float], count: int, slowdown: float, rng: random.Random):
    base, head = corpus.draw(series, RUNS_PER_SHARD * count, rng)
    return verdict(base, [v * (1 + slowdown) for v in head], None)


def sharded(
    series: Sequence[float],
    count: int,
    slowdown: float,
    rng: random.Random,
    offset: Callable[[int, random.Random], float],
) -> tuple[str, str]:
    """(merged verdict, pooled verdict) of `count` shards of RUNS_PER_SHARD pairs."""
    base: list[float] = []
    head: list[float] = []
    blocks: list[int] = []
    for shard in range(count):
        b, h = corpus.draw(series, RUNS_PER_SHARD, rng)
        factor = offset(shard, rng)
        base += [v * factor for v in b]
        head += [v * factor * (1 + slowdown) for v in h]
        blocks += [shard] * RUNS_PER_SHARD
    return verdict(base, head, blocks), verdict(base, head, None)


def table(name: str, series: dict[str, list[float]], trials: int, seed: int,
          offsets: Sequence[float]) -> list[str]:  # fmt: skip
    measured = lambda shard, rng: rng.choice(offsets)  # noqa: E731
    one_slow = lambda shard, rng: 1.3 if shard == 0 else 1.0  # noqa: E731
    names = sorted(series)
    lines = [
        f"### {name}, {trials} trials per cell, {RUNS_PER_SHARD} pairs per shard",
        "",
        "| shards N | slowdown | one machine, N×10 pairs | merged, measured offsets | "
        "pooled, measured offsets | merged, one runner +30% | pooled, one runner +30% | "
        "runs' wall time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in SHARD_COUNTS:
        for slowdown in SLOWDOWNS:
            rng = random.Random(f"{seed} {name} {count} {slowdown}")
            found = {k: 0 for k in ("one", "merged", "pooled", "merged30", "pooled30")}
            for t in range(trials):
                workload = series[names[t % len(names)]]
                found["one"] += one_machine(workload, count, slowdown, rng) == "regression"
                merged, pooled = sharded(workload, count, slowdown, rng, measured)
                found["merged"] += merged == "regression"
                found["pooled"] += pooled == "regression"
                merged, pooled = sharded(workload, count, slowdown, rng, one_slow)
                found["merged30"] += merged == "regression"
                found["pooled30"] += pooled == "regression"
            shares = " | ".join(f"{found[k] / trials:.1%}" for k in found)
            lines.append(f"| {count} | {slowdown:.1%} | {shares} | {wall_share(count):.0%} |")
    return lines


def wall_share(count: int, warmup: int = 1) -> float:
    """A shard's runs (2 R measured, 2 warm-ups) against one machine's (2 N R, 2 warm-ups):
    the wall time of the runs, the runners working side by side."""
    return (2 * RUNS_PER_SHARD + 2 * warmup) / (2 * RUNS_PER_SHARD * count + 2 * warmup)


def offsets_summary(offsets: Sequence[float]) -> str:
    logs = [math.log(o) for o in offsets]
    low, _, high = statistics.quantiles(offsets, n=4)
    return (
        f"{len(offsets)} sessions; offsets from {min(offsets):.3f} to {max(offsets):.3f} "
        f"(sd of the log {statistics.stdev(logs):.3f}, interquartile {low:.3f} to {high:.3f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--offsets", type=Path, default=OFFSETS, help="recorded sessions")
    args = parser.parse_args()
    offsets = session_offsets(args.offsets)
    print(f"runner offsets ({args.offsets.name}): {offsets_summary(offsets)}\n")
    started = time.monotonic()
    for path in corpus.CORPORA:
        series = corpus.load(path)
        print("\n".join(table(path.name, series, args.trials, args.seed, offsets)) + "\n")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
