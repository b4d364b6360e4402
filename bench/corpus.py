"""The recorded noise corpus as A/B trials: alternate runs as the two interleaved sides.

The corpus (bench/noise, format in its README) holds real runs of a few
commands, back to back on a shared 2-core VM.  A trial takes 2n consecutive
runs from a random place; runs 2k and 2k + 1 form pair k, and a coin flip per
pair says which is base, exactly as perfgate's interleaved pairs run, so drift
and bursts hit both sides as they would in a real gate, and any difference
between the sides is noise.  A slowdown is planted by multiplying head.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "noise" / "vm-2core-a.json"
#: The second corpus, recorded for this repository by bench/record_noise.py: other
#: workloads (a real pytest suite, an I/O mix, a 1 s CPU loop), another hour.
CORPUS_B = Path(__file__).resolve().parent / "noise" / "vm-2core-b.json"
CORPORA = (CORPUS, CORPUS_B)


@dataclass(frozen=True)
class Trial:
    """One draw: which workload, and base and head values in run order (pair k = index k)."""

    workload: str
    base: tuple[float, ...]
    head: tuple[float, ...]

    def slowed(self, slowdown: float) -> tuple[float, ...]:
        """Head with a planted slowdown (0.05 = 5% slower): a factor, as real slowdowns are."""
        return tuple(v * (1 + slowdown) for v in self.head)


def load(path: Path = CORPUS, field: str = "wall_s") -> dict[str, list[float]]:
    """Each workload's successful runs, in the order they ran."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        name: [run[field] for run in workload["runs"] if run["status"] == 0]
        for name, workload in data["workloads"].items()
    }


def load_runs(path: Path = CORPUS) -> dict[str, list[tuple[float, float, int]]]:
    """Each workload's successful runs as (wall s, CPU s, peak memory bytes), in order:
    every metric of one run together, for the gate-wide false-alarm rate."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        name: [
            (run["wall_s"], run["cpu_s"], run["maxrss_kib"] * 1024)
            for run in workload["runs"]
            if run["status"] == 0
        ]
        for name, workload in data["workloads"].items()
    }


def draw(series: Sequence[Any], pairs: int, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """2 * pairs consecutive runs from a random place, split into alternate runs (base
    first in every pair): for the budget and shard benches, which never pair runs."""
    if len(series) < 2 * pairs:
        raise ValueError(f"a window of {2 * pairs} runs needs a longer series ({len(series)})")
    start = rng.randrange(0, len(series) - 2 * pairs + 1)
    window = series[start : start + 2 * pairs]
    return list(window[0::2]), list(window[1::2])


def draw_pairs(
    series: Sequence[Any], pairs: int, rng: random.Random
) -> tuple[list[Any], list[Any]]:
    """As `draw`, then a coin flip per pair says which of its two runs is base, as
    perfgate's runner orders them (measure/schedule.py): an effect of running first is
    then noise that both sides share, not a change, as in a real gate."""
    first, second = draw(series, pairs, rng)
    base, head = [], []
    for a, b in zip(first, second, strict=True):
        base_first = rng.random() < 0.5
        base.append(a if base_first else b)
        head.append(b if base_first else a)
    return base, head


def trials(
    series: Mapping[str, Sequence[float]], pairs: int, count: int, rng: random.Random
) -> list[Trial]:
    """`count` draws, the workloads taken in turn so each weighs the same."""
    names = sorted(series)
    drawn = []
    for t in range(count):
        name = names[t % len(names)]
        base, head = draw_pairs(series[name], pairs, rng)
        drawn.append(Trial(name, tuple(base), tuple(head)))
    return drawn


def pools(
    series: Mapping[str, Sequence[float]], run_counts: Sequence[int], count: int, seed: int
) -> dict[int, list[Trial]]:
    """Trials per run count, from one seeded generator: the same seed, the same table."""
    rng = random.Random(seed)
    return {n: trials(series, n, count, rng) for n in run_counts}
