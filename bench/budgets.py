"""How often a budget is called over or met wrongly, on recorded CI noise.

    python bench/budgets.py                  # both corpora, 500 trials per row (4 min)
    python bench/budgets.py --trials 300     # a quicker look

Each trial draws 30 interleaved pairs of one workload from a recorded noise
corpus (bench/corpus.py), base and head the same code, and replays the gate:
fixed 10, fixed 30, and the adaptive 10-to-30 design stopping at its planned
looks exactly as `stats.judge` decides (bench/error_rates.py's replay).  On
the runs the gate ended with, head's wall time is judged against a budget set
relative to the workload's median over its whole recording (its "true"
median): at it (the worst case for a false `over` and a false `met`), and 10%
and 20% either side.  The table gives how often each verdict was reached.

The corpus drifts within its hour, so a window's own median is not the whole
recording's: the rates at the limit include that drift, which a real gate
meets too (a budget speaks of the machine the gate ran on, at that time).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from error_rates import DESIGNS, replay, sides  # noqa: E402

from perfgate.compare import budgets  # noqa: E402
from perfgate.options import Budget  # noqa: E402

#: Budget limits as a share of the true median: 0.8 means the median is 25% over it.
LIMITS = (0.8, 0.9, 1.0, 1.1, 1.2)
DESIGN_RUNS = {
    "fixed 10": (10, 10),
    "fixed 30": (30, 30),
    "adaptive 10-30": DESIGNS["adaptive 10-30"],
}
METRICS = {"wall_time": 0, "cpu_time": 1}
#: How a trial's 60 runs are taken: consecutive (the drift of the hour included), or drawn
#: at random from the whole recording (no drift: the runs are then independent draws of
#: one distribution, what the interval's 1% per end assumes).
MODES = ("consecutive", "shuffled")


def table(name: str, series: dict, names: list[str], mode: str, args) -> list[str]:
    """One corpus in one mode: every design, metric and limit."""
    truth = {
        (n, m): statistics.median(run[i] for run in series[n])
        for n in names
        for m, i in METRICS.items()
    }
    rng = random.Random(args.seed)
    drawn = []
    for t in range(args.trials):
        workload = names[t % len(names)]
        runs = series[workload]
        if mode == "shuffled":
            runs = rng.sample(runs, 60)
        drawn.append((workload, *corpus.draw(runs, 30, rng)))
    lines = []
    for design, (runs, max_runs) in DESIGN_RUNS.items():
        ended = []
        for workload, base, head in drawn:
            _, n = replay(base, head, runs, max_runs, ("wall_time", "cpu_time", "peak_memory"))
            ended.append((workload, sides(base[:n], head[:n])[1], n))
        mean_runs = statistics.fmean(n for _, _, n in ended)
        for metric in METRICS:
            for share in LIMITS:
                found = []
                for workload, head_side, _ in ended:
                    limit = truth[(workload, metric)] * share
                    budget = Budget(metric, metric, limit, "")
                    found.append(budgets.judge([budget], head_side)[0].verdict)
                rates = " | ".join(
                    f"{found.count(v) / len(found):.1%}"
                    for v in (budgets.OVER, budgets.NEAR, budgets.MET)
                )
                lines.append(
                    f"| {name} | {mode} | {metric} | {share:g} | {design} | {rates} "
                    f"| {mean_runs:.1f} |"
                )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    started = time.monotonic()
    lines = [
        "| corpus | runs | metric | limit / true median | design | over | near | met | mean runs |",
        "|---|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for path in corpus.CORPORA:
        series = corpus.load_runs(path)
        names = sorted(series)
        for mode in MODES:
            lines += table(path.name, series, names, mode, args)
        print(f"{path.name}: {', '.join(names)}", file=sys.stderr, flush=True)
    print(f"### Budgets, identical code, {args.trials} trials per row, seed {args.seed}\n")
    print("\n".join(lines))
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
