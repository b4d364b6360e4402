"""Record a noise corpus: real runs of fixed commands, back to back, on the machine at hand.

    python bench/record_noise.py bench/noise/vm-2core-b.json          # about 10 minutes
    python bench/record_noise.py OUT.json --runs 20                   # a quick look

The format is the one of the first corpus (README of ../shared/noise): per
workload the argv after the interpreter and every run in the order it ran
(start time, wall and CPU seconds, ru_maxrss in KiB, exit status).  The runs
are measured by `perfgate.measure.run`, as the gate measures them.

The workloads differ from the first corpus on purpose (rules must not be
tuned on one kind of noise): a real pytest suite (perfgate's own
configuration and results tests, from a snapshot of the repository so that
nothing changes under the recording), a mix of small-file I/O with fsync and
JSON, and a CPU loop of about a second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perfgate.measure.run import RunSpec, measure

ROOT = Path(__file__).resolve().parents[1]
IO_MIX = """
import json, os, tempfile
with tempfile.TemporaryDirectory() as d:
    for i in range(300):
        p = os.path.join(d, f"f{i}.json")
        with open(p, "w") as f:
            json.dump({"i": i, "data": list(range(200))}, f)
            if i % 25 == 0:
                f.flush(); os.fsync(f.fileno())
    total = 0
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name)) as f:
            total += len(json.load(f)["data"])
    for root, dirs, files in os.walk(d):
        for name in files:
            os.stat(os.path.join(root, name))
"""
CPU_1S = "s = 0\nfor i in range(9_000_000): s += i * i"
PYTEST_ARGV = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_config.py",
               "tests/test_results.py"]  # fmt: skip


def snapshot(folder: Path) -> Path:
    """The committed repository (HEAD) unpacked into `folder`: the suite cannot change
    while it is being recorded."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "HEAD", "src", "tests"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=200, help="runs per workload (I/O: 1.5x)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfgate-noise-") as tmp:
        snap = snapshot(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(snap / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        workloads = {
            "pytest_suite": (PYTEST_ARGV, args.runs),
            "io_mix": (["-c", IO_MIX], args.runs * 3 // 2),
            "cpu_1s": (["-c", CPU_1S], args.runs),
        }
        recorded = {}
        for name, (argv, count) in workloads.items():
            spec = RunSpec((sys.executable, *argv), snap, env, 120, Path(tmp) / "run.log")
            runs = []
            for i in range(count):
                started = time.time()
                sample = measure(spec, order=i)
                runs.append({
                    "t": round(started, 4), "wall_s": round(sample.wall_s, 6),
                    "cpu_s": round(sample.cpu_s, 6),
                    "maxrss_kib": sample.max_rss_bytes // 1024, "status": sample.exit_code,
                })  # fmt: skip
                if i % 50 == 0:
                    print(f"{name}: {i} of {count}", file=sys.stderr, flush=True)
            recorded[name] = {"argv": argv, "runs": runs}
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "note": "shared 2-core VM while other sessions ran test suites; runs back to back, "
        "one workload after the other (bench/record_noise.py)",
    }
    args.out.write_text(json.dumps({"machine": machine, "workloads": recorded}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
