"""The schedule: warm-ups, base and head interleaved in shuffled pairs, adaptive stopping.

Why pairs in a shuffled order: a shared runner drifts (a neighbour starts a
build, the CPU throttles), and drift that hits one side more than the other
looks exactly like a regression.  Running base and head back to back in each
pair, in an order drawn at random per pair (A B, B A, ...), makes drift hit
both sides alike and lets statistics pair the two runs of each pair.

Why adaptive: most changes are clear after a few runs; only the close calls
need many.  Runs are added, a pair at a time, only while `settled()` says
the verdict is still inconclusive.
"""

from __future__ import annotations

import dataclasses
import random
import stat
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import contain
from ..errors import BenchmarkFailed, InfrastructureError
from ..progress import Progress
from ..results import Sample
from .instructions import Counter, Counting, count_instructions
from .run import RunSpec, describe_exit, log_tail, measure

#: The largest run file read back (a pytest plugin document of 100k tests is ~30 MB).
MAX_RUN_FILE_BYTES = 256 * 1024 * 1024
SettledCheck = Callable[[Sequence[Sample], Sequence[Sample]], bool]


@dataclass(frozen=True)
class Target:
    """One side as the runner sees it: what to run, where, with what environment."""

    side: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    timeout_s: float
    log_dir: Path
    #: When set, each run gets this variable pointing at a file of its own,
    #: `{side}-files/{label}.json` in log_dir (the pytest plugin's output, say).
    run_file_env: str | None = None
    #: The unprivileged user this side's runs start as (contain.account_for).
    account: contain.Account | None = None

    def spec(self, label: str) -> RunSpec:
        env = self.env
        if self.run_file_env:
            env = {**env, self.run_file_env: str(self.run_file(label))}
            self._run_file_folder()
        return RunSpec(
            argv=self.argv,
            cwd=self.cwd,
            env=env,
            timeout_s=self.timeout_s,
            log_path=self.log_dir / f"{self.side}-{label}.log",
            account=self.account,
        )

    def run_file(self, label: str) -> Path:
        return self.log_dir / f"{self.side}-files" / f"{label}.json"

    def run_files(self, runs: int) -> list[Path]:
        """The run files of measured runs 1..runs that are plain files of a sane size.

        The run wrote them: a symlink (to a file of perfgate's), a FIFO (a read that
        never ends) or gigabytes are left out, as a run that wrote none is.
        """
        found = []
        for k in range(1, runs + 1):
            path = self.run_file(str(k))
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_RUN_FILE_BYTES:
                found.append(path)
        return found

    def _run_file_folder(self) -> None:
        """The one folder of log_dir the side's code may write: its own run files.
        The logs beside it are perfgate's (the run's output reaches them through a
        descriptor perfgate opened), and so is the other side's folder."""
        folder = self.log_dir / f"{self.side}-files"
        if not folder.is_dir():
            folder.mkdir(parents=True)
            contain.hand_over(folder, self.account)


def pair_orders(pairs: int, rng: random.Random) -> list[tuple[str, str]]:
    """The side order of each pair, drawn from `rng`: ('base', 'head') or the reverse."""
    return [("base", "head") if rng.random() < 0.5 else ("head", "base") for _ in range(pairs)]


def _run_checked(target: Target, label: str, order: int, description: str) -> Sample:
    """One measured run; BenchmarkFailed when it may not count as a measurement."""
    spec = target.spec(label)
    return _checked(target, measure(spec, order=order), spec, description)


def _counted_run(target: Target, label: str, order: int, description: str, counter: Counter) -> int:
    """The instruction count of one run of its own (`{label}-instructions` in the logs).

    A run of its own because counting (callgrind) slows the command down many
    times: its time and memory must never be a sample's.
    """
    counted_spec = target.spec(f"{label}-instructions")
    counted = count_instructions(counted_spec, counter, order=order)
    _checked(target, counted, counted_spec, f"{description} (counting instructions)")
    if counted.instructions is None:
        raise InfrastructureError(
            f"{counter.method} reported no instruction count for {target.side} {description}",
            log_tail=log_tail(counted_spec.log_path),
        )
    return counted.instructions


class _Counts:
    """A schedule's instruction counts: counted runs first, one per side at a time, until
    every side's counts are enough (`Counting.enough`) or `Counting.most` runs per side
    were counted; then handed to the measured runs in order (measured run k carries
    counted run k's count).  When the counts were not enough, they vary, and every later
    measured run gets a counted run of its own, as each did before counts could be few.
    """

    def __init__(self, targets: Sequence[Target], counting: Counting, progress: Progress):
        self.counter = counting.counter
        self.values: dict[str, list[int]] = {target.side: [] for target in targets}
        self.enough = False
        for k in range(1, counting.most + 1):
            for target in targets:
                shown = min(counting.least, counting.most)
                progress.run(f"{target.side} counted", k, max(k, shown), None,
                             max_runs=counting.most)  # fmt: skip
                count = _counted_run(target, f"{k}", -1, f"counted run {k}", self.counter)
                self.values[target.side].append(count)
            if all(counting.enough(values) for values in self.values.values()):
                self.enough = True
                break

    def attach(self, target: Target, sample: Sample, k: int, description: str) -> Sample:
        """Measured run k of `target` with its count (none once the counts were enough)."""
        values = self.values[target.side]
        if k > len(values):
            if self.enough:
                return sample
            values.append(_counted_run(target, f"{k}", sample.order, description, self.counter))
        return dataclasses.replace(sample, instructions=values[k - 1])


def _checked(target: Target, sample: Sample, spec: RunSpec, description: str) -> Sample:
    """`sample` if it may count as a measurement; BenchmarkFailed naming the run if not."""
    if not sample.ok:
        cause = (
            f"timed out after {spec.timeout_s:g} s"
            if sample.timed_out
            else describe_exit(sample.exit_code)
        )
        raise BenchmarkFailed(
            f"the benchmark failed on {target.side}: {description} {cause}",
            side=target.side,
            log_tail=log_tail(spec.log_path),
        )
    return sample


def _warm_up(targets: Sequence[Target], warmup: int, progress: Progress) -> None:
    for k in range(1, warmup + 1):
        for target in targets:
            progress.run(f"{target.side} warm-up", k, warmup, None)
            _run_checked(target, f"warmup-{k}", -1, f"warm-up run {k}")


def run_pairs(
    base: Target,
    head: Target,
    *,
    runs: int,
    max_runs: int,
    warmup: int,
    seed: int,
    time_budget_s: float | None,
    settled: SettledCheck,
    progress: Progress,
    instructions: Counting | None = None,
    looks: Sequence[int] | None = None,
) -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    """Measure `runs` pairs, then more while unsettled, up to `max_runs` or the budget.

    With `looks` (the planned run counts, see sequential.Plan), unsettled runs grow to the
    next look at once, so that progress names the runs that will be made; without,
    a pair at a time.  Progress shows the time left to the next look and, while more
    runs may follow, the time left if every run up to `max_runs` is needed.

    Sample.order is the position in the schedule, so pair k is orders 2k and
    2k + 1.  The first failed run raises BenchmarkFailed at once: a broken
    benchmark is never a measurement.  With `instructions`, counted runs come first
    (see _Counts: a few per side when their counts agree) and the first measured
    runs carry their counts.
    """
    rng = random.Random(seed)
    targets = {"base": base, "head": head}
    started = time.monotonic()
    _warm_up((base, head), warmup, progress)
    counts = _Counts((base, head), instructions, progress) if instructions else None
    samples: dict[str, list[Sample]] = {"base": [], "head": []}
    durations: list[float] = []
    wanted = runs
    while True:
        for first, second in pair_orders(wanted - len(samples["base"]), rng):
            for side in (first, second):
                k = len(samples[side]) + 1
                left = _seconds_left(durations, runs_left=2 * (wanted - k) + 1)
                most = _seconds_left(durations, runs_left=2 * (max_runs - k) + 1)
                if wanted < max_runs:
                    progress.run(side, k, wanted, left, max_runs=max_runs, most_seconds=most)
                else:
                    progress.run(side, k, wanted, left)
                order = len(samples["base"]) + len(samples["head"])
                run_started = time.monotonic()
                try:
                    sample = _run_checked(targets[side], f"{k}", order, f"run {k}")
                    if counts is not None:
                        sample = counts.attach(targets[side], sample, k, f"run {k}")
                except (BenchmarkFailed, InfrastructureError) as failure:
                    failure.samples = {name: tuple(runs) for name, runs in samples.items()}
                    raise
                samples[side].append(sample)
                # What a run costs in real time (counted runs included), for the estimate.
                durations.append(time.monotonic() - run_started)
        if wanted >= max_runs or settled(samples["base"], samples["head"]):
            break
        if time_budget_s is not None and time.monotonic() - started >= time_budget_s:
            progress.step(f"time budget of {time_budget_s:g} s spent; stopping at {wanted} runs")
            break
        wanted = _next_look(wanted, max_runs, looks)
    return tuple(samples["base"]), tuple(samples["head"])


def _next_look(wanted: int, max_runs: int, looks: Sequence[int] | None) -> int:
    later = [n for n in (looks or ()) if n > wanted]
    return min(min(later), max_runs) if later else min(wanted + 1, max_runs)


def run_single(
    target: Target,
    *,
    runs: int,
    warmup: int,
    progress: Progress,
    instructions: Counting | None = None,
) -> tuple[Sample, ...]:
    """`perfgate run`: warm-ups, then `runs` measured runs of one command (counted runs
    first, with `instructions`, as in run_pairs)."""
    _warm_up((target,), warmup, progress)
    counts = _Counts((target,), instructions, progress) if instructions else None
    samples: list[Sample] = []
    durations: list[float] = []
    for k in range(1, runs + 1):
        progress.run(target.side, k, runs, _seconds_left(durations, runs - k + 1))
        run_started = time.monotonic()
        sample = _run_checked(target, f"{k}", k - 1, f"run {k}")
        samples.append(counts.attach(target, sample, k, f"run {k}") if counts else sample)
        durations.append(time.monotonic() - run_started)
    return tuple(samples)


def _seconds_left(durations: Sequence[float], runs_left: int) -> float | None:
    if not durations:
        return None
    return statistics.median(durations) * max(runs_left, 0)
