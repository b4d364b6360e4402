"""False alarms and power of each decision rule, on recorded CI noise and on fresh runs.

    python bench/decision_rules.py                 # the corpus, 1000 trials per cell
    python bench/decision_rules.py --fresh         # plus fresh runs on this machine

The corpus (../shared/noise) holds real back-to-back runs on a shared 2-core
VM.  A trial draws a window of 2n consecutive runs at a random place, takes
runs 0, 2, 4, ... as base and 1, 3, 5, ... as head (they alternated in time,
as perfgate's pairs do), multiplies head by 1 + slowdown, and asks each rule.
With no slowdown, a `regression` is a false alarm; with one, a hit (power).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rules import RULES, Rule  # noqa: E402

from perfgate.measure import RunSpec, measure  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "noise" / "vm-2core-a.json"
SLOWDOWNS = (0.0, 0.02, 0.05, 0.10, 0.20)
RUN_COUNTS = (5, 10, 20, 30)


def load_corpus(path: Path = CORPUS) -> dict[str, list[float]]:
    data = json.loads(path.read_text())
    return {
        name: [r["wall_s"] for r in w["runs"] if r["status"] == 0]
        for name, w in data["workloads"].items()
    }


def draw(series: Sequence[float], n: int, rng: random.Random) -> tuple[list[float], list[float]]:
    start = rng.randrange(0, len(series) - 2 * n + 1)
    window = series[start : start + 2 * n]
    return list(window[0::2]), list(window[1::2])


def rate(rule: Rule, pool: list[tuple[list[float], list[float]]], slowdown: float) -> float:
    hits = sum(rule(base, [v * (1 + slowdown) for v in head]) for base, head in pool)
    return hits / len(pool)


def table(title: str, pools: dict[int, list[tuple[list[float], list[float]]]]) -> str:
    lines = [f"### {title}", ""]
    header = "| rule | runs | false alarms | power 2% | power 5% | power 10% | power 20% |"
    lines += [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rule in RULES.items():
        for n, pool in pools.items():
            cells = [f"{rate(rule, pool, s):.1%}" for s in SLOWDOWNS]
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def corpus_pools(trials: int, seed: int) -> dict[int, list[tuple[list[float], list[float]]]]:
    rng = random.Random(seed)
    series = load_corpus()
    names = sorted(series)
    return {
        n: [draw(series[names[t % len(names)]], n, rng) for t in range(trials)] for n in RUN_COUNTS
    }


Pools = dict[int, list[tuple[list[float], list[float]]]]


def fresh_pools(trials: int, counts: Sequence[int]) -> Pools:
    """Back-to-back runs of a small real command on this machine, measured by perfgate."""
    code = "sum(i * i for i in range(300_000))"
    with tempfile.TemporaryDirectory() as tmp:
        spec = RunSpec((sys.executable, "-c", code), Path(tmp), dict(os.environ), 60,
                       Path(tmp) / "run.log")  # fmt: skip
        needed = max(counts) * 2 + trials * 2
        series = []
        for i in range(needed):
            series.append(measure(spec).wall_s)
            if i % 100 == 0:
                print(f"fresh runs: {i} of {needed}", file=sys.stderr, flush=True)
    rng = random.Random(1)
    return {n: [draw(series, n, rng) for _ in range(trials)] for n in counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fresh", action="store_true", help="also measure fresh runs here")
    parser.add_argument("--fresh-trials", type=int, default=200)
    args = parser.parse_args()
    started = time.monotonic()
    print(table(f"Recorded noise ({CORPUS.name}, {args.trials} trials per cell)",
                corpus_pools(args.trials, args.seed)))  # fmt: skip
    if args.fresh:
        pools = fresh_pools(args.fresh_trials, (5, 10, 20))
        print()
        print(table(f"Fresh runs on this machine ({args.fresh_trials} trials per cell)", pools))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
