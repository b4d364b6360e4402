"""Run the heavy-import example through perfgate's breakdown and print the comment section.

    python examples/heavy-import/show.py [--runs N] [--import-runs N] [--json PATH]

Builds the example repository (build.py) in a temporary folder, checks out
`main` and `pr` side by side with `git worktree`, runs the test suite on both,
interleaved, with the pytest plugin switched on through PERFGATE_PYTEST_JSON
(the user's command stays `python -m pytest -q`), measures `import appkit` on
both, and prints what perfgate would add to the pull-request comment.

Exit code 0 when it names the import, the slow tests and the leaking test; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from build import build, git

from perfgate.compare.imports import compare_imports
from perfgate.compare.tests import Breakdown, compare_breakdowns
from perfgate.measure.import_trace import measure_imports
from perfgate.measure.pytest_documents import collect_pytest_breakdown, plugin_env
from perfgate.report.breakdown import render_breakdown_markdown

# Every test using the new `pool` fixture pays its 40 ms handshake; the first of them,
# test_render_report, was also the one that paid for heavylib's lazy import on base (so it
# gets faster), and it is where the leak starts.
SLOW_TESTS = [
    f"tests/test_api.py::test_render_{name}"
    for name in ("empty", "one", "columns", "pear", "twice")
]
LEAK_START = "tests/test_api.py::test_render_report"


def run_suite(worktree: Path, out: Path) -> None:
    env = {**os.environ, **plugin_env(out), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=worktree,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"the suite failed in {worktree}:\n{result.stdout[-2000:]}")


def gather(root: Path, runs: int, import_runs: int) -> Breakdown:
    repo = root / "repo"
    build(repo)
    trees = {"base": root / "base", "head": root / "head"}
    git(repo, "worktree", "add", "-q", "--detach", str(trees["base"]), "main")
    git(repo, "worktree", "add", "-q", "--detach", str(trees["head"]), "pr")
    outputs: dict[str, list[Path]] = {"base": [], "head": []}
    for k in range(runs):
        order = ("base", "head") if k % 2 == 0 else ("head", "base")
        for side in order:
            out = root / "out" / f"{side}-{k}.json"
            run_suite(trees[side], out)
            outputs[side].append(out)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    profiles = {
        side: measure_imports(sys.executable, ["appkit"], trees[side], env, runs=import_runs)
        for side in ("base", "head")
    }
    tests = compare_breakdowns(
        collect_pytest_breakdown(outputs["base"]),
        collect_pytest_breakdown(outputs["head"]),
        time_threshold=0.05,
        memory_threshold=0.10,
    ).tests
    return Breakdown(tests=tests, imports=compare_imports(profiles["base"], profiles["head"]))


def found_everything(breakdown: Breakdown) -> list[str]:
    """What the example plants and the breakdown failed to name (empty: all found)."""
    missing = []
    heavy = [m.name for change in breakdown.imports.modules for m in change.new_heavy]
    if "heavylib" not in heavy:
        missing.append("heavylib imported at module level")
    slow = {c.nodeid for c in breakdown.tests.time_regressions}
    if not set(SLOW_TESTS) <= slow:
        missing.append(f"slow tests {sorted(set(SLOW_TESTS) - slow)}")
    if not any(leak.first_test == LEAK_START for leak in breakdown.tests.leaks):
        missing.append(f"the leak starting at {LEAK_START}")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="suite runs per side (default 8)")
    parser.add_argument("--import-runs", type=int, default=7, help="imports per side")
    parser.add_argument("--json", type=Path, help="also write the breakdown JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="perfgate-heavy-import-") as tmp:
        breakdown = gather(Path(tmp), args.runs, args.import_runs)
    if args.json:
        args.json.write_text(json.dumps(breakdown.to_json(), indent=2) + "\n")
    print(render_breakdown_markdown(breakdown, max_chars=20_000))
    missing = found_everything(breakdown)
    for item in missing:
        print(f"NOT FOUND: {item}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
