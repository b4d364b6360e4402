"""The `perfgate/1` results: the contract between measuring, deciding and telling.

Everything that crosses a module line travels as one of these frozen
dataclasses, and everything a consumer reads (the comment, `perfgate publish`,
other tools) comes from their JSON form.  Raw samples are always kept: a
verdict without its evidence cannot be checked, and a later, better rule can
re-judge old runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .metrics import BY_NAME, COUNT, NAMES

SCHEMA = "perfgate/1"

VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "too short")
GATE_VERDICTS = ("pass", "fail", "error")
#: The decision of a gate whose metrics did not regress but were too noisy to tell.
NO_VERDICT = "no verdict"


@dataclass(frozen=True)
class Sample:
    """One run of the benchmark command on one side.

    `order` is the run's position in the interleaved schedule (warm-ups are
    not counted); runs `2k` and `2k + 1` form pair `k`, one per side, so
    statistics may pair them to cancel drift of a shared machine.
    """

    wall_s: float
    cpu_s: float
    max_rss_bytes: int
    tree_peak_rss_bytes: int
    exit_code: int
    order: int
    user_s: float = 0.0
    system_s: float = 0.0
    timed_out: bool = False
    instructions: int | None = None

    def value(self, metric: str) -> float:
        """The figure this sample contributes to `metric` (see metrics.METRICS)."""
        return float(getattr(self, BY_NAME[metric].field))

    def has(self, metric: str) -> bool:
        """Whether this run has a value for `metric` (an uncounted run has no instructions)."""
        return getattr(self, BY_NAME[metric].field) is not None

    @property
    def ok(self) -> bool:
        """Whether the run may count as a measurement at all."""
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class Side:
    """One side of a comparison: what was measured and every run of it."""

    ref: str
    sha: str
    samples: tuple[Sample, ...] = ()

    def values(self, metric: str) -> list[float]:
        """The values of the runs that have one (see `measures`)."""
        return [s.value(metric) for s in self.samples if s.has(metric)]

    def measures(self, metric: str) -> bool:
        """Whether the runs have values for `metric`: every run for time and memory; for a
        count, the runs that were counted, the first ones (counted runs are few when their
        counts agree: compare/counts.py).  Instructions are counted only when asked for,
        and a results file from before they existed has none."""
        if BY_NAME[metric].unit == COUNT:
            return any(s.has(metric) for s in self.samples)
        return all(s.has(metric) for s in self.samples)


def measured_metrics(*sides: Side) -> tuple[str, ...]:
    """The metrics of the registry that every one of `sides` has a value for, in order."""
    return tuple(m for m in NAMES if all(side.measures(m) for side in sides))


@dataclass(frozen=True)
class Comparison:
    """Base against head for one metric, as `stats` decided it.

    `change` is the Hodges-Lehmann estimate of the relative shift: the median
    of all head/base ratios of the runs, minus one (0.10 = head 10% higher);
    `ci` its 95% confidence interval, `p_value` the one-sided p-value in the
    direction of the change, `alpha` the one-sided level this look of the gate
    needed (docs/statistics.md), `threshold` the smallest change that counts.
    `detectable_change` is the change this run would call a regression with 80%
    power (never above a regression it found; None when it could not be
    estimated).  `note` says why the medians disagree with the change, when
    they do.  A metric whose base is too short to compare as a ratio has the
    verdict `too short`, and no change, interval or p-value (NaN; null in JSON).
    """

    metric: str
    base_median: float
    head_median: float
    change: float
    ci: tuple[float, float]
    p_value: float
    threshold: float
    verdict: str
    detectable_change: float | None = None
    method: str = ""
    alpha: float | None = None
    note: str = ""

    @property
    def shift(self) -> float:
        """The change in the metric's unit: the relative shift times base's median.

        Written beside the percentage, it must say the same: the difference of
        the medians can disagree with the shift, even in sign (runs in two
        levels, a median jumping between them).  A metric too short for a ratio
        has the difference of its medians.
        """
        if self.verdict == "too short" or not math.isfinite(self.change):
            return self.head_median - self.base_median
        return self.change * self.base_median


@dataclass(frozen=True)
class BudgetCheck:
    """One absolute budget judged on one side's runs (compare/budgets.py).

    `key` and `text` name the budget as the user wrote it (`wall-time`, `2s`); `limit`,
    `median` and the ends of `ci` are in seconds or bytes.  `ci` is the order-statistic
    interval of the median whose ends each err at most `level`; `verdict` is `over`
    (the interval wholly above the limit), `met` (wholly at or below), `near` (it
    straddles the limit) or `not measured` (a per-test budget without per-test data).
    `test` is the test file or id of a per-test budget, else empty.
    """

    key: str
    metric: str
    limit: float
    text: str
    verdict: str
    median: float
    ci: tuple[float, float]
    runs: int
    level: float
    test: str = ""


@dataclass(frozen=True)
class Environment:
    """Where the runs happened, so that two results can be judged comparable."""

    cpu_model: str = ""
    cores: int = 0
    python: str = ""
    os: str = ""
    perfgate: str = ""


@dataclass(frozen=True)
class Results:
    """A whole gate (sides base and head) or a single `perfgate run` (side run)."""

    verdict: str | None
    sides: Mapping[str, Side]
    comparisons: tuple[Comparison, ...] = ()
    command: str = ""
    environment: Environment = field(default_factory=Environment)
    seed: int | None = None
    error: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    breakdown: Mapping[str, Any] | None = None
    budgets: tuple[BudgetCheck, ...] = ()
    #: One shard's results (`gate --shard K/N`): {"index", "count", "machine", "exit_code"}.
    shard: Mapping[str, Any] | None = None
    #: Merged shards (`perfgate merge`): one such record each, with "orders": [first, end),
    #: the run orders its samples hold in the merged sides (shards.py).
    shards: tuple[Mapping[str, Any], ...] = ()

    @property
    def over_budget(self) -> tuple[BudgetCheck, ...]:
        return tuple(b for b in self.budgets if b.verdict == "over")

    @property
    def regressions(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "regression")

    def comparison(self, metric: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.metric == metric), None)

    @property
    def decision(self) -> str | None:
        """What a reader is told: fail, pass, no verdict (no metric regressed but one was
        too noisy to tell: a green check there would hide it), error, or None (no gate)."""
        inconclusive = any(c.verdict == "inconclusive" for c in self.comparisons)
        return NO_VERDICT if self.verdict == "pass" and inconclusive else self.verdict

    @property
    def fails(self) -> bool:
        """Whether the exit code and the status say failure: a regression, or no verdict
        with `inconclusive: fail` (an error is its own exit code and status).  A budget
        over its limit fails a gate (its verdict says so) and a `perfgate run` alike."""
        if self.verdict is None:
            return bool(self.over_budget)
        if self.decision == NO_VERDICT:
            return self.settings.get("inconclusive", "pass") == "fail"
        return self.decision == "fail"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "sides": {name: _side_to_json(side) for name, side in self.sides.items()},
            "comparisons": [_comparison_to_json(c) for c in self.comparisons],
            "command": self.command,
            "environment": asdict(self.environment),
            "seed": self.seed,
            "settings": dict(self.settings),
        }
        if self.error is not None:
            data["error"] = self.error
        if self.breakdown is not None:
            data["breakdown"] = self.breakdown
        if self.budgets:
            data["budgets"] = [_budget_to_json(b) for b in self.budgets]
        if self.shard is not None:
            data["shard"] = dict(self.shard)
        if self.shards:
            data["shards"] = [dict(s) for s in self.shards]
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.dumps(), encoding="utf-8")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Results:
        """Read `perfgate/1`; unknown keys are ignored so newer writers stay readable."""
        if not isinstance(data, Mapping):
            raise ValueError(f"not a {SCHEMA} results file (a JSON {type(data).__name__})")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} results file (schema: {data.get('schema')!r})")
        _check_top_level(data)
        return cls(
            verdict=data.get("verdict"),
            sides={name: _side_from_json(name, s) for name, s in data.get("sides", {}).items()},
            comparisons=tuple(_comparison_from_json(c) for c in data.get("comparisons", [])),
            command=data.get("command", ""),
            environment=_known(Environment, data.get("environment", {})),
            seed=data.get("seed"),
            error=data.get("error"),
            settings=data.get("settings", {}),
            breakdown=data.get("breakdown"),
            budgets=tuple(_budget_from_json(b) for b in data.get("budgets", [])),
            shard=data.get("shard"),
            shards=tuple(data.get("shards", ())),
        )

    @classmethod
    def read(cls, path: Path) -> Results:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


#: The JSON types each annotated type of the dataclasses accepts (a float may be written as
#: an integer or null); an annotation not named here is not checked.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "float": (int, float, type(None)),
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "None": (type(None),),
}


def _known(cls: type, data: Mapping[str, Any]) -> Any:
    """`cls` from the keys it knows, each of the type it declares.

    A results file may come from elsewhere (`perfgate publish` reads what a
    fork's workflow made): a string where a number belongs must stop here,
    with a message, rather than reach the report as Markdown or crash it.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: not a JSON object")
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        allowed = [_JSON_TYPES.get(part.strip()) for part in str(f.type).split("|")]
        if all(allowed) and not any(isinstance(value, kinds) for kinds in allowed):
            raise ValueError(f"{cls.__name__}.{f.name} is {type(value).__name__}, not {f.type}")
        values[f.name] = value
    return cls(**values)


#: The top-level keys of `perfgate/1` and the JSON types each may hold.
_TOP_LEVEL_TYPES: dict[str, tuple[type, ...]] = {
    "verdict": (str, type(None)),
    "sides": (dict,),
    "comparisons": (list,),
    "command": (str,),
    "environment": (dict,),
    "seed": (int, type(None)),
    "error": (str, type(None)),
    "settings": (dict,),
    "breakdown": (dict, type(None)),
    "budgets": (list,),
    "shard": (dict, type(None)),
    "shards": (list,),
}


def _check_top_level(data: Mapping[str, Any]) -> None:
    for key, kinds in _TOP_LEVEL_TYPES.items():
        if key in data and not isinstance(data[key], kinds):
            raise ValueError(f"{key} is {type(data[key]).__name__}")


def _side_to_json(side: Side) -> dict[str, Any]:
    return {"ref": side.ref, "sha": side.sha, "samples": [asdict(s) for s in side.samples]}


#: Sample fields that are measurements: each must be a finite number, never below zero.
_MEASURED = ("wall_s", "cpu_s", "user_s", "system_s", "max_rss_bytes", "tree_peak_rss_bytes")


def _sample_from_json(name: str, index: int, data: Any) -> Sample:
    """One run, refused with the field's place named when a figure is not a measurement."""
    sample = _known(Sample, data)
    for key in _MEASURED:
        value = getattr(sample, key)
        if value is None or not math.isfinite(value) or value < 0:
            raise ValueError(
                f"sides.{name}.samples[{index}].{key} is {value!r}, not a finite number of "
                "at least 0"
            )
    return sample


def _side_from_json(name: str, data: Mapping[str, Any]) -> Side:
    side = _known(Side, {"ref": name, "sha": "", **data, "samples": ()})
    raw = data.get("samples", [])
    if not isinstance(raw, list):
        raise ValueError(f"sides.{name}.samples is {type(raw).__name__}, not a list")
    samples = tuple(_sample_from_json(name, k, s) for k, s in enumerate(raw))
    return Side(ref=side.ref, sha=side.sha, samples=samples)


def _finite_or_none(value: Any) -> Any:
    """NaN is not JSON: a figure that does not exist is written as null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _comparison_to_json(c: Comparison) -> dict[str, Any]:
    data = {key: _finite_or_none(value) for key, value in asdict(c).items()}
    data["ci"] = [_finite_or_none(v) for v in c.ci]
    return data


def _comparison_from_json(data: Mapping[str, Any]) -> Comparison:
    comparison = _known(Comparison, data)
    ci: Sequence[float] = data.get("ci") or (None, None)
    return Comparison(**{
        **asdict(comparison),
        "change": _number(comparison.change),
        "p_value": _number(comparison.p_value),
        "ci": (_number(ci[0]), _number(ci[1])),
    })  # fmt: skip


def _budget_to_json(b: BudgetCheck) -> dict[str, Any]:
    data = {key: _finite_or_none(value) for key, value in asdict(b).items()}
    data["ci"] = [v if math.isfinite(v) else None for v in b.ci]  # unbounded or none: null
    return data


#: What a budget's verdict may be, in a results file read from elsewhere.
BUDGET_VERDICTS = ("over", "near", "met", "not measured")


def _budget_from_json(data: Any) -> BudgetCheck:
    budget = _known(BudgetCheck, data)
    if budget.verdict not in BUDGET_VERDICTS:
        raise ValueError(f"budgets: verdict {budget.verdict!r} is not one of {BUDGET_VERDICTS}")
    ci = data.get("ci") or (None, None)
    if not isinstance(ci, list) or len(ci) != 2:
        raise ValueError("budgets: ci is not a pair of numbers")
    low = -math.inf if ci[0] is None else float(ci[0])
    high = math.inf if ci[1] is None else float(ci[1])
    return BudgetCheck(**{
        **asdict(budget), "limit": _number(budget.limit), "median": _number(budget.median),
        "ci": (low, high),
    })  # fmt: skip
