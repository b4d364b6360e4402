"""What perfgate's harness adds to a run, and how well its memory figures agree.

Prints three Markdown tables (issue 4, item 7), measured side by side in one
run so that the machine's mood of the moment hits every tool alike:

1. added wall time per run: the bare command (time.monotonic() around
   subprocess.run), perfgate's measure(), hyperfine and /usr/bin/time -v, in
   rounds whose tool order is shuffled; medians, and the difference and ratio
   to the bare command;
2. peak memory of a single process: perfgate's ru_maxrss against
   /usr/bin/time -v's "Maximum resident set size";
3. peak memory of a command whose children hold memory at the same time:
   ru_maxrss (perfgate's and GNU time's) sees only the largest process, the
   tree peak sees them all.

It also reports what the tree sampler costs perfgate itself in CPU per second
of run, and what psutil's recursive walk would cost instead.

    .venv/bin/python bench/overhead.py [--rounds 20] [--per-round 5] [--seed 1]

hyperfine (`apt-get install hyperfine`) and GNU time (`apt-get install time`)
are optional: a missing tool is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from perfgate.measure.run import RunSpec, measure

MB = 1024 * 1024
PY = sys.executable
GNU_TIME = "/usr/bin/time"

#: Commands whose harness overhead is measured: a do-nothing program (the
#: overhead alone) and a Python start-up (a short real command).
OVERHEAD_COMMANDS: dict[str, tuple[str, ...]] = {
    "true": ("true",),
    "python -c pass": (PY, "-c", "pass"),
}
BARE = "bare (monotonic around subprocess.run)"
WHOLE_CALL = "perfgate measure(): whole call (launcher start-up included)"
HOLD = "x = bytearray(b'\\x01') * ({mb} * 1024 * 1024); import time; time.sleep({s})"


# --- one run, timed by each tool ------------------------------------------------------------


def bare_seconds(argv: Sequence[str]) -> float:
    """The command as a user would time it: the monotonic clock around subprocess.run."""
    started = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


class PerfgateTimer:
    """perfgate's measure(): the wall time it reports, and what the call costs in real time."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.call_seconds: list[float] = []

    def __call__(self, argv: Sequence[str]) -> float:
        spec = RunSpec(tuple(argv), Path.cwd(), dict(os.environ), 60.0, self.log_dir / "run.log")
        started = time.monotonic()
        sample = measure(spec)
        self.call_seconds.append(time.monotonic() - started)
        if not sample.ok:
            raise RuntimeError(f"{argv} failed under perfgate: exit {sample.exit_code}")
        return sample.wall_s


def gnu_time_seconds(argv: Sequence[str]) -> float:
    """/usr/bin/time -v reports 10 ms steps, so it is timed from outside like the bare command."""
    return bare_seconds([GNU_TIME, "-v", *argv])


def hyperfine_seconds(argv: Sequence[str], runs: int, workdir: Path) -> list[float]:
    """`runs` times as hyperfine reports them (-N: no shell in between, as perfgate)."""
    export = workdir / "hyperfine.json"
    subprocess.run(
        ["hyperfine", "-N", "--runs", str(runs), "--warmup", "1", "--style", "none",
         "--export-json", str(export), subprocess.list2cmdline(argv)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    return list(json.loads(export.read_text())["results"][0]["times"])


# --- table 1: added wall time ---------------------------------------------------------------


def added_wall_time(rounds: int, per_round: int, seed: int, workdir: Path) -> str:
    rng = random.Random(seed)
    have_hyperfine = shutil.which("hyperfine") is not None
    have_gnu_time = os.access(GNU_TIME, os.X_OK)
    rows = []
    for name, argv in OVERHEAD_COMMANDS.items():
        perfgate = PerfgateTimer(workdir)
        tools: dict[str, Callable[[], list[float]]] = {
            BARE: lambda a=argv: [bare_seconds(a) for _ in range(per_round)],
            "perfgate measure(): reported wall_s": lambda a=argv, p=perfgate: [
                p(a) for _ in range(per_round)
            ],
        }
        if have_hyperfine:
            tools["hyperfine -N"] = lambda a=argv: hyperfine_seconds(a, per_round, workdir)
        if have_gnu_time:
            tools["/usr/bin/time -v (timed from outside)"] = lambda a=argv: [
                gnu_time_seconds(a) for _ in range(per_round)
            ]
        times: dict[str, list[float]] = {tool: [] for tool in tools}
        for tool in tools:  # one warm-up round each: page cache, first fork of a big process
            tools[tool]()
        perfgate.call_seconds.clear()
        for _ in range(rounds):
            order = list(tools)
            rng.shuffle(order)
            for tool in order:
                times[tool].extend(tools[tool]())
        times[WHOLE_CALL] = perfgate.call_seconds
        bare = statistics.median(times[BARE])
        for tool, values in times.items():
            median = statistics.median(values)
            rows.append(
                f"| `{name}` | {tool} | {len(values)} | {median * 1e3:.2f} | "
                f"{(median - bare) * 1e3:+.2f} | {median / bare:.2f} |"
            )
    notes = []
    if not have_hyperfine:
        notes.append("hyperfine is not installed: skipped (`apt-get install hyperfine`).")
    if not have_gnu_time:
        notes.append("GNU time is not installed: skipped (`apt-get install time`).")
    header = (
        "| command | tool | runs | median ms | added ms vs bare | ratio to bare |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    return "\n".join([header, *rows, *notes])


# --- tables 2 and 3: memory ------------------------------------------------------------------


def gnu_time_maxrss_bytes(argv: Sequence[str]) -> int:
    done = subprocess.run(
        [GNU_TIME, "-v", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no maximum resident set size in GNU time's output:\n{done.stderr}")
    return int(found.group(1)) * 1024


def perfgate_sample(argv: Sequence[str], workdir: Path):
    spec = RunSpec(tuple(argv), Path.cwd(), dict(os.environ), 120.0, workdir / "mem.log")
    sample = measure(spec)
    if not sample.ok:
        raise RuntimeError(f"{argv} failed under perfgate: exit {sample.exit_code}")
    return sample


def single_process_memory(repeats: int, workdir: Path) -> str:
    if not os.access(GNU_TIME, os.X_OK):
        return "GNU time is not installed: skipped (`apt-get install time`)."
    rows = []
    for mb in (0, 50, 200):
        argv = (PY, "-c", HOLD.format(mb=mb, s=0))
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(perfgate_sample(argv, workdir).max_rss_bytes)
            theirs.append(gnu_time_maxrss_bytes(argv))
        a, b = statistics.median(ours), statistics.median(theirs)
        rows.append(
            f"| python holding {mb} MB | {a / MB:.2f} | {b / MB:.2f} | {(a - b) / b * 100:+.2f}% |"
        )
    header = (
        "| single process | perfgate ru_maxrss MiB | /usr/bin/time -v MiB | difference |\n"
        "|---|---:|---:|---:|"
    )
    return "\n".join([header, *rows])


def children_command(sizes_mb: Sequence[int], hold_s: float) -> tuple[str, ...]:
    """A parent that starts one child per size, all holding their memory at once."""
    starts = "".join(
        f"ps.append(subprocess.Popen([sys.executable, '-c', {HOLD.format(mb=mb, s=hold_s)!r}]))\n"
        for mb in sizes_mb
    )
    return (PY, "-c", f"import subprocess, sys\nps = []\n{starts}[p.wait() for p in ps]\n")


def tree_memory(repeats: int, workdir: Path) -> str:
    sizes = (60, 50, 40)
    argv = children_command(sizes, hold_s=1.0)
    samples = [perfgate_sample(argv, workdir) for _ in range(repeats)]
    tree = statistics.median(s.tree_peak_rss_bytes for s in samples)
    largest = statistics.median(s.max_rss_bytes for s in samples)
    gnu = (
        f"{statistics.median(gnu_time_maxrss_bytes(argv) for _ in range(repeats)) / MB:.1f}"
        if os.access(GNU_TIME, os.X_OK)
        else "not installed"
    )
    return (
        f"Command: a Python parent starting children that hold {' + '.join(map(str, sizes))} MB "
        f"at the same time for 1 s ({repeats} runs, medians).\n\n"
        "| figure | MiB |\n|---|---:|\n"
        f"| memory the children hold together (planted) | {sum(sizes) * MB / MB:.1f} |\n"
        f"| perfgate tree_peak_rss_bytes | {tree / MB:.1f} |\n"
        f"| perfgate max_rss_bytes (ru_maxrss) | {largest / MB:.1f} |\n"
        f"| /usr/bin/time -v maximum resident set size | {gnu} |"
    )


# --- what sampling costs perfgate ----------------------------------------------------------


def sampler_cost(workdir: Path) -> str:
    """perfgate's own CPU while it measures a command that sleeps: the sampler, nearly all."""
    run_s = 2.0
    before = resource.getrusage(resource.RUSAGE_SELF)
    perfgate_sample(("sleep", str(run_s)), workdir)
    after = resource.getrusage(resource.RUSAGE_SELF)
    own_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    processes = len(psutil.pids())
    walks = 200
    root = psutil.Process(1)
    started = time.perf_counter()
    for _ in range(walks):
        root.children(recursive=True)
    walk_ms = (time.perf_counter() - started) / walks * 1e3
    return (
        f"perfgate's own CPU while measuring `sleep {run_s:g}`: {own_cpu * 1e3:.0f} ms, "
        f"{own_cpu / run_s * 100:.1f}% of one core (sampling every 5 ms). "
        f"For comparison, one psutil `children(recursive=True)` walk costs {walk_ms:.2f} ms "
        f"with {processes} processes on this machine, {walk_ms / 5 * 100:.0f}% of a core "
        "at the same rate."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="shuffled rounds (default 20)")
    parser.add_argument("--per-round", type=int, default=5, help="runs per tool per round")
    parser.add_argument("--memory-repeats", type=int, default=5, help="runs per memory figure")
    parser.add_argument("--seed", type=int, default=1, help="seed of the tool order")
    args = parser.parse_args(argv)
    print(f"# perfgate harness overhead ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    with tempfile.TemporaryDirectory(prefix="perfgate-overhead-") as tmp:
        workdir = Path(tmp)
        print("\n## Added wall time per run\n")
        print(added_wall_time(args.rounds, args.per_round, args.seed, workdir))
        print("\n## Peak memory of a single process\n")
        print(single_process_memory(args.memory_repeats, workdir))
        print("\n## Peak memory of a command with children\n")
        print(tree_memory(args.memory_repeats, workdir))
        print("\n## What the tree sampler costs\n")
        print(sampler_cost(workdir))


if __name__ == "__main__":
    main()
