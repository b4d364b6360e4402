"""Record how much one machine's speed moves between sessions: the runner offsets of shards.

    python bench/record_offsets.py bench/noise/offsets-vm-2core.json --minutes 55

Shards of a gate run on different runners, each faster or slower than the others
for both of its sides.  How far apart can they be?  This script runs one fixed
workload (a CPU loop of about 0.3 s, in a fresh interpreter) in short sessions
of back-to-back runs, a few minutes apart, while whatever else the machine does
goes on, and writes every run with its session.  The spread of the sessions'
medians is the offset between two "runners" that bench/shards.py draws from:
the same hardware at different moments and loads (not different hardware, which
would differ more; the bench also reports a fixed 30% slower runner).

Runs are measured here with the standard library (monotonic clock, wait4), as
perfgate measures them, so that the script does not depend on perfgate's layout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOAD = "s = 0\nfor i in range(2_500_000): s += i * i"


def one_run() -> dict[str, float | int]:
    """One run of the workload: wall and CPU seconds, ru_maxrss in KiB, exit status."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", WORKLOAD])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = status
    return {
        "t": time.time(),
        "wall_s": time.monotonic() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_kib": usage.ru_maxrss,
        "status": status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=55.0, help="how long to record")
    parser.add_argument("--every", type=float, default=150.0, help="seconds between sessions")
    parser.add_argument("--runs", type=int, default=15, help="runs per session")
    args = parser.parse_args()
    data = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "sessions of back-to-back runs a few minutes apart on a shared machine",
        },
        "workload": {"argv": ["-c", WORKLOAD]},
        "sessions": [],
    }
    end = time.monotonic() + args.minutes * 60
    while True:
        session_started = time.monotonic()
        runs = [one_run() for _ in range(args.runs)]
        data["sessions"].append({"start": runs[0]["t"], "runs": runs})
        args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        median = statistics.median(r["wall_s"] for r in runs)
        print(f"session {len(data['sessions'])}: median {median:.3f} s", flush=True)
        wait = args.every - (time.monotonic() - session_started)
        if time.monotonic() + max(wait, 0) > end:
            return 0
        time.sleep(max(wait, 0))


if __name__ == "__main__":
    sys.exit(main())
