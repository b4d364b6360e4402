"""`make demo-seed`: the seed's five problems, each planted in a commit, named by the gate.

    python examples/seed-story/run.py [--keep DIR] [--runs N]

Builds the seed-story repository (build.py), gates `pr` against `main` with
the per-test breakdown and `--imports appkit`, prints the comment, then the
comment's line that names each problem.  Exit code 0 when all five are
named, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from build import build

#: Each problem of the seed's report, and how the results JSON names it.
PROBLEMS: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "sys.path.insert loads a module twice": (
        "is loaded twice",
        lambda b: any(
            d["file"] == "appkit/tables.py" and d["new"] for d in b["tests"]["duplicates"]
        ),
    ),
    "heavy import at module level": (
        "now imports `heavylib`",
        lambda b: any(
            m["name"] == "heavylib" for c in b["imports"]["modules"] for m in c["new_heavy"]
        ),
    ),
    "real pools and background tasks": (
        "test_service.py::test_service_listens",
        lambda b: any(
            t["nodeid"].startswith("tests/test_service.py") and "sockets" in t["kinds"]
            for t in b["tests"]["left_behind"]
        ),
    ),
    "an event loop per test": (
        "event loop",
        lambda b: any("event_loops" in t["kinds"] for t in b["tests"]["left_behind"]),
    ),
    "resources not cleaned up between tests": ("**Leak**", lambda b: bool(b["tests"]["leaks"])),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the repository here and keep it")
    parser.add_argument("--runs", default="10", help="runs per side (default: 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="perfgate-seed-story-") as tmp:
        out = Path(tmp)
        repo = args.keep or out / "repo"
        build(repo)
        print(f"seed story: {repo}, main against pr (one commit per problem)")
        command = [
            sys.executable, "-m", "perfgate", "gate", "--repo", str(repo), "--base", "main",
            "--head", "pr", "--runs", args.runs, "--max-runs", args.runs, "--seed", "7",
            "--imports", "appkit", "--json", str(out / "results.json"),
            "--markdown", str(out / "report.md"),
            "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        ]  # fmt: skip
        print("seed story: $ perfgate gate --base main --head pr --imports appkit -- "
              "python -m pytest -q\n")  # fmt: skip
        code = subprocess.run(command).returncode
        comment = (out / "report.md").read_text(encoding="utf-8")
        breakdown = json.loads((out / "results.json").read_text())["breakdown"]
    print("\nseed story: the comment\n")
    print(comment)
    print("\nseed story: each problem, and the comment's line that names it\n")
    missing = []
    for problem, (words, named) in PROBLEMS.items():
        line = next((x for x in comment.splitlines() if words in x and x[:1] != "#"), "")
        found = named(breakdown) and line
        print(f"{'found' if found else 'MISSED'}: {problem}\n    {line.strip() or '(no line)'}")
        if not found:
            missing.append(problem)
    print(f"\nseed story: perfgate exited {code}; {5 - len(missing)} of 5 problems named")
    return 1 if missing or code != 1 else 0


if __name__ == "__main__":
    sys.exit(main())
