"""The `instructions` metric: how many instructions the benchmark executed.

Why count instructions at all: on a shared 2-core runner wall time varies by
6 to 25% from run to run, so a 2% slowdown drowns in noise; the number of
instructions a program executes hardly depends on what the neighbours do.
It is a proxy (a cache miss costs no instruction, a syscall that sleeps costs
none), so it complements wall time, never replaces it.

Two ways to count, chosen by `find_counter()`:

- hardware counters through `perf stat -e instructions:u`: no slowdown, but
  many virtual machines (this project's runners among them) do not expose the
  PMU, and perf then says `<not supported>`;
- `valgrind --tool=callgrind`: works everywhere valgrind runs, exact and
  repeatable, but the command runs 20 to 100 times slower, so the counted run
  is a run of its own, never one whose time is measured.

Both follow the command's children (perf by inheritance, valgrind with
`--trace-children=yes`) and count user-space instructions only.

Counted runs get `PYTHONHASHSEED=0` unless the environment sets it: with a
random hash seed, set and dict layouts change from run to run and so does the
work, by about 2% for a dict-heavy script (bench/instructions.py), which
would throw away most of what counting gains.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import contain
from ..errors import ConfigError
from ..results import Sample
from .run import RunSpec, measure

#: How much longer than a plain run a counted run may take before it times out.
TIMEOUT_FACTOR = {"perf": 2.0, "callgrind": 100.0}


@dataclass(frozen=True)
class Counter:
    """How instructions will be counted on this machine, and why that way."""

    method: str  # "perf" | "callgrind"
    program: str  # path of perf or valgrind
    note: str  # one line for the report ("hardware counters via perf", ...)


@dataclass(frozen=True)
class Counting:
    """How a schedule counts: the counter, when a side's counts are enough (the judging
    rule's own test, `counts.agree` at the threshold), and how many counted runs per side
    may be spent finding out before every measured run is counted instead."""

    counter: Counter
    enough: Callable[[Sequence[int]], bool]
    most: int
    #: The fewest counted runs per side `enough` accepts (for the progress line).
    least: int = 3


def counter_settings(counter: Counter | None) -> dict[str, str]:
    """How instructions were counted, for the results' settings (a reader weighs perf and
    callgrind counts differently: perf counts what the CPU retired, callgrind what it
    simulated); nothing when they were not counted."""
    return {"instructions_counter": counter.note} if counter is not None else {}


@dataclass(frozen=True)
class Detection:
    """The counter this machine offers (None if none) and what was found, for the user."""

    counter: Counter | None
    findings: tuple[str, ...]


def find_counter() -> Detection:
    """Prefer hardware counters (no slowdown); fall back to callgrind; say why."""
    findings = []
    perf = shutil.which("perf")
    if perf is None:
        findings.append("perf is not installed")
    else:
        problem = _perf_problem(perf)
        if problem is None:
            counter = Counter("perf", perf, "hardware counters (perf stat -e instructions:u)")
            return Detection(counter, (*findings, "perf counts instructions on this machine"))
        findings.append(problem)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        findings.append("valgrind is not installed (apt-get install valgrind)")
        return Detection(None, tuple(findings))
    counter = Counter("callgrind", valgrind, "valgrind --tool=callgrind (20-100x slower runs)")
    return Detection(counter, (*findings, "valgrind is installed: counting with callgrind"))


def require_counter() -> Counter:
    """The counter for a gate that asked for `instructions`; ConfigError (exit 2, before
    anything runs) saying what was tried when this machine has none."""
    detection = find_counter()
    if detection.counter is None:
        raise ConfigError(
            "instructions: this machine cannot count instructions ("
            + "; ".join(detection.findings)
            + "); install valgrind or turn the instructions metric off"
        )
    return detection.counter


def _perf_problem(perf: str) -> str | None:
    """Why perf cannot count instructions here, or None when it can."""
    with tempfile.TemporaryDirectory(prefix="perfgate-perf-") as tmp:
        out = Path(tmp) / "stat.csv"
        try:
            done = subprocess.run(
                [perf, "stat", "-x", ",", "-e", "instructions:u", "-o", str(out), "--", "true"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"perf cannot run: {error}"
        text = out.read_text() if out.exists() else ""
    if done.returncode != 0 or not text:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"perf stat failed ({reason})"
    if _perf_count(text) is None:
        return "perf: hardware counters are not supported here (a virtual machine without PMU)"
    return None


def _perf_count(text: str) -> int | None:
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].startswith("instructions"):
            return int(fields[0]) if fields[0].isdigit() else None
    return None


_CALLGRIND_TOTAL = re.compile(r"^(?:totals|summary):\s*(\d+)", re.MULTILINE)
#: How much of a counter's output file is read: callgrind writes its `summary:` line in
#: the header (line 18 of valgrind 3.19's files), perf's file is a few lines; the rest of
#: a callgrind file (megabytes per process, the per-function costs) is never needed.
HEAD_BYTES = 64 * 1024


def read_head(path: Path) -> str:
    """The first HEAD_BYTES of `path` when it is a plain file, else "".

    The counted run wrote the folder (as the side's user in the image): a symlink to a
    file of perfgate's, a FIFO (a read that never returns) or gigabytes must not be
    followed, waited on or read whole.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return ""
        return file.read(HEAD_BYTES).decode(errors="replace")


def _callgrind_count(out_dir: Path) -> int | None:
    """Sum the per-process totals; None when no process wrote one (killed early)."""
    total, found = 0, False
    for path in sorted(out_dir.glob("callgrind.*")):
        match = _CALLGRIND_TOTAL.search(read_head(path))
        if match:
            total += int(match.group(1))
            found = True
    return total if found else None


def count_instructions(spec: RunSpec, counter: Counter, order: int = -1) -> Sample:
    """Run `spec` once under `counter`; the Sample's `instructions` holds the count.

    The run is measured like any other (process group, timeout scaled for the
    counter's slowdown, output in `spec.log_path`, never raises for a failing
    command), but only its `instructions` and `exit_code` mean anything: its
    time and memory are those of the counter, not of the command.  (perf
    passes on the command's exit code but not its death by a signal.)
    """
    with tempfile.TemporaryDirectory(prefix="perfgate-instructions-") as tmp:
        # The counter runs as the side's user (the image's bench users): its output folder
        # is that user's, inside perfgate's private one.
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        contain.hand_over(out_dir, spec.account)
        out = out_dir / "stat.csv"
        if counter.method == "perf":
            perf_stat = ("stat", "-x", ",", "-e", "instructions:u", "-o", str(out), "--")
            argv = (counter.program, *perf_stat, *spec.argv)
        else:
            callgrind_out = f"--callgrind-out-file={out_dir}/callgrind.%p"
            callgrind = ("--tool=callgrind", "--trace-children=yes", "-q", callgrind_out)
            argv = (counter.program, *callgrind, *spec.argv)
        counted_spec = dataclasses.replace(
            spec,
            argv=argv,
            env={"PYTHONHASHSEED": "0", **spec.env},
            timeout_s=spec.timeout_s * TIMEOUT_FACTOR[counter.method],
        )
        sample = measure(counted_spec, order=order)
        if counter.method == "perf":
            count = _perf_count(read_head(out))
        else:
            count = _callgrind_count(out_dir)
    return dataclasses.replace(sample, instructions=count if sample.ok else None)
