"""The instructions metric: real counts from callgrind or perf on real commands."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from perfgate.errors import BenchmarkFailed, ConfigError
from perfgate.measure.instructions import (
    Counter,
    Counting,
    _callgrind_count,
    count_instructions,
    find_counter,
    require_counter,
)
from perfgate.measure.run import RunSpec
from perfgate.measure.schedule import Target, run_single
from perfgate.progress import Progress

PY = sys.executable
DETECTION = find_counter()
needs_counter = pytest.mark.skipif(
    DETECTION.counter is None, reason="; ".join(DETECTION.findings) or "no instruction counter"
)


def counter() -> Counter:
    assert DETECTION.counter is not None
    return DETECTION.counter


def plain_env() -> dict[str, str]:
    """The environment without coverage's subprocess hook: under callgrind a Python
    child that starts coverage runs for minutes, and these commands hold no perfgate
    code to cover anyway."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COVERAGE_") and k != "PYTHONHASHSEED"
    }


def quiet_env() -> dict[str, str]:
    """Hash seed fixed: set and dict order then repeat, and so does the work."""
    return {**plain_env(), "PYTHONHASHSEED": "0"}


def spec(tmp_path: Path, *argv: str, name: str = "run") -> RunSpec:
    return RunSpec(tuple(argv), tmp_path, quiet_env(), 60, tmp_path / f"{name}.log")


def count(tmp_path: Path, code: str, name: str = "run") -> int:
    sample = count_instructions(spec(tmp_path, PY, "-c", code, name=name), counter())
    assert sample.ok, (tmp_path / f"{name}.log").read_text()
    assert sample.instructions is not None
    return sample.instructions


def test_detection_says_what_it_found() -> None:
    assert DETECTION.findings
    if DETECTION.counter is None:
        assert any("not" in finding for finding in DETECTION.findings)
    else:
        assert DETECTION.counter.method in ("perf", "callgrind")
        assert os.access(DETECTION.counter.program, os.X_OK)


def test_a_machine_without_a_counter_is_refused_before_anything_runs(monkeypatch) -> None:
    """With neither perf nor valgrind on PATH the gate must say so up front (exit 2)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="valgrind is not installed") as raised:
        require_counter()
    assert "perf is not installed" in str(raised.value)
    assert raised.value.exit_code == 2


@needs_counter
def test_more_work_counts_more_instructions_and_children_count(tmp_path: Path) -> None:
    small = count(tmp_path, "sum(range(10_000))", "small")
    large = count(tmp_path, "sum(range(2_000_000))", "large")
    # Two million more loop steps cost at least a few instructions each.
    assert large - small > 4_000_000
    in_child = (
        "import subprocess, sys; "
        "subprocess.run([sys.executable, '-c', 'sum(range(2_000_000))'], check=True)"
    )
    # The parent's own start-up plus the child's whole count: more than the child alone.
    assert count(tmp_path, in_child, "child") > large


@needs_counter
def test_the_count_repeats_from_run_to_run(tmp_path: Path) -> None:
    """What the metric is for: the same work gives the same count, also for a dict-heavy
    script whose work depends on the hash seed (fixed for counted runs unless set)."""
    code = "d = {str(i): i for i in range(50_000)}; s = set(d)"
    env = plain_env()
    counts = []
    for name in ("first", "second"):
        run = RunSpec((PY, "-c", code), tmp_path, env, 60, tmp_path / f"{name}.log")
        counts.append(count_instructions(run, counter()).instructions)
    assert counts[0] is not None and counts[1] is not None
    assert abs(counts[0] - counts[1]) / counts[0] < 0.001


@needs_counter
def test_a_failing_command_has_its_exit_code_and_no_count(tmp_path: Path) -> None:
    sample = count_instructions(spec(tmp_path, PY, "-c", "raise SystemExit(4)"), counter())
    assert sample.exit_code == 4 and not sample.ok
    assert sample.instructions is None


def test_callgrind_totals_of_every_process_are_summed(tmp_path: Path) -> None:
    (tmp_path / "callgrind.11").write_text(
        "events: Ir\nsummary: 1000\n\nfn=x\n0 1000\ntotals: 1000\n"
    )
    (tmp_path / "callgrind.12").write_text("events: Ir\nsummary: 234\n")
    assert _callgrind_count(tmp_path) == 1234
    assert _callgrind_count(tmp_path / "nothing-here") is None


def test_what_the_counted_run_wrote_besides_its_counts_is_not_followed(tmp_path: Path) -> None:
    """The counted run owns its output folder: a symlink to a file of perfgate's and a FIFO
    (whose read would never return) are skipped; a file's megabytes after its header are
    never read (the summary is in the header)."""
    secret = tmp_path / "secret"
    secret.write_text("summary: 999999\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "callgrind.1").symlink_to(secret)
    os.mkfifo(out / "callgrind.2")
    (out / "callgrind.3").write_text("events: Ir\nsummary: 70\n" + "0 1\n" * 2_000_000)
    (out / "callgrind.4").write_text("x" * (1 << 20) + "\nsummary: 5000\n")
    assert _callgrind_count(out) == 70


def counted_runs(tmp_path: Path, runs: int, counting: Counting) -> tuple[list, list[str]]:
    """`perfgate run`'s schedule of `sh -c :`: each run's count, and the counted runs' logs."""
    logs = tmp_path / "logs"
    target = Target("run", ("sh", "-c", ":"), tmp_path, quiet_env(), 60, logs)
    progress = io.StringIO()
    samples = run_single(
        target, runs=runs, warmup=0, progress=Progress(progress, live=False),
        instructions=counting,
    )  # fmt: skip
    assert (logs / f"run-{runs}.log").exists()  # every measured run
    assert "run counted run 1 of" in progress.getvalue()
    return [s.instructions for s in samples], sorted(
        p.name for p in logs.glob("*-instructions.log")
    )


@needs_counter
def test_counted_runs_come_first_and_stop_once_the_counts_are_enough(tmp_path: Path) -> None:
    """Enough after three counts: five measured runs, the first three carry the counts."""
    counting = Counting(counter(), lambda values: len(values) >= 3, most=5)
    counts, logs = counted_runs(tmp_path, 5, counting)
    assert all(c and c > 10_000 for c in counts[:3]) and counts[3:] == [None, None]
    assert logs == [f"run-{k}-instructions.log" for k in (1, 2, 3)]


@needs_counter
def test_counts_that_are_never_enough_count_every_measured_run(tmp_path: Path) -> None:
    """Two counted runs first (the most allowed), then one per measured run, as before."""
    counting = Counting(counter(), lambda values: False, most=2)
    counts, logs = counted_runs(tmp_path, 4, counting)
    assert all(c and c > 10_000 for c in counts)
    assert logs == [f"run-{k}-instructions.log" for k in (1, 2, 3, 4)]


@needs_counter
def test_a_run_that_fails_only_when_counted_is_a_failure(tmp_path: Path) -> None:
    """Counting changes the process (valgrind preloads itself): a command that breaks
    under it must stop the gate, not yield a sample without a count."""
    code = "import os, sys; sys.exit(5 if 'vgpreload' in os.environ.get('LD_PRELOAD', '') else 0)"
    if counter().method == "perf":
        pytest.skip("perf leaves no trace in the command's environment")
    target = Target("head", (PY, "-c", code), tmp_path, quiet_env(), 60, tmp_path / "logs")
    with pytest.raises(BenchmarkFailed, match="counting instructions") as raised:
        run_single(
            target, runs=1, warmup=0, progress=Progress(io.StringIO(), live=False),
            instructions=Counting(counter(), lambda values: True, most=1),
        )  # fmt: skip
    assert raised.value.side == "head"
    assert "exited with code 5" in str(raised.value)
