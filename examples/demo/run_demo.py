"""`make demo`: build a small project with a planted regression and gate it.

The project is a tiny package with a pytest suite.  Its base commit is lean;
its head commit makes one test do ten times the work (the suite gets about
twice as slow, enough to show on a loaded machine) and keeps a 40 MB cache
alive at import (peak memory grows by about 40 MB).  perfgate should say `fail` and name both.

Usage: python examples/demo/run_demo.py [--keep DIR] [--runs N]
Exit code 0 when perfgate finds what was planted, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PACKAGE_BASE = '''\
"""A small numeric package: the code under test."""


def checksum(n: int) -> int:
    """Sum of squares modulo a prime, a stand-in for real work."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total
'''

# The head keeps a 40 MB cache alive from import on (pages touched, so they
# count in resident memory): the "fixture that starts real pools" of the seed.
PACKAGE_HEAD = (
    PACKAGE_BASE
    + """

_CACHE = bytearray(b"\\x01") * (40 * 1024 * 1024)
"""
)

TESTS_BASE = """\
from calc import checksum


def test_small():
    assert checksum(10) == 285


def test_medium():
    assert checksum(1_000) == checksum(1_000)


def test_heavy():
    assert checksum(WORK) >= 0


WORK = 300_000
"""

TESTS_HEAD = TESTS_BASE.replace("WORK = 300_000", "WORK = 3_000_000")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def build_project(repo: Path) -> tuple[str, str]:
    """Create the example repository; return the base and head SHAs."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "demo@perfgate.invalid")
    git(repo, "config", "user.name", "perfgate demo")
    readme = "# calc\n\nThe example project of `make demo`.\n"
    conftest = "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parent))\n"
    base = commit(
        repo,
        {
            "README.md": readme,
            "conftest.py": conftest,
            "calc/__init__.py": PACKAGE_BASE,
            "tests/test_calc.py": TESTS_BASE,
        },
        "calc: the lean base",
    )
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(
        repo,
        {"calc/__init__.py": PACKAGE_HEAD, "tests/test_calc.py": TESTS_HEAD},
        "calc: cache everything, work harder (the planted regression)",
    )
    return base, head


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    parser.add_argument("--runs", default="10", help="runs per side (default: 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfgate-demo-") as tmp:
        repo = args.keep or Path(tmp) / "calc"
        base, head = build_project(repo)
        out = Path(tmp)
        print(f"demo: example project in {repo}")
        print(f"demo: base main {base[:12]}, head feature {head[:12]} (planted: slower, +40 MB)")
        command = [
            sys.executable, "-m", "perfgate", "gate",
            "--repo", str(repo), "--base", "main", "--head", "feature",
            "--runs", args.runs, "--max-runs", "20", "--seed", "7",
            "--json", str(out / "results.json"), "--markdown", str(out / "report.md"),
            "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        ]  # fmt: skip
        print("demo: $ perfgate gate --base main --head feature -- python -m pytest -q\n")
        code = subprocess.run(command).returncode
        report = (out / "report.md").read_text(encoding="utf-8")
        print("\ndemo: the Markdown report (as the PR comment shows it):\n")
        print(textwrap.indent(report, "    "))
        regressed = _regressed_metrics(out / "results.json")
        found = [name for name, metrics in PLANTED.items() if regressed & metrics]
        named = ", ".join(sorted(regressed)).replace("_", " ") or "none"
        print(f"demo: perfgate exited {code}; regressions found: {named}")
        if code == 1 and len(found) == len(PLANTED):
            print("demo: verdict fail, both planted regressions named, as expected")
            return 0
        print("demo: perfgate did not find what was planted")
        return 1


# What the head plants, and the metrics that may show each.  The slowdown is CPU-bound
# work, so wall time and CPU time both carry it; on a loaded machine wall time can stay
# inconclusive while CPU time settles the gate at an early look, and that is a find.
PLANTED = {"slower": {"wall_time", "cpu_time"}, "hungrier": {"peak_memory"}}


def _regressed_metrics(results_path: Path) -> set[str]:
    data = json.loads(results_path.read_text(encoding="utf-8"))
    return {c["metric"] for c in data["comparisons"] if c["verdict"] == "regression"}


if __name__ == "__main__":
    sys.exit(main())
