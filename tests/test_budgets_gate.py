"""Budgets end to end through the real CLI: real repositories, real runs, real pytest.

Every planted budget is far from its limit (0.3 s of busy work against 50 ms,
a few MB against 2 GB), so that no verdict here depends on the machine's load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from git_helpers import make_repo

PY = sys.executable

BUSY = """\
import time
end = time.perf_counter() + {work}
while time.perf_counter() < end:
    pass
"""


def perfgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "perfgate", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def gate(repo_path: Path, out: Path, *extra: str, command: tuple[str, ...] = ()):
    result = perfgate(
        "gate", "--repo", str(repo_path), "--base", "base", "--head", "HEAD",
        "--runs", "7", "--max-runs", "7", "--warmup", "0", "--seed", "3",
        "--json", str(out), *extra, "--", *(command or (PY, "bench.py")),
    )  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else {}
    return result, data


def budget_verdicts(data: dict) -> dict[str, str]:
    return {b["key"]: b["verdict"] for b in data.get("budgets", [])}


def test_a_budget_exceeded_on_head_fails_naming_it_and_one_met_passes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"bench.py": BUSY.format(work=0.3)}, "base")
    repo.git("branch", "base")
    repo.commit({"README.md": "same code\n"}, "head")
    result, data = gate(
        repo.path, tmp_path / "r.json",
        "--budget", "wall-time=50ms", "--budget", "peak-memory=2GB",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert data["verdict"] == "fail"
    assert budget_verdicts(data) == {"wall-time": "over", "peak-memory": "met"}
    wall = next(b for b in data["budgets"] if b["key"] == "wall-time")
    assert wall["limit"] == 0.05 and wall["runs"] == 7
    assert wall["ci"][0] > 0.3  # 7 runs: the interval's low end is the fastest run
    first = result.stdout.splitlines()[0]
    assert first.startswith("❌ perfgate: fail") and "wall time over its 50ms budget" in first

    met, data = gate(repo.path, tmp_path / "m.json", "--budget", "wall-time=60s")
    assert met.returncode == 0, met.stdout + met.stderr
    assert budget_verdicts(data) == {"wall-time": "met"}
    assert "over budget" not in met.stdout


def test_bad_budget_input_is_exit_2_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'a').write('x')\n"
    repo = make_repo(tmp_path / "project", {"bench.py": script}, "base")
    repo.git("branch", "base")
    for extra in (("--budget", "wall=2s"), ("--budget", "wall-time=2m"), ("--budget", "2s")):
        result, _ = gate(repo.path, tmp_path / "r.json", *extra)
        assert result.returncode == 2, result.stderr
        assert "budgets" in result.stderr
    (repo.path / ".perfgate.yml").write_text("budgets:\n  peak-memory: 200mb\n")
    result, _ = gate(repo.path, tmp_path / "r.json")
    assert result.returncode == 2 and "unknown unit 'mb'" in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "r.json").exists()


def test_a_per_test_budget_over_on_head_fails_naming_the_test(tmp_path: Path) -> None:
    fast = "def test_x():\n    assert True\n\ndef test_y():\n    assert True\n"
    slow = (
        "import time\n\ndef test_x():\n    end = time.perf_counter() + 0.3\n"
        "    while time.perf_counter() < end:\n        pass\n\n"
        "def test_y():\n    assert True\n"
    )
    repo = make_repo(tmp_path / "project", {"tests/test_api.py": fast}, "base")
    repo.git("branch", "base")
    repo.commit({"tests/test_api.py": slow}, "head: test_x busy for 0.3 s")
    result, data = gate(
        repo.path, tmp_path / "r.json",
        "--budget", "tests/test_api.py::test_x=50ms", "--budget", "tests/test_api.py::test_y=10s",
        command=(PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert budget_verdicts(data) == {
        "tests/test_api.py::test_x": "over", "tests/test_api.py::test_y": "met",
    }  # fmt: skip
    assert "tests/test_api.py::test_x over its 50ms budget" in result.stdout.splitlines()[0]


def test_run_reports_budgets_and_exits_1_when_one_is_over(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text(BUSY.format(work=0.3))
    out = tmp_path / "run.json"
    result = perfgate(
        "run", "--runs", "7", "--warmup", "0", "--json", str(out),
        "--budget", "cpu-time=50ms", "--budget", "peak-memory=2GiB", "--", PY, "bench.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert budget_verdicts(data) == {"cpu-time": "over", "peak-memory": "met"}
    assert "98% interval" in result.stdout
    assert "over budget: CPU time over its 50ms budget" in result.stdout


def test_run_reports_a_budget_near_its_limit_as_near(tmp_path: Path) -> None:
    # Runs alternate between nothing and 2 s of sleep: the fastest run is far under 1 s and
    # the slowest far over it, so the median's interval (fastest to slowest at 7 runs)
    # straddles the limit whatever the load.
    counter = tmp_path / "count"
    (tmp_path / "bench.py").write_text(
        "import pathlib, time\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        "if n % 2:\n    time.sleep(2)\n"
    )
    result = perfgate(
        "run", "--runs", "7", "--warmup", "0", "--budget", "wall-time=1s", "--", PY, "bench.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "near (the interval straddles the limit)" in result.stdout


def test_run_judges_a_per_test_budget_from_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_api.py").write_text(
        "import time\n\ndef test_x():\n    end = time.perf_counter() + 0.3\n"
        "    while time.perf_counter() < end:\n        pass\n\n"
        "def test_y():\n    assert True\n"
    )
    out = tmp_path / "run.json"
    result = perfgate(
        "run", "--runs", "7", "--warmup", "0", "--json", str(out),
        "--budget", "tests/test_api.py::test_x=50ms", "--budget", "tests/test_api.py=1min",
        "--budget", "tests/test_gone.py=1s",
        "--", PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert budget_verdicts(json.loads(out.read_text())) == {
        "tests/test_api.py::test_x": "over", "tests/test_api.py": "met",
        "tests/test_gone.py": "not measured",
    }  # fmt: skip
    assert [p.name for p in tmp_path.glob("*.json*")] == ["run.json"]  # plugin files: ours
