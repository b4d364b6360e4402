"""The metrics perfgate gates on: one registry that every module reads.

A metric is measured (the `Sample` field it is read from), compared against
a threshold (the configuration key that sets it) and shown (its label, and
its unit, which says how a figure of it is written: seconds, bytes or a
count).  Before this registry the names, labels and units lived in four
lists (results, report.format, report.console, config) that had to be
changed together; now adding a metric is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Units, which also say how a figure is written (report/format.quantity).
SECONDS = "s"
BYTES = "B"
COUNT = "instructions"


@dataclass(frozen=True)
class Metric:
    """One gated metric: where its figure comes from, what gates it, how it reads."""

    name: str  #: as in `comparisons[].metric` of the results
    label: str  #: as a reader sees it: "wall time"
    field: str  #: the `results.Sample` attribute each run's figure is read from
    unit: str  #: SECONDS, BYTES or COUNT
    threshold_key: str  #: the configuration key (flag, `.perfgate.yml`, input) of its threshold

    @property
    def threshold_field(self) -> str:
        """The `Config` field (and results setting) that holds the threshold."""
        return self.threshold_key.replace("-", "_")


#: In the order the reports list them.  peak_memory gates on the whole process
#: tree, because a suite that starts worker processes is as hungry as all of
#: them together.  instructions is only there when the gate counted them
#: (`instructions: true`): see `results.Side.measures`.
METRICS: tuple[Metric, ...] = (
    Metric("wall_time", "wall time", "wall_s", SECONDS, "time-threshold"),
    Metric("cpu_time", "CPU time", "cpu_s", SECONDS, "time-threshold"),
    Metric("peak_memory", "peak memory", "tree_peak_rss_bytes", BYTES, "memory-threshold"),
    Metric("instructions", "instructions", "instructions", COUNT, "instructions-threshold"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def of_unit(unit: str) -> tuple[str, ...]:
    """The names of the metrics measured in `unit`, in registry order."""
    return tuple(m.name for m in METRICS if m.unit == unit)


def unit(name: str) -> str | None:
    """The unit of metric `name`; None for a name perfgate does not know (a foreign file)."""
    metric = BY_NAME.get(name)
    return metric.unit if metric else None
