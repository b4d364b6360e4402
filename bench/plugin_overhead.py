"""What the perfgate pytest plugin costs: 1000 small tests, with and without it.

    python bench/plugin_overhead.py [--rounds N] [--tests N] [--seed S]

Three ways to run the same suite, taking turns in a shuffled order each round
so that drift of a shared machine hits all alike:

  absent  pytest -p no:perfgate          (the plugin not even loaded)
  off     pytest                         (loaded through its entry point, not asked)
  on      pytest --perfgate-json PATH    (recording every test)
  lean    as `on`, with PERFGATE_PYTEST_RESOURCES=none (no record of what tests leave)

Prints the median wall time of each (the whole `python -m pytest` process, as
a CI job sees it), and the added time of `on` and `off` against `absent`:
median ratio and a 95% Hodges-Lehmann interval (perfgate.compare.stats).  Target:
`on` adds at most 2%.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perfgate.compare import ranks
from perfgate.plugin_contract import RESOURCES_ENV_VAR

MODES = {
    "absent": ("-p", "no:perfgate"),
    "off": (),
    "on": ("--perfgate-json", "{out}"),
    "lean": ("--perfgate-json", "{out}"),
}
#: Environment of each mode, over the bench's own.
MODE_ENV = {"lean": {RESOURCES_ENV_VAR: "none"}}


def write_suite(root: Path, tests: int) -> None:
    """`tests` tiny tests in files of 100: plain, parametrized and with a fixture."""
    per_file = 100
    for f in range(0, tests, per_file):
        lines = ["import pytest", "", "@pytest.fixture", "def value():", "    return 3", ""]
        count = min(per_file, tests - f)
        plain = count // 2
        for i in range(plain):
            lines += [f"def test_plain_{i}(value):", "    assert value * 2 == 6", ""]
        lines += [
            f"@pytest.mark.parametrize('n', range({count - plain}))",
            "def test_param(n):",
            "    assert n >= 0",
            "",
        ]
        (root / f"test_bench_{f // per_file:02d}.py").write_text("\n".join(lines))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(root: Path, mode: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m pytest` of the suite."""
    args = [a.format(out=out) for a in MODES[mode]]
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        env={**os.environ, **MODE_ENV.get(mode, {})},
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{mode}: pytest failed:\n{result.stdout[-2000:]}")
    return elapsed, _children_cpu_s() - cpu_before


class _Report:
    """Just the attributes of a TestReport that the recorder reads."""

    def __init__(self, nodeid: str, when: str) -> None:
        self.nodeid, self.when, self.outcome, self.duration = nodeid, when, "passed", 1e-4


def hooks_cost_us(calls: int = 20000, resources: str = "auto") -> float:
    """The recorder's own work per test (its hooks called directly, pluggy's dispatch not
    included): a figure that the noise of a shared machine does not blur.  `resources`:
    with the record of what each test leaves behind (auto) or without (none)."""
    from perfgate.pytest_plugin import Recorder

    os.environ[RESOURCES_ENV_VAR] = resources
    try:
        recorder = Recorder(Path(tempfile.gettempdir()) / "unused.json")
    finally:
        del os.environ[RESOURCES_ENV_VAR]
    nodeid = "test_bench.py::test_plain_0"
    reports = [_Report(nodeid, when) for when in ("setup", "call", "teardown")]
    started = time.perf_counter()
    for _ in range(calls):
        recorder.pytest_runtest_logstart(nodeid, ("test_bench.py", 0, "test_plain_0"))
        for report in reports:
            recorder.pytest_runtest_logreport(report)
        recorder.pytest_runtest_logfinish(nodeid, ("test_bench.py", 0, "test_plain_0"))
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpus: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="perfgate-plugin-bench-") as tmp:
        root = Path(tmp)
        write_suite(root, args.tests)
        out = root / "perfgate.json"
        for mode in MODES:  # warm the file cache once per mode
            run_once(root, mode, out)
        for _ in range(args.rounds):
            order = list(MODES)
            rng.shuffle(order)
            for mode in order:
                wall, cpu = run_once(root, mode, out)
                walls[mode].append(wall)
                cpus[mode].append(cpu)
    print(f"{args.tests} tests, {args.rounds} rounds, python {sys.version.split()[0]}")
    print(f"{'mode':8} {'wall median':>12} {'wall min':>9} {'CPU median':>11} {'CPU min':>8}")
    for mode in MODES:
        print(
            f"{mode:8} {statistics.median(walls[mode]):11.3f}s {min(walls[mode]):8.3f}s "
            f"{statistics.median(cpus[mode]):10.3f}s {min(cpus[mode]):7.3f}s"
        )
    for label, values in (("wall", walls), ("CPU", cpus)):
        for mode in ("off", "on", "lean"):
            ratio = statistics.median(values[mode]) / statistics.median(values["absent"])
            change, low, high = ranks.shift_interval(values["absent"], values[mode])
            print(
                f"{label} {mode} vs absent: median ratio {ratio:.4f} ({(ratio - 1) * 100:+.2f}%),"
                f" shift {change * 100:+.2f}% (95% interval {low * 100:+.2f}% … {high * 100:+.2f}%)"
            )
    per_test = statistics.median(walls["absent"]) / args.tests * 1e6
    print(f"a test costs pytest about {per_test:.0f} µs (absent, wall, whole process / tests)")
    for resources, what in (("auto", "with"), ("none", "without")):
        own = statistics.median(hooks_cost_us(resources=resources) for _ in range(3))
        print(
            f"the recorder's own work per test, {what} what tests leave behind: {own:.1f} µs "
            f"({own / per_test * 100:.2f}% of that)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
