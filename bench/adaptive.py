"""Adaptive sampling on recorded noise: runs spent and verdicts, against always max-runs.

    python bench/adaptive.py

Each trial draws 30 pairs from the corpus (as decision_rules.py does), plants
a slowdown, and replays perfgate's schedule: look at `runs` pairs, then at
the planned looks (stats.looks) up to max-runs, stopping once no metric is
inconclusive; every look is tested at ALPHA / number of looks.  The fixed
design always spends max-runs and tests once at ALPHA.
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from rules import sides  # noqa: E402

from perfgate import stats  # noqa: E402

RUNS, MAX_RUNS, THRESHOLD, TRIALS = 10, 30, 0.05, 1000


def verdict(base, head, n, alpha) -> str:
    b, h = sides(base[:n], head[:n])
    return stats.compare_metric(b, h, "wall_time", THRESHOLD, alpha).verdict


def adaptive(base, head) -> tuple[str, int]:
    looks = stats.looks(RUNS, MAX_RUNS)
    alpha = stats.ALPHA / len(looks)
    for n in looks:
        result = verdict(base, head, n, alpha)
        if result != "inconclusive":
            return result, n
    return result, MAX_RUNS


def main() -> int:
    rng = random.Random(7)
    series = corpus.load()
    names = sorted(series)
    print("| slowdown | design | mean runs per side | regression | unchanged | inconclusive |")
    print("|---:|---|---:|---:|---:|---:|")
    for slowdown in (0.0, 0.05, 0.10, 0.20):
        fixed, adapt, spent = [], [], []
        for t in range(TRIALS):
            base, head = corpus.draw(series[names[t % len(names)]], MAX_RUNS, rng)
            head = [v * (1 + slowdown) for v in head]
            fixed.append(verdict(base, head, MAX_RUNS, stats.ALPHA))
            result, n = adaptive(base, head)
            adapt.append(result)
            spent.append(n)
        for name, verdicts, runs in (("fixed", fixed, MAX_RUNS), ("adaptive", adapt, None)):
            mean_runs = statistics.fmean(spent) if runs is None else runs
            kinds = ("regression", "unchanged", "inconclusive")
            shares = " | ".join(f"{verdicts.count(v) / TRIALS:.1%}" for v in kinds)
            print(f"| {slowdown:.0%} | {name} | {mean_runs:.1f} | {shares} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
