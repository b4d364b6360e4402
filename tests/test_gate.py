"""The gate end to end through the real CLI: real git repositories, real runs.

Benchmarks here are tiny Python scripts committed to the repository, so that
base and head differ the way a pull request would, and each gate takes a few
seconds.  Nothing here asserts a duration: only verdicts, codes and files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from git_helpers import make_repo

PY = sys.executable

# A benchmark that burns CPU for WORK seconds and holds MEGABYTES of touched memory.
BENCH = """\
import time
WORK = {work}
MEGABYTES = {megabytes}
hold = bytearray(b"\\x01") * (MEGABYTES * 1024 * 1024)
end = time.perf_counter() + WORK
while time.perf_counter() < end:
    pass
{extra}
"""


def bench(work: float = 0.03, megabytes: int = 5, extra: str = "") -> str:
    return BENCH.format(work=work, megabytes=megabytes, extra=extra)


def perfgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "perfgate", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def repo_with_head(tmp_path: Path, base_script: str, head_script: str):
    repo = make_repo(tmp_path / "project", {"bench.py": base_script, "README.md": "x\n"}, "base")
    repo.git("branch", "base")
    repo.commit({"bench.py": head_script}, "head")
    return repo


def gate(repo, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "results.json"
    result = perfgate(
        "gate",
        "--repo", str(repo.path), "--base", "base", "--head", "HEAD",
        "--runs", "6", "--max-runs", "10", "--warmup", "1", "--seed", "1",
        "--json", str(out), *extra,
        "--", PY, "bench.py",
    )  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else {}
    return result, data


def verdicts(data: dict) -> dict[str, str]:
    return {c["metric"]: c["verdict"] for c in data["comparisons"]}


def test_planted_memory_regression_is_found(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, bench(megabytes=5), bench(megabytes=45))
    result, data = gate(repo, tmp_path)
    assert result.returncode == 1, result.stderr
    assert data["verdict"] == "fail"
    assert verdicts(data)["peak_memory"] == "regression"
    memory = next(c for c in data["comparisons"] if c["metric"] == "peak_memory")
    assert memory["head_median"] - memory["base_median"] > 30 * 1024 * 1024
    assert "peak memory" in result.stdout.lower() or "peak_memory" in result.stdout


def test_planted_threefold_slowdown_is_found(tmp_path: Path) -> None:
    # 0.02 s against 0.4 s of busy work: even with a slow interpreter start-up
    # (coverage's subprocess hook, a loaded machine) the change is far above +50%.
    repo = repo_with_head(tmp_path, bench(work=0.02), bench(work=0.4))
    result, data = gate(repo, tmp_path)
    assert result.returncode == 1, result.stderr
    assert verdicts(data)["wall_time"] == "regression"
    assert verdicts(data)["cpu_time"] == "regression"
    wall = next(c for c in data["comparisons"] if c["metric"] == "wall_time")
    assert wall["change"] > 0.5 and wall["ci"][0] > 0.05
    samples = data["sides"]["base"]["samples"] + data["sides"]["head"]["samples"]
    assert sorted(s["order"] for s in samples) == list(range(len(samples)))
    assert all(s["exit_code"] == 0 for s in samples)


def test_identical_head_never_fails(tmp_path: Path) -> None:
    script = bench()
    repo = repo_with_head(tmp_path, script, script + "\n# a comment only\n")
    result, data = gate(repo, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["verdict"] == "pass"
    assert "regression" not in verdicts(data).values()


def test_broken_head_is_exit_3_with_its_stderr(tmp_path: Path) -> None:
    broken = bench(
        extra='import sys\nprint("boom: the head is broken", file=sys.stderr)\nsys.exit(5)'
    )
    repo = repo_with_head(tmp_path, bench(), broken)
    result, data = gate(repo, tmp_path)
    assert result.returncode == 3
    assert "head" in result.stderr
    assert "boom: the head is broken" in result.stderr
    assert data["verdict"] == "error"
    assert "boom: the head is broken" in data["error"]


def test_users_checkout_is_untouched(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, bench(), bench(work=0.04))
    (repo.path / "README.md").write_text("edited but not committed\n")
    (repo.path / "untracked.txt").write_text("mine\n")
    repo.git("add", "README.md")
    (repo.path / "bench.py").write_text("# unstaged edit\n" + bench())
    before = snapshot(repo)
    result, _ = gate(repo, tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert snapshot(repo) == before


def snapshot(repo) -> dict[str, str]:
    return {
        "branch": repo.git("rev-parse", "--abbrev-ref", "HEAD"),
        "head": repo.git("rev-parse", "HEAD"),
        "status": repo.git("status", "--porcelain=v1", "--untracked-files=all"),
        "staged": repo.git("diff", "--cached"),
        "unstaged": repo.git("diff"),
        "stash": repo.git("stash", "list"),
        "worktrees": repo.git("worktree", "list", "--porcelain"),
        "files": "\n".join(
            f"{p.relative_to(repo.path)}:{p.read_bytes().hex()}"
            for p in sorted(repo.path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(repo.path).parts
        ),
    }


def test_interrupted_gate_leaves_checkout_as_it_was(tmp_path: Path) -> None:
    slow = bench(work=0.3)
    repo = repo_with_head(tmp_path, slow, slow)
    (repo.path / "dirty.txt").write_text("uncommitted\n")
    before = snapshot(repo)
    process = subprocess.Popen(
        [PY, "-m", "perfgate", "gate", "--repo", str(repo.path), "--base", "base",
         "--runs", "20", "--max-runs", "20", "--", PY, "bench.py"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(worktrees(repo)) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert len(worktrees(repo)) == 3, "the gate never checked out both sides"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "interrupted" in stderr
    assert snapshot(repo) == before
    assert len(worktrees(repo)) == 1


def worktrees(repo) -> list[str]:
    """The repository's worktrees.  Listed while the gate's `git worktree add` is half
    done, git fails ("failed to read .git/worktrees/head/commondir"): asked again."""
    for _ in range(100):
        try:
            listing = repo.git("worktree", "list", "--porcelain")
        except RuntimeError as error:
            if "commondir" not in str(error) and "gitdir" not in str(error):
                raise
            time.sleep(0.05)
            continue
        return [line for line in listing.splitlines() if line.startswith("worktree ")]
    raise AssertionError("git worktree list kept failing")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-ref"], "no-such-ref"),
        (["--runs", "-1"], "runs"),
        (["--time-threshold", "abc"], "time-threshold: 'abc'"),
        (["--max-runs", "3", "--runs", "5"], "max-runs"),
    ],
)
def test_bad_input_is_exit_2_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    repo = repo_with_head(tmp_path, bench(), bench())
    marker = tmp_path / "ran"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", *args,
        "--", "sh", "-c", f"touch {marker}",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not marker.exists()


def test_not_a_git_repository_is_exit_2(tmp_path: Path) -> None:
    result = perfgate("gate", "--repo", str(tmp_path), "--base", "main", "--", "true")
    assert result.returncode == 2
    assert str(tmp_path) in result.stderr


def test_missing_command_is_exit_2(tmp_path: Path) -> None:
    repo = repo_with_head(tmp_path, bench(), bench())
    result = perfgate("gate", "--repo", str(repo.path), "--base", "base")
    assert result.returncode == 2
    assert "command" in result.stderr


@pytest.mark.parametrize("command", [["no-such-program-xyz", "-q"], ["--command", "no-such-x -q"]])
def test_command_that_cannot_be_found_is_exit_2(tmp_path: Path, command: list[str]) -> None:
    repo = repo_with_head(tmp_path, bench(), bench())
    args = command if command[0] == "--command" else ["--", *command]
    result = perfgate("gate", "--repo", str(repo.path), "--base", "base", *args)
    assert result.returncode == 2, result.stderr
    assert "cannot be found" in result.stderr
    assert len(worktrees(repo)) == 1


def test_run_prints_the_seed_scripts_statistics_and_saves_json(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text(bench())
    out = tmp_path / "run.json"
    result = perfgate("run", "--runs", "4", "--json", str(out), "--", PY, "bench.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout.lower()
    for word in ("average", "median", "min", "max"):
        assert word in text
    data = json.loads(out.read_text())
    assert data["verdict"] is None and list(data["sides"]) == ["run"]
    assert len(data["sides"]["run"]["samples"]) == 4


def test_compare_two_saved_runs(tmp_path: Path) -> None:
    # Two runs measured one after the other, not interleaved: the machine's load may
    # change between them, so the planted change must dwarf any start-up cost (the work
    # is a busy wait on the clock, so load stretches only the start-up).
    for name, work in (("a", 0.01), ("b", 1.0)):
        (tmp_path / f"{name}.py").write_text(bench(work=work))
        result = perfgate(
            "run", "--runs", "6", "--json", str(tmp_path / f"{name}.json"), "--", PY, f"{name}.py",
            cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    md = tmp_path / "report.md"
    result = perfgate(
        "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--markdown", str(md)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "wall" in md.read_text().lower()


def test_compare_refuses_a_file_that_is_not_results(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"schema": "other"}')
    result = perfgate("compare", str(bogus), str(bogus))
    assert result.returncode == 2
    assert "x.json" in result.stderr


def test_help_names_every_subcommand() -> None:
    result = perfgate("--help")
    assert result.returncode == 0
    for word in ("gate", "run", "compare"):
        assert word in result.stdout
    result = perfgate("gate", "--help")
    assert "--time-threshold" in result.stdout and "--max-runs" in result.stdout


def test_environment_of_the_benchmark_holds_no_secrets(tmp_path: Path) -> None:
    dump = tmp_path / "env.txt"
    script = f"import os\nopen({str(dump)!r}, 'w').write(repr(sorted(os.environ)))\n"
    repo = repo_with_head(tmp_path, script, script)
    env = {**os.environ, "GITHUB_TOKEN": "ghs_secret", "ACTIONS_RUNTIME_TOKEN": "rt"}
    result = subprocess.run(
        [PY, "-m", "perfgate", "gate", "--repo", str(repo.path), "--base", "base",
         "--runs", "5", "--max-runs", "5", "--", PY, "bench.py"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    seen = dump.read_text()
    assert "GITHUB_TOKEN" not in seen and "ACTIONS_RUNTIME_TOKEN" not in seen
    assert "PATH" in seen


def test_output_path_that_is_a_folder_is_refused_before_running(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text(bench())
    result = perfgate("run", "--json", str(tmp_path), "--", PY, "bench.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "it is a folder" in result.stderr


def test_runs_above_the_default_max_runs_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "bench.py").write_text("pass\n")
    out = tmp_path / "run.json"
    result = perfgate(
        "run", "--runs", "35", "--warmup", "0", "--json", str(out), "--", PY, "bench.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(json.loads(out.read_text())["sides"]["run"]["samples"]) == 35


def test_compare_refuses_files_without_enough_runs(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text("[]")
    result = perfgate("compare", str(listing), str(listing))
    assert result.returncode == 2 and "list.json" in result.stderr
    empty = tmp_path / "err.json"
    empty.write_text(
        json.dumps({"schema": "perfgate/1", "verdict": "error", "sides": {"base": {}, "head": {}}})
    )
    result = perfgate("compare", str(empty))
    assert result.returncode == 2 and "need at least 4 successful" in result.stderr


def test_compare_rejudges_with_the_recorded_threshold(tmp_path: Path) -> None:
    # +0.15 s on 0.3 s of work: between +25% and +50% whatever the start-up costs,
    # so inside a 90% threshold and far outside a 5% one.  10 runs a side: with 6, a
    # loaded machine (wall time CV 22% at load 10) left the 5% re-judging without a verdict.
    repo = repo_with_head(tmp_path, bench(work=0.3), bench(work=0.45))
    out = tmp_path / "results.json"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", "--runs", "10", "--max-runs", "10",
        "--time-threshold", "90%", "--json", str(out), "--", PY, "bench.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    again = perfgate("compare", str(out), "--json", str(tmp_path / "again.json"))
    assert again.returncode == 0, again.stdout
    data = json.loads((tmp_path / "again.json").read_text())
    assert data["settings"]["time_threshold"] == 0.9 and data["settings"]["runs"] == 10
    strict = perfgate("compare", str(out), "--time-threshold", "5%")
    assert strict.returncode == 1


def test_failed_gate_keeps_the_runs_it_measured(tmp_path: Path) -> None:
    counter = tmp_path / "head-runs"
    fail_third = bench(
        extra=f"import pathlib, sys\np = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) if p.exists() else 0\np.write_text(str(n + 1))\n"
        "sys.exit(9 if n >= 3 else 0)"
    )
    repo = repo_with_head(tmp_path, bench(), fail_third)
    result, data = gate(repo, tmp_path)
    assert result.returncode == 3
    assert data["verdict"] == "error" and "run 3 exited with code 9" in data["error"]
    assert len(data["sides"]["head"]["samples"]) == 2
    assert len(data["sides"]["base"]["samples"]) >= 2
    assert "log:" not in data["error"]


def test_bad_config_file_keys_are_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "perf.yml"
    config.write_text("1: 2\n")
    result = perfgate("run", "--config", str(config), "--", "true", cwd=tmp_path)
    assert result.returncode == 2 and "not a name" in result.stderr


SUITE = """\
import time


def test_fast():
    assert True


def test_planted():
    time.sleep({delay})


def test_other():
    assert sum(range(100)) == 4950
"""


def test_a_pytest_benchmark_names_the_slower_test_and_the_new_import(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "suite",
        {"test_suite.py": SUITE.format(delay=0.0), "mypkg/__init__.py": "VERSION = 1\n"},
        "base",
    )
    repo.git("branch", "base")
    heavy = "import json, email.mime.text, xml.dom.minidom\nVERSION = 2\n"
    repo.commit({"test_suite.py": SUITE.format(delay=0.08), "mypkg/__init__.py": heavy}, "head")
    out = tmp_path / "results.json"
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", "--runs", "6", "--max-runs", "6",
        "--warmup", "0", "--imports", "mypkg", "--json", str(out), "--markdown",
        str(tmp_path / "report.md"), "--", PY, "-m", "pytest", "-q", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    evidence = json.loads(out.read_text())["breakdown"]
    slower = [t["nodeid"] for t in evidence["tests"]["time_regressions"]]
    assert slower == ["test_suite.py::test_planted"]
    modules = {m["module"] for m in evidence["imports"]["modules"]}
    assert modules == {"mypkg"}
    report = (tmp_path / "report.md").read_text()
    assert "test_planted" in report and "Which test, which import" in report


def _pytest_without_perfgate(folder: Path) -> Path:
    """A folder holding pytest and its dependencies but not perfgate: put on PYTHONPATH
    of a `python -S` (no site-packages), it is a pytest that cannot import perfgate,
    as when perfgate runs from pipx or each side has a venv of its own."""
    from importlib import metadata

    folder.mkdir()
    for name in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
        dist = metadata.distribution(name)
        tops = {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}
        for top in tops:
            (folder / top).symlink_to(Path(dist.locate_file(top)))
    return folder


def test_per_test_data_when_the_benchmarks_python_cannot_import_perfgate(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "suite", {"test_suite.py": SUITE.format(delay=0.0)}, "base")
    repo.git("branch", "base")
    repo.commit({"test_suite.py": SUITE.format(delay=0.08)}, "head")
    site = _pytest_without_perfgate(tmp_path / "site")
    probe = subprocess.run(
        [PY, "-S", "-c", "import perfgate"], env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True,
    )  # fmt: skip
    assert probe.returncode != 0, "the benchmark's Python must not see perfgate"
    out = tmp_path / "results.json"
    command = f'PYTHONPATH="$PYTHONPATH:{site}" {PY} -S -m pytest -q -p no:cacheprovider'
    # 6 runs a side: the test and its file are two hypotheses (Holm: 0.01 / 2), which
    # 5 against 5 can never reach (smallest two-sided p 2/252 = 0.0079); 6 against 6 can
    # (2/924 = 0.0022).
    result = perfgate(
        "gate", "--repo", str(repo.path), "--base", "base", "--runs", "6", "--max-runs", "6",
        "--warmup", "0", "--breakdown", "pytest", "--json", str(out), "--command", command,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    evidence = json.loads(out.read_text())["breakdown"]
    assert "notes" not in evidence or not evidence["notes"], evidence.get("notes")
    slower = [t["nodeid"] for t in evidence["tests"]["time_regressions"]]
    assert slower == ["test_suite.py::test_planted"]
