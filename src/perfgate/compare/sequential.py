"""The planned looks of an adaptive gate, and how they spend the error (pure).

A Plan fixes the thresholds, the run counts at which the gate looks, and the
level each look may spend; compare/stats.py judges the samples at a look.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .ranks import _norm_sf, smallest_p

# --- Planned looks, and how they spend the error ----------------------------------------------
#
# A gate looks at its data at a few planned run counts and stops adding runs
# once the verdict is settled.  Testing at the full level at every look would
# multiply false alarms (and "unchanged" calls of real changes); testing at
# level / looks (Bonferroni) wastes most of the level on early looks that can
# hardly use it.  perfgate uses a group-sequential design instead: the level
# is spent over the looks by the Lan-DeMets spending function of O'Brien-
# Fleming type, which spends almost nothing early (4.3 standard errors needed
# at a third of the runs) and keeps the last look close to the fixed-run level.
# The boundaries are the exact ones of the canonical joint normal distribution
# of the look statistics (Armitage, McPherson and Rowe's recursive integration),
# and each look's p-value is compared with the nominal level of its boundary.
# docs/statistics.md writes the whole procedure down.

#: One-sided level of the regression test, per metric, over all the looks of a gate.
#: A gate that cries wolf gets switched off: 1%, not 5%.
ALPHA = 0.01
#: One-sided error of calling a change of the threshold's size `unchanged`, over all
#: the looks: the 95% interval of a fixed-run comparison has 2.5% on each side.
EQUIVALENCE = 0.025
#: Before the last look, `unchanged` needs the interval within this share of the
#: threshold: the intervals' coverage on real, bursty noise is a little below nominal
#: (bench/error_rates.py), and every early look is one more chance to be fooled.
INTERIM_MARGIN = 0.5
#: Power at which `detectable_change` is stated.
POWER = 0.8


def obrien_fleming_spent(fraction: float, level: float) -> float:
    """Error spent by the time `fraction` of the runs are in: 2 - 2 Phi(z(1 - level/2) /
    sqrt(fraction)) (Lan and DeMets 1983); all of `level` at the last look."""
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return level
    # 2 - 2 Phi(x) = erfc(x / sqrt 2), without the cancellation that made a first look at
    # 5% of the runs (10 of 200) spend exactly 0 and its boundary infinite.
    z = _NORMAL.inv_cdf(1 - level / 2) / math.sqrt(fraction)
    return min(level, math.erfc(z / math.sqrt(2)))


_NORMAL = statistics.NormalDist()
#: Simpson intervals per look in the recursive integration: enough for boundaries to 4
#: decimals (checked against published Lan-DeMets tables in tests/test_stats.py).
_GRID = 120


#: A boundary no look statistic reaches (z): a look that may spend nothing.
_NO_STOP = 40.0


def _simpson(low: float, high: float, intervals: int) -> tuple[list[float], list[float]]:
    h = (high - low) / intervals
    xs = [low + i * h for i in range(intervals + 1)]
    ws = [(1 if i in (0, intervals) else 4 if i % 2 else 2) * h / 3 for i in range(intervals + 1)]
    return xs, ws


@functools.lru_cache(maxsize=128)
def boundaries(fractions: tuple[float, ...], level: float) -> tuple[float, ...]:
    """z boundaries of a one-sided group-sequential test at the given information
    fractions (0 < t1 < ... <= 1) that spend `level` by `obrien_fleming_spent`.

    The score W(t) is Brownian motion; its density on the region where no look has
    stopped is carried from look to look (a Gaussian step of variance t_k - t_(k-1)),
    and each boundary is the one whose crossing probability is the look's share.
    """
    found: list[float] = []
    density: tuple[list[float], list[float], list[float]] | None = None
    previous_t = previous_spent = 0.0
    for t in fractions:
        share = obrien_fleming_spent(t, level) - previous_spent
        step = math.sqrt(t - previous_t)
        if density is None:
            # -z(share) rather than z(1 - share): 1 - 1e-30 is 1.0 in floating point.
            bound = (-_NORMAL.inv_cdf(share) if share > 0 else _NO_STOP) * math.sqrt(t)
        else:
            xs, ws, fs = density
            mass = [w * f for w, f in zip(ws, fs, strict=True)]

            def crossing(b: float, xs=xs, mass=mass, step=step) -> float:
                return sum(a * _norm_sf((b - x) / step) for x, a in zip(xs, mass, strict=True))

            low, high = -10.0, 12.0
            for _ in range(50):
                mid = (low + high) / 2
                low, high = (mid, high) if crossing(mid) > share else (low, mid)
            bound = (low + high) / 2
        found.append(bound / math.sqrt(t))
        nxs, nws = _simpson(-8 * math.sqrt(t), min(bound, 8 * math.sqrt(t)), _GRID)
        if density is None:
            scale = math.sqrt(t)
            norm = 1 / (scale * math.sqrt(2 * math.pi))
            nfs = [norm * math.exp(-0.5 * (x / scale) ** 2) for x in nxs]
        else:
            nfs = [_carried(y, xs, mass, step) for y in nxs]
        density = (nxs, nws, nfs)
        previous_t, previous_spent = t, obrien_fleming_spent(t, level)
    return tuple(found)


def _carried(y: float, xs: Sequence[float], mass: Sequence[float], step: float) -> float:
    """Density at y of the score one Gaussian step (sd `step`) after the points `xs`."""
    total = sum(a * math.exp(-0.5 * ((y - x) / step) ** 2) for x, a in zip(xs, mass, strict=True))
    return total / (step * math.sqrt(2 * math.pi))


def looks(runs: int, max_runs: int) -> list[int]:
    """Run counts at which an adaptive gate looks at its data: `runs`, then about
    1.5 times more each time, up to `max_runs` (10, 15, 23, 30 by default)."""
    points = [runs]
    while points[-1] < max_runs:
        points.append(min(max_runs, math.ceil(points[-1] * 1.5)))
    return points


@dataclass(frozen=True)
class Look:
    """Where a comparison stands in its gate's looks, and the levels it is judged at.

    `regression_level` is the one-sided p-value a change must reach at this look;
    `equivalence_level` the one-sided error of each end of the interval that must lie
    within the threshold for `unchanged`.  A fixed-run comparison is one final look.
    """

    runs: int
    index: int = 1
    count: int = 1
    regression_level: float = ALPHA
    equivalence_level: float = EQUIVALENCE
    final: bool = True


FIXED = Look(runs=0)


@dataclass(frozen=True)
class Plan:
    """How a gate decides: thresholds per metric, the planned looks, the levels.

    The gate and `perfgate compare` both build the verdict from a Plan and the
    samples (`judge`), so that a gate's results re-judged give the gate's verdict.
    """

    thresholds: Mapping[str, float]
    runs: int
    max_runs: int
    level: float = ALPHA
    equivalence: float = EQUIVALENCE

    @classmethod
    def fixed(cls, thresholds: Mapping[str, float], runs: int) -> Plan:
        """One look at `runs` (two saved runs compared, or runs == max-runs)."""
        return cls(dict(thresholds), runs, runs)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], thresholds: Mapping[str, float]) -> Plan:
        """The plan a gate recorded in its results' settings (see `settings`)."""
        runs, max_runs = int(settings["runs"]), int(settings["max_runs"])
        level = float(settings.get("level", ALPHA))
        equivalence = float(settings.get("equivalence_level", EQUIVALENCE))
        return cls(dict(thresholds), runs, max_runs, level, equivalence)

    def settings(self) -> dict[str, Any]:
        """What the results JSON records, so that the verdict can be re-judged exactly."""
        return {
            "level": self.level,
            "equivalence_level": self.equivalence,
            "looks": self.looks(),
            "spending": "O'Brien-Fleming (Lan-DeMets), one-sided, per metric",
        }

    def looks(self) -> list[int]:
        return looks(self.runs, self.max_runs)

    def look(self, runs: int) -> Look:
        """The look at `runs` runs per side: the planned looks below it were taken, and
        this one is final when it reaches max-runs.  A gate stopped between planned looks
        (by its time budget) is judged at a look of its own: spending functions allow
        looks at any time, as long as the levels follow from the fractions alone."""
        taken = [n for n in self.looks() if n < min(runs, self.max_runs)] + [runs]
        fractions = tuple(min(1.0, n / self.max_runs) for n in taken)
        regression = boundaries(fractions, self.level)[-1]
        equivalence = boundaries(fractions, self.equivalence)[-1]
        return Look(
            runs=runs,
            index=len(taken),
            count=max(len(taken), len(self.looks())),
            regression_level=_norm_sf(regression),
            equivalence_level=_norm_sf(equivalence),
            final=runs >= self.max_runs,
        )

    def unreachable(self) -> str | None:
        """Why these settings can never find a regression, or None when they can.

        With n runs a side the smallest p-value is 1 / C(2n, n); when even the last
        look's level is below it, a threefold slowdown would pass as inconclusive.
        """
        last = self.look(self.max_runs)
        if smallest_p(self.max_runs, self.max_runs) <= last.regression_level:
            return None
        fewest = self.max_runs
        while (
            smallest_p(fewest, fewest)
            > Plan(self.thresholds, min(self.runs, fewest), fewest, self.level, self.equivalence)
            .look(fewest)
            .regression_level
        ):
            fewest += 1
        key = "max-runs" if self.max_runs > self.runs else "runs"
        return (
            f"{key}: {self.max_runs} runs per side can never show a regression at the "
            f"{self.level:.0%} level (the smallest p-value of {self.max_runs} runs a side is "
            f"{smallest_p(self.max_runs, self.max_runs):.3g}, the last look needs "
            f"{last.regression_level:.3g} or less); use at least {fewest} runs per side"
        )
