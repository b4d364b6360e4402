"""What counting instructions costs a gate: the same gate with and without `--instructions`.

Issue 14, item 4.  A git repository in a temporary folder holds a real Python workload
(bench/instructions.py's dict and sort) whose head does 2% more work; `perfgate gate`
runs on it as a user would (a subprocess), `--runs R --max-runs R`, once without and once
with `--instructions`, in alternating order, `--rounds` times.  It prints each gate's
wall time, the counted runs each side got (samples carrying a count in the JSON), the
instructions verdict and change, and the time counting added: the counted runs' cost
against the measured runs'.

    .venv/bin/python bench/counted_runs.py [--runs 10] [--rounds 2] [--src PATH]

`--src` runs another perfgate source tree (its `src/` folder, e.g. one unpacked with
`git archive <commit> src | tar -x -C /tmp/old`) to compare two versions of the schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from instructions import WORKLOAD

PY = sys.executable
IDENTITY = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@perfgate.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@perfgate.invalid",
}  # fmt: skip


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, **IDENTITY})  # fmt: skip


def make_repo(folder: Path, size: int, change: float) -> Path:
    """base: the workload over `size` keys; head (HEAD): over `size * (1 + change)`."""
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "workload.py").write_text(WORKLOAD)
    for name, keys in (("base", size), ("head", round(size * (1 + change)))):
        (folder / "bench.sh").write_text(f"exec {PY} workload.py {keys}\n")
        git(folder, "add", "-A")
        git(folder, "-c", "commit.gpgsign=false", "commit", "-q", "-m", name)
        if name == "base":
            git(folder, "branch", "base")
    return folder


def gate(repo: Path, out: Path, runs: int, instructions: bool, src: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    if src:
        env["PYTHONPATH"] = src
    argv = [PY, "-m", "perfgate", "gate", "--repo", str(repo), "--base", "base",
            "--runs", str(runs), "--max-runs", str(runs), "--warmup", "1", "--seed", "1",
            "--json", str(out)]  # fmt: skip
    if instructions:
        argv.append("--instructions")
    started = time.monotonic()
    done = subprocess.run([*argv, "--", "sh", "bench.sh"], capture_output=True, text=True,
                          env=env, timeout=3600)  # fmt: skip
    elapsed = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"gate failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def counted(data: dict, side: str) -> int:
    return sum(s["instructions"] is not None for s in data["sides"][side]["samples"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per side (runs = max-runs)")
    parser.add_argument("--rounds", type=int, default=2, help="gates of each kind")
    parser.add_argument("--size", type=int, default=100_000, help="keys in base's workload")
    parser.add_argument("--change", type=float, default=0.02, help="head's extra work")
    parser.add_argument("--src", help="another perfgate src/ folder to run")
    args = parser.parse_args(argv)
    plain, with_counts = [], []
    with tempfile.TemporaryDirectory(prefix="perfgate-counted-runs-") as tmp:
        repo = make_repo(Path(tmp) / "project", args.size, args.change)
        for k in range(args.rounds):
            for instructions in (k % 2 == 1, k % 2 == 0):
                out = Path(tmp) / f"gate-{k}-{instructions}.json"
                seconds = gate(repo, out, args.runs, instructions, args.src)
                data = json.loads(out.read_text())
                if not instructions:
                    plain.append(seconds)
                    continue
                comparison = next(c for c in data["comparisons"] if c["metric"] == "instructions")
                with_counts.append(seconds)
                print(
                    f"gate {k + 1} with --instructions: {seconds:.1f} s; counted runs "
                    f"{counted(data, 'base')} base, {counted(data, 'head')} head; instructions "
                    f"{comparison['verdict']} {comparison['change']:+.2%}"
                )
    measured, total = statistics.median(plain), statistics.median(with_counts)
    print(
        f"\nsource: {args.src or 'this checkout'}; {args.runs} runs per side, workload "
        f"{args.size:,} keys, head +{args.change:.0%}\n"
        f"median gate without instructions: {measured:.1f} s; with: {total:.1f} s; "
        f"counting added {total - measured:.1f} s ({total / measured:.1f}x the gate)"
    )


if __name__ == "__main__":
    main()
