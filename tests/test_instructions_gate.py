"""The instructions metric through the real CLI: `gate`, `run` and `compare` on real repos.

The benchmarks are shell loops run by `sh`, not Python: under callgrind a
Python start-up costs a second or more (and minutes when coverage's
subprocess hook starts with it), while a shell loop of a few thousand steps
is counted in a fraction of a second.  Nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from git_helpers import make_repo

from perfgate.measure.instructions import find_counter

PY = sys.executable
DETECTION = find_counter()
needs_counter = pytest.mark.skipif(
    DETECTION.counter is None, reason="; ".join(DETECTION.findings) or "no instruction counter"
)
#: Fewest runs at which 5 identical counts against 5 others are significant at 1%
#: (the smallest two-sided Mann-Whitney p for 4 against 4 is 2/70, about 3%).
RUNS = "5"


def loop(steps: int) -> str:
    """A benchmark whose work, and so its instruction count, grows with `steps`."""
    return f"i=0\nwhile [ $i -lt {steps} ]; do i=$((i + 1)); done\n"


def plain_env(path: str | None = None) -> dict[str, str]:
    """The environment without coverage's hook (nothing here runs perfgate code under
    callgrind, but a stray Python benchmark would crawl), PATH replaced when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    if path is not None:
        env["PATH"] = path
    return env


def perfgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "perfgate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or plain_env(),
    )


def repo_with_head(tmp_path: Path, base_steps: int, head_steps: int):
    repo = make_repo(tmp_path / "project", {"bench.sh": loop(base_steps)}, "base")
    repo.git("branch", "base")
    repo.commit({"bench.sh": loop(head_steps)}, "head")
    return repo


def gate_args(repo, out: Path, *extra: str) -> list[str]:
    return [
        "gate", "--repo", str(repo.path), "--base", "base", "--head", "HEAD",
        "--runs", RUNS, "--max-runs", RUNS, "--warmup", "0", "--seed", "3",
        "--json", str(out), *extra, "--", "sh", "bench.sh",
    ]  # fmt: skip


def comparison(data: dict, metric: str) -> dict:
    return next(c for c in data["comparisons"] if c["metric"] == metric)


@needs_counter
def test_twice_the_work_is_an_instructions_regression(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, 2000, 4000)
    out = tmp_path / "results.json"
    markdown = tmp_path / "report.md"
    result = perfgate(*gate_args(repo, out, "--instructions", "--markdown", str(markdown)))
    assert result.returncode == 1, result.stderr + result.stdout
    data = json.loads(out.read_text())
    assert data["verdict"] == "fail"
    counted = comparison(data, "instructions")
    assert counted["verdict"] == "regression"
    assert counted["threshold"] == pytest.approx(0.01)
    # Twice the loop steps, plus the shell's own start-up that both sides share.
    assert 0.3 < counted["change"] < 1.1
    assert counted["ci"][0] > 0.01
    # A shell loop's count repeats exactly: three counted runs a side, judged by the rule
    # for counts that agree (every head/base ratio past the threshold), no p-value.
    for side in ("base", "head"):
        counts = [s["instructions"] for s in data["sides"][side]["samples"]]
        assert len(counts) == int(RUNS) and counts[3:] == [None, None]
        assert counts[0] > 100_000 and counts[:3] == [counts[0]] * 3
    assert counted["method"].startswith("counts that agree") and counted["p_value"] is None
    assert data["settings"]["instructions"] is True
    assert data["settings"]["instructions_counter"] == DETECTION.counter.note
    assert "instructions" in result.stdout and "regression" in result.stdout
    report = markdown.read_text()
    row = next(line for line in report.splitlines() if line.startswith("| instructions |"))
    assert " instr |" in row and "regression" in row
    assert "instructions +" in report.splitlines()[0]  # the headline names it

    # A recorded gate re-judged: the counts come back as a metric of their own.
    again = tmp_path / "again.json"
    compared = perfgate("compare", str(out), "--json", str(again))
    assert compared.returncode == 1, compared.stderr
    assert comparison(json.loads(again.read_text()), "instructions")["verdict"] == "regression"


@needs_counter
def test_the_same_work_is_unchanged_in_instructions(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, 3000, 3000)
    out = tmp_path / "results.json"
    result = perfgate(*gate_args(repo, out, "--instructions", "true"))
    data = json.loads(out.read_text())
    assert comparison(data, "instructions")["verdict"] == "unchanged", result.stdout


def test_without_the_switch_nothing_is_counted(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, 200, 200)
    out = tmp_path / "results.json"
    result = perfgate(*gate_args(repo, out))
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(out.read_text())
    assert "instructions" not in {c["metric"] for c in data["comparisons"]}
    assert all(s["instructions"] is None for s in data["sides"]["base"]["samples"])


def test_a_machine_without_a_counter_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """PATH holds git and sh but neither perf nor valgrind: exit 2, no checkout, no run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("git", "sh"):
        found = shutil.which(program)
        assert found is not None
        (bin_dir / program).symlink_to(found)
    marker = tmp_path / "ran"
    repo = make_repo(tmp_path / "project", {"bench.sh": f"touch {marker}\n"}, "base")
    repo.git("branch", "base")
    repo.commit({"README.md": "x\n"}, "head")
    before = repo.checkout_state()
    out = tmp_path / "results.json"
    result = perfgate(*gate_args(repo, out, "--instructions"), env=plain_env(str(bin_dir)))
    assert result.returncode == 2, result.stderr
    assert "instructions: this machine cannot count instructions" in result.stderr
    assert "perf is not installed" in result.stderr
    assert "valgrind is not installed" in result.stderr
    assert not marker.exists() and not out.exists()
    assert repo.checkout_state() == before

    ran = perfgate(
        "run", "--instructions", "--runs", "4", "--", "sh", "-c", f"touch {marker}",
        env=plain_env(str(bin_dir)),
    )  # fmt: skip
    assert ran.returncode == 2 and "valgrind is not installed" in ran.stderr
    assert not marker.exists()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_switch_value_is_refused(tmp_path: Path, value: str) -> None:
    result = perfgate("run", "--instructions", value, "--runs", "4", "--", "true")
    assert result.returncode == 2
    assert f"instructions: {value!r} is not allowed; expected true or false" in result.stderr


def test_a_bad_instructions_threshold_is_refused(tmp_path: Path) -> None:
    result = perfgate(
        "gate", "--repo", str(tmp_path), "--instructions-threshold", "5", "--", "true"
    )
    assert result.returncode == 2
    assert "instructions-threshold: '5' is not allowed" in result.stderr


@needs_counter
def test_run_prints_the_count_and_its_variation(tmp_path: Path) -> None:
    (tmp_path / "bench.sh").write_text(loop(1000))
    out = tmp_path / "run.json"
    result = subprocess.run(
        [PY, "-m", "perfgate", "run", "--instructions", "--runs", "4", "--warmup", "0",
         "--json", str(out), "--", "sh", "bench.sh"],
        capture_output=True, text=True, timeout=300, env=plain_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("instructions"))
    assert row.count("instr") == 6  # the title, then average, median, min, max, stdev
    assert row.rstrip().endswith("%")  # its CV
    samples = json.loads(out.read_text())["sides"]["run"]["samples"]
    # Counted runs stop at three once their counts agree: the fourth run has none.
    assert [bool(s["instructions"]) for s in samples] == [True, True, True, False]
