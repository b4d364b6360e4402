"""False alarms and power of each decision rule, on recorded CI noise and on fresh runs.

    python bench/decision_rules.py                 # the corpus, 1000 trials per cell
    python bench/decision_rules.py --fresh         # plus fresh runs on this machine
    python bench/decision_rules.py --tune          # perfgate's choices: alpha, threshold, pairing
    python bench/decision_rules.py --ceiling       # what any rule could reach on this noise

A trial (bench/corpus.py) draws 2n consecutive runs of one workload at a
random place, takes alternate runs as base and head (they alternated in time,
as perfgate's pairs do), multiplies head by 1 + slowdown, and asks each rule.
With no slowdown, a `regression` is a false alarm; with one, a hit (power).
The same seed draws the same windows for every rule, so rules differ only by
how they decide.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from corpus import Trial  # noqa: E402
from rules import RULES, Rule, perfgate  # noqa: E402

SLOWDOWNS = (0.0, 0.02, 0.05, 0.10, 0.20)
RUN_COUNTS = (5, 10, 20, 30)
Pools = dict[int, list[Trial]]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rate(rule: Rule, pool: Sequence[Trial], slowdown: float) -> float:
    """Share of trials the rule calls a regression once head is `slowdown` slower."""
    return sum(rule(t.base, t.slowed(slowdown)) for t in pool) / len(pool)


def table(title: str, pools: Pools, rules: dict[str, Rule] = RULES) -> str:
    lines = [f"### {title}", ""]
    header = "| rule | runs | false alarms | power 2% | power 5% | power 10% | power 20% |"
    lines += [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, rule in rules.items():
        progress(f"  {name}")
        for n, pool in pools.items():
            cells = [f"{rate(rule, pool, s):.1%}" for s in SLOWDOWNS]
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- Tuning perfgate's rule ------------------------------------------------------------------

TUNE_ALPHAS = (0.005, 0.01, 0.02)
TUNE_THRESHOLDS = (0.02, 0.05)


def by_workload(rule: Rule, pool: Sequence[Trial], slowdown: float) -> str:
    """Power per workload, so a mixed figure can be read: which noise costs what."""
    names = sorted({t.workload for t in pool})
    shares = []
    for name in names:
        mine = [t for t in pool if t.workload == name]
        shares.append(f"{rate(rule, mine, slowdown):.0%}")
    return " / ".join(shares)


def tune_table(pools: Pools) -> str:
    """The grid perfgate's ALPHA and PAIRED were chosen from (on the corpus only)."""
    names = " / ".join(sorted({t.workload for pool in pools.values() for t in pool}))
    lines = [
        "### Tuning perfgate's rule on the corpus",
        "",
        f"| pairing | one-sided level | threshold | runs | false alarms | power 2% | power 5% "
        f"| power 10% | power 20% | power 5% by workload ({names}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for paired in (False, True):
        for alpha in TUNE_ALPHAS:
            for threshold in TUNE_THRESHOLDS:
                progress(f"  paired={paired} alpha={alpha} threshold={threshold}")
                rule = perfgate(threshold, alpha, paired)
                for n, pool in pools.items():
                    cells = " | ".join(f"{rate(rule, pool, s):.1%}" for s in SLOWDOWNS)
                    lines.append(
                        f"| {'paired' if paired else 'unpaired'} | {alpha:.1%} | "
                        f"{threshold:.0%} | {n} | {cells} | {by_workload(rule, pool, 0.05)} |"
                    )
    return "\n".join(lines)


# --- The ceiling: an oracle that knows the noise ----------------------------------------------


def _log(values: Sequence[float]) -> list[float]:
    return [math.log(v) for v in values]


def hodges_lehmann_unpaired(base: Sequence[float], head: Sequence[float]) -> float:
    return statistics.median(y - x for x in _log(base) for y in _log(head))


def hodges_lehmann_paired(base: Sequence[float], head: Sequence[float]) -> float:
    d = [y - x for x, y in zip(_log(base), _log(head), strict=True)]
    return statistics.median((d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d)))


def median_difference(base: Sequence[float], head: Sequence[float]) -> float:
    return statistics.median(_log(head)) - statistics.median(_log(base))


def mean_difference(base: Sequence[float], head: Sequence[float]) -> float:
    return statistics.fmean(_log(head)) - statistics.fmean(_log(base))


CEILING_STATISTICS: dict[str, Callable[[Sequence[float], Sequence[float]], float]] = {
    "Hodges-Lehmann, unpaired": hodges_lehmann_unpaired,
    "Hodges-Lehmann, paired": hodges_lehmann_paired,
    "median difference": median_difference,
    "mean difference": mean_difference,
}


def oracle_power(statistic, pool: Sequence[Trial], slowdown: float) -> float:
    """Power of "statistic above its own 99th percentile under no change", that
    percentile read off these very trials: a rule that knows the noise exactly,
    which no real rule does.  The statistics are shift-equivariant on the log
    scale, so a planted slowdown adds log(1 + slowdown) to each null value."""
    null = sorted(statistic(t.base, t.head) for t in pool)
    critical = null[math.ceil(0.99 * len(null)) - 1]
    shift = math.log1p(slowdown)
    return sum(v + shift > critical for v in null) / len(null)


def ceiling_table(pools: Pools) -> str:
    names = sorted({t.workload for pool in pools.values() for t in pool})
    lines = [
        "### The ceiling: an oracle calibrated on the corpus itself, 1% false alarms per workload",
        "",
        "| statistic | runs | power 5% (mean of workloads) | power 5% by workload ("
        + " / ".join(names)
        + ") | power 10% (mean) |",
        "|---|---:|---:|---|---:|",
    ]
    for label, statistic in CEILING_STATISTICS.items():
        progress(f"  {label}")
        for n, pool in pools.items():
            per5, per10 = [], []
            for name in names:
                mine = [t for t in pool if t.workload == name]
                per5.append(oracle_power(statistic, mine, 0.05))
                per10.append(oracle_power(statistic, mine, 0.10))
            lines.append(
                f"| {label} | {n} | {statistics.fmean(per5):.1%} | "
                + " / ".join(f"{p:.0%}" for p in per5)
                + f" | {statistics.fmean(per10):.1%} |"
            )
    return "\n".join(lines)


# --- The targets at 20 runs per side, on every corpus -------------------------------------------

TARGET_RUNS = 20


def targets_table(trials: int, seed: int) -> str:
    """False alarms (target: at most 1%), power at 10% (at least 95%) and at 5% (within 10
    points of the oracle), at 20 runs a side, on each corpus: never judged on one alone."""
    lines = [
        f"### Targets at {TARGET_RUNS} runs per side ({trials} trials per cell)",
        "",
        "| corpus | rule | false alarms | power 5% | power 10% | oracle 5% | oracle 10% "
        "| 5%: points below the oracle |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    rules = {name: RULES[name] for name in RULES if name.startswith(("perfgate", "asv"))}
    for path in corpus.CORPORA:
        pool = corpus.pools(corpus.load(path), (TARGET_RUNS,), trials, seed)[TARGET_RUNS]
        names = sorted({t.workload for t in pool})
        oracle = {}
        for slowdown in (0.05, 0.10):
            per = [
                oracle_power(
                    hodges_lehmann_unpaired, [t for t in pool if t.workload == n], slowdown
                )
                for n in names
            ]
            oracle[slowdown] = statistics.fmean(per)
        for name, rule in rules.items():
            progress(f"  {path.name}: {name}")
            alarms, p5, p10 = (rate(rule, pool, s) for s in (0.0, 0.05, 0.10))
            lines.append(
                f"| {path.name} | {name} | {alarms:.1%} | {p5:.1%} | {p10:.1%} | "
                f"{oracle[0.05]:.1%} | {oracle[0.10]:.1%} | {(oracle[0.05] - p5) * 100:.1f} |"
            )
    return "\n".join(lines)


# --- Fresh runs on the machine at hand ----------------------------------------------------------

FRESH_COMMANDS = {
    "cpu_40ms": "sum(i * i for i in range(300_000))",
    "imports": "import json, decimal, email.parser, http.client",
}


def fresh_series(runs_per_command: int) -> dict[str, list[float]]:
    """Back-to-back runs of small real commands, measured by perfgate.measure.run."""
    from perfgate.measure.run import RunSpec, measure

    series: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, code in FRESH_COMMANDS.items():
            spec = RunSpec(
                (sys.executable, "-c", code), Path(tmp), dict(os.environ), 60, Path(tmp) / "log"
            )
            values = []
            for i in range(runs_per_command):
                sample = measure(spec, order=i)
                if not sample.ok:
                    raise SystemExit(f"fresh run of {name} failed (exit {sample.exit_code})")
                values.append(sample.wall_s)
                if i % 100 == 0:
                    progress(f"fresh runs of {name}: {i} of {runs_per_command}")
            series[name] = values
    return series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="trials per cell (corpus)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fresh", action="store_true", help="also measure fresh runs here")
    parser.add_argument("--fresh-trials", type=int, default=200)
    parser.add_argument(
        "--fresh-runs", type=int, default=300, help="runs measured per fresh command"
    )
    parser.add_argument("--tune", action="store_true", help="print perfgate's tuning grid")
    parser.add_argument("--ceiling", action="store_true", help="print the oracle's ceiling")
    parser.add_argument("--corpus", type=Path, default=corpus.CORPUS, help="noise corpus")
    parser.add_argument(
        "--targets", action="store_true", help="only the 20-run targets on every corpus"
    )
    args = parser.parse_args()
    started = time.monotonic()
    if args.targets:
        print(targets_table(args.trials, args.seed))
        progress(f"({time.monotonic() - started:.0f} s)")
        return 0
    pools = corpus.pools(corpus.load(args.corpus), RUN_COUNTS, args.trials, args.seed)
    title = f"Recorded noise ({args.corpus.name}, {args.trials} trials per cell)"
    progress(title)
    print(table(title, pools))
    if args.tune:
        print()
        print(tune_table(pools))
    if args.ceiling:
        print()
        print(ceiling_table(pools))
    if args.fresh:
        series = fresh_series(args.fresh_runs)
        fresh = corpus.pools(series, RUN_COUNTS, args.fresh_trials, args.seed)
        names = ", ".join(FRESH_COMMANDS)
        title = f"Fresh runs on this machine ({names}; {args.fresh_trials} trials per cell)"
        progress(title)
        print()
        print(table(title, fresh))
    progress(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
