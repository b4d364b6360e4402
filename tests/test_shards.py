"""Shards: `perfgate gate --shard K/N` in separate processes, `perfgate merge`, and what the
merge refuses.  The end-to-end scenario runs three real shard processes per case, one of
them on a "slower runner" (the benchmark scales its work by an environment variable, both
sides alike); the refusals and the statistics use results files built here."""

from __future__ import annotations

import fnmatch
import json
import math
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from git_helpers import make_repo
from github_server import TOKEN

from perfgate import cli, shards
from perfgate.compare import sequential, stats, stratified
from perfgate.results import Environment, Results, Sample, Side

PY = sys.executable
SLOWNESS = "PERFGATE_TEST_RUNNER_SLOWNESS"

# Wall time: a sleep of WORK seconds (times the runner's slowness); CPU time: a busy loop
# of 0.2 CPU seconds (times the slowness), so that CPU time is steady under load and only
# wall time moves when WORK does.
BENCH = """\
import os, time
slowness = float(os.environ.get("{var}", "1"))
while time.process_time() < 0.2 * slowness:
    pass
time.sleep({work} * slowness)
"""


def bench(work: float) -> str:
    return BENCH.format(var=SLOWNESS, work=work)


def start_shard(repo, base: str, head: str, index: int, out: Path, slowness: float):
    """One shard as a matrix job runs it: a checkout of its own (a clone, as each runner
    has), this runner's slowness in the environment."""
    checkout = out.with_suffix("")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(checkout)], check=True)
    env = {**os.environ, SLOWNESS: str(slowness), "PERFGATE_PASS_ENV": SLOWNESS}
    return subprocess.Popen(
        [
            PY, "-m", "perfgate", "gate", "--repo", str(checkout), "--base", base, "--head", head,
            "--runs", "4", "--warmup", "0", "--time-threshold", "12%", "--seed", "7",
            "--shard", f"{index}/3", "--json", str(out), "--", PY, "bench.py",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shard_files(tmp_path_factory) -> dict[str, list[Path]]:
    """Three shards each of identical code and of a planted 30% slowdown of the sleep
    (2.0 s -> 2.6 s), all six processes at once; shard 2 on a runner 30% slower."""
    folder = tmp_path_factory.mktemp("shards")
    repo = make_repo(folder / "project", {"bench.py": bench(2.0), "README.md": "x\n"}, "base")
    base = repo.sha()
    same = repo.commit({"README.md": "y\n"}, "identical code")
    slower = repo.commit({"bench.py": bench(2.6)}, "30% slower")
    files: dict[str, list[Path]] = {}
    running = []
    for case, head in (("same", same), ("slower", slower)):
        files[case] = [folder / f"{case}-{k}.json" for k in (1, 2, 3)]
        for k, out in enumerate(files[case], start=1):
            running.append(start_shard(repo, base, head, k, out, 1.3 if k == 2 else 1.0))
    for process in running:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stdout + stderr  # a shard decides nothing
        assert "no verdict until every shard is merged" in stdout
    return files


def merge(*paths: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "perfgate", "merge", *map(str, paths), *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_each_shard_says_which_it_is_and_where_it_ran(shard_files) -> None:
    for k, path in enumerate(shard_files["same"], start=1):
        data = json.loads(path.read_text())
        assert data["shard"]["index"] == k and data["shard"]["count"] == 3
        assert data["shard"]["exit_code"] == 0 and data["verdict"] is None
        assert data["shard"]["machine"]["hostname"] == os.uname().nodename
        assert data["shard"]["machine"]["kernel"] == os.uname().release
        assert len(data["sides"]["base"]["samples"]) == len(data["sides"]["head"]["samples"]) == 4
    # Each shard its own shuffled order, replayable from the one seed given to all.
    seeds = {json.loads(p.read_text())["seed"] for p in shard_files["same"]}
    assert seeds == {shards.shard_seed(7, k) for k in (1, 2, 3)}


def test_the_slower_runner_was_slower_for_both_sides(shard_files) -> None:
    """What the merge must not call a change: shard 2 took about 30% longer on both sides."""
    medians = {}
    for k, path in enumerate(shard_files["same"], start=1):
        data = json.loads(path.read_text())
        walls = [s["wall_s"] for side in ("base", "head") for s in data["sides"][side]["samples"]]
        medians[k] = sorted(walls)[len(walls) // 2]
    assert medians[2] > 1.15 * max(medians[1], medians[3])


def test_identical_code_passes(shard_files, tmp_path: Path) -> None:
    out = tmp_path / "merged.json"
    result = merge(*shard_files["same"], extra=("--json", str(out)))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["verdict"] == "pass"
    assert {c["method"] for c in data["comparisons"]} == {stratified.METHOD}
    assert [s["index"] for s in data["shards"]] == [1, 2, 3]
    assert len(data["sides"]["base"]["samples"]) == 12
    wall = next(c for c in data["comparisons"] if c["metric"] == "wall_time")
    assert wall["verdict"] != "regression"
    assert wall["ci"][0] < 0.12  # the slower runner's 30% is nowhere in the change


def test_a_planted_30_percent_slowdown_fails_naming_wall_time(shard_files, tmp_path) -> None:
    out, report = tmp_path / "merged.json", tmp_path / "report.md"
    result = merge(*shard_files["slower"], extra=("--json", str(out), "--markdown", str(report)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "wall time" in result.stdout.splitlines()[0]
    verdicts = {c["metric"]: c["verdict"] for c in json.loads(out.read_text())["comparisons"]}
    assert verdicts["wall_time"] == "regression"
    assert verdicts["cpu_time"] != "regression"  # the busy loop did not change
    text = report.read_text()
    assert "3 shards, base and head compared within each" in text
    # `perfgate compare` on the merge re-judges it as the merge did.
    again = tmp_path / "again.json"
    rejudged = subprocess.run(
        [PY, "-m", "perfgate", "compare", str(out), "--json", str(again)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rejudged.returncode == 1, rejudged.stdout + rejudged.stderr
    assert (
        json.loads(again.read_text())["comparisons"] == json.loads(out.read_text())["comparisons"]
    )


def test_merge_refuses_a_missing_shard(shard_files) -> None:
    first, _, third = shard_files["same"]
    result = merge(first, third)
    assert result.returncode == 2
    assert f"shard 2/3 missing (given: 1/3 in {first}, 3/3 in {third})" in result.stderr


def test_merge_refuses_mixed_commits(shard_files) -> None:
    result = merge(shard_files["same"][0], *shard_files["slower"][1:])
    assert result.returncode == 2
    assert "measured another head commit" in result.stderr
    assert str(shard_files["slower"][1]) in result.stderr


# --- Refusals and statistics on results files built here ------------------------------------


def shard(
    index: int,
    count: int = 3,
    *,
    offset: float = 1.0,
    change: float = 0.0,
    seed: int = 0,
    runs: int = 6,
    **fields,
) -> Results:
    """Shard `index` of `count`: `runs` pairs, 1 s of work times the runner's `offset`,
    head `change` slower, 2% noise; `fields` replace any of the Results' own."""
    rng = random.Random(seed * 100 + index)
    samples: dict[str, list[Sample]] = {"base": [], "head": []}
    for k in range(runs):
        for j, side in enumerate(("base", "head")):
            wall = offset * (1 + (change if side == "head" else 0)) * math.exp(rng.gauss(0, 0.02))
            samples[side].append(Sample(wall, wall / 2, 10**7, 10**7, 0, 2 * k + j))
    results = Results(
        verdict=None,
        sides={
            "base": Side("main", "a" * 40, tuple(samples["base"])),
            "head": Side("HEAD", "b" * 40, tuple(samples["head"])),
        },
        command="python bench.py",
        environment=Environment(perfgate="0.1.0"),
        seed=index,
        settings={"runs": runs, "max_runs": runs, "time_threshold": 0.05,
                  "memory_threshold": 0.1, "inconclusive": "pass"},
        shard={"index": index, "count": count, "machine": {"hostname": f"runner-{index}"},
               "exit_code": 0},
    )  # fmt: skip
    return replace(results, **fields)


def written(tmp_path: Path, *results: Results) -> list[str]:
    paths = []
    for k, r in enumerate(results):
        path = tmp_path / f"shard-{k}.json"
        r.write(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize(
    ("others", "message"),
    [
        ({"command": "python other.py"}, "ran another command than"),
        ({"settings": {"runs": 6, "max_runs": 6, "time_threshold": 0.2, "memory_threshold": 0.1,
                       "inconclusive": "pass"}}, "other settings than"),
        ({"environment": Environment(perfgate="0.2.0")}, "written by perfgate '0.2.0'"),
        ({"shard": {"index": 2, "count": 4, "exit_code": 0}}, "one of 3 shards"),
        ({"shard": {"index": 1, "count": 3, "exit_code": 0}}, "shard 1/3 is given twice"),
        ({"shard": None}, "is not one shard's results"),
        ({"shard": {"index": 5, "count": 3}}, "is not K of N"),
        ({"shards": ({"index": 1},), "shard": None}, "is already a merge"),
    ],
)  # fmt: skip
def test_merge_refuses_files_that_are_not_the_shards_of_one_gate(
    tmp_path: Path, capsys, others: dict, message: str
) -> None:
    paths = written(tmp_path, shard(1), shard(2, **others), shard(3))
    assert cli.main(["merge", *paths]) == 2
    error = capsys.readouterr().err
    assert message in error and paths[1] in error


def test_merge_refuses_a_file_that_is_not_results(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"schema": "perfgate/1", "sides": [], "shard": {"index": 1}}')
    assert cli.main(["merge", str(junk)]) == 2
    assert f"merge: {junk} is not a perfgate results file" in capsys.readouterr().err
    assert cli.main(["merge", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_failed_shard_is_the_merged_gates_error(tmp_path: Path, capsys) -> None:
    broken = shard(
        2, verdict="error", error="the benchmark failed on head: run 3 exited with code 1",
        shard={"index": 2, "count": 3, "machine": {"hostname": "runner-2"}, "exit_code": 3},
    )  # fmt: skip
    out = tmp_path / "merged.json"
    paths = written(tmp_path, shard(1), broken, shard(3))
    assert cli.main(["merge", *paths, "--json", str(out)]) == 3
    data = json.loads(out.read_text())
    assert data["verdict"] == "error"
    assert data["error"].startswith(f"shard 2/3 ({paths[1]}, on runner-2) failed: the benchmark")


def test_one_shard_merged_gives_the_gates_verdict(tmp_path: Path, capsys) -> None:
    """One shard of 8 pairs: the verdict, p-values and intervals of a gate of 8 runs a side
    at one look (runs = max-runs), which is stats.judge with a fixed plan."""
    only = shard(1, 1, change=0.06, runs=8)
    merged, code = shards.merge([("only.json", only)])
    thresholds = shards.thresholds_of(only.settings)
    gate = stats.judge(only.sides["base"], only.sides["head"], sequential.Plan.fixed(thresholds, 8))
    assert merged.comparisons == gate.comparisons
    assert (merged.verdict, code) == (gate.verdict, 1 if gate.verdict == "fail" else 0)


def test_runner_offsets_are_not_a_change_but_a_real_one_is_found() -> None:
    """Three runners, one 30% slower and one 20% faster for both sides, head 8% slower:
    the merge finds the regression; the same runs pooled into one unstratified comparison
    are too spread by the runners to tell."""
    offsets = (1.0, 1.3, 0.8)
    named = [(f"{k}.json", shard(k, offset=offsets[k - 1], change=0.08, seed=3, runs=10))
             for k in (1, 2, 3)]  # fmt: skip
    merged, code = shards.merge(named)
    wall = merged.comparison("wall_time")
    assert (wall.verdict, code) == ("regression", 1)
    assert 0.05 < wall.change < 0.11
    # Pooled as two samples, the runners' offsets swamp the change; judged by the pairs,
    # each of which ran on one runner, they cancel as they do in the stratified test.
    plan = sequential.Plan.fixed(shards.thresholds_of(named[0][1].settings), 30)
    sides = merged.sides["base"], merged.sides["head"]
    pooled = stats.judge(*sides, plan, paired=False).comparisons[0]
    assert pooled.verdict == "inconclusive"
    assert pooled.ci[1] - pooled.ci[0] > 3 * (wall.ci[1] - wall.ci[0])
    by_pairs = stats.judge(*sides, plan).comparisons[0]
    assert by_pairs.method.startswith("paired") and by_pairs.verdict == "regression"
    # The p-value is van Elteren's over the shards' logs.
    strata = [
        ([math.log(s.wall_s) for s in r.sides["base"].samples],
         [math.log(s.wall_s) for s in r.sides["head"].samples])
        for _, r in named
    ]  # fmt: skip
    assert wall.p_value == pytest.approx(stratified.van_elteren_p(strata, "greater"))
    no_change = [(n, shard(k, offset=offsets[k - 1], seed=4, runs=10)) for k, (n, _) in
                 enumerate(named, start=1)]  # fmt: skip
    assert shards.merge(no_change)[0].comparison("wall_time").verdict != "regression"


def test_publish_refuses_one_shards_results_and_posts_a_merge(tmp_path: Path, github_server):
    github_server.add_pull("octo/widgets", 4, "b" * 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_API_URL": github_server.url, "GITHUB_REPOSITORY": "octo/widgets",
                "GITHUB_SHA": "b" * 40, "GITHUB_TOKEN": TOKEN})  # fmt: skip
    one = tmp_path / "one.json"
    shard(1).write(one)

    def publish(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PY, "-m", "perfgate", "publish", str(path), "--pr", "4"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    refused = publish(one)
    assert refused.returncode == 2 and "merge every shard first" in refused.stderr
    assert github_server.requests == []
    merged = tmp_path / "merged.json"
    named = [(str(k), shard(k, change=0.3)) for k in (1, 2, 3)]
    shards.merge(named)[0].write(merged)
    posted = publish(merged)
    assert posted.returncode == 0, posted.stderr
    (status,) = github_server.statuses[("octo/widgets", "b" * 40)]
    assert status["state"] == "failure" and "wall time" in status["description"]
    (comment,) = github_server.comments[("octo/widgets", 4)]
    assert "shard 2/3: `runner-2`" in comment["body"]


@pytest.mark.parametrize("value", ["0/3", "4/3", "2", "a/b", "1/101", "3/0"])
def test_a_bad_shard_is_exit_2_before_anything_runs(tmp_path: Path, capsys, value: str) -> None:
    argv = ["gate", "--repo", str(tmp_path), "--shard", value, "--json", str(tmp_path / "s.json")]
    assert cli.main([*argv, "--", "true"]) == 2
    assert f"shard: {value!r} is not allowed; expected K/N" in capsys.readouterr().err


def test_shards_that_could_never_fail_are_refused(tmp_path: Path, capsys) -> None:
    """4 runs a side alone can never reach 1% (1/70 at best); 2 shards of 4 can (1/4900)."""
    assert shards.unreachable(4, 1) is not None
    assert shards.unreachable(4, 2) is None
    argv = ["gate", "--repo", str(tmp_path), "--runs", "4", "--shard", "1/1"]
    code = cli.main([*argv, "--json", str(tmp_path / "s.json"), "--", "true"])
    assert code == 2
    assert "1 shard(s) of 4 runs per side can never show a regression" in capsys.readouterr().err


def test_budgets_with_a_shard_are_refused(tmp_path: Path, capsys) -> None:
    argv = ["gate", "--repo", str(tmp_path), "--shard", "1/2", "--budget", "wall-time=2s",
            "--json", str(tmp_path / "s.json")]  # fmt: skip
    assert cli.main([*argv, "--", "true"]) == 2
    assert "shard: budgets are not judged across shards" in capsys.readouterr().err


def test_a_shard_without_a_results_file_is_refused(tmp_path: Path, capsys) -> None:
    assert cli.main(["gate", "--repo", str(tmp_path), "--shard", "1/2", "--", "true"]) == 2
    assert "shard: give --json FILE" in capsys.readouterr().err


def test_the_matrix_workflow_merges_what_its_shards_upload() -> None:
    """examples/workflows/perfgate-matrix.yml holds together: N matrix entries and K/N, the
    artifacts each shard uploads are what the merge job downloads and its glob matches, and
    only the merge job, which runs no pull request code, may write."""
    root = Path(__file__).resolve().parent.parent
    workflow = yaml.safe_load((root / "examples/workflows/perfgate-matrix.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    entries = shard_job["strategy"]["matrix"]["shard"]
    gate = next(s for s in shard_job["steps"] if s.get("uses", "").startswith("OWNER/perfgate@"))
    assert gate["with"]["shard"] == "${{ matrix.shard }}/" + str(len(entries))
    assert entries == list(range(1, len(entries) + 1))
    assert gate["with"]["github-token"] == ""
    upload = next(s for s in shard_job["steps"] if "upload-artifact" in s.get("uses", ""))
    # the file the gate wrote, never a fixed path a pull request could fill with its own
    assert upload["with"]["path"] == "${{ steps." + gate["id"] + ".outputs.results-json }}"
    download = next(s for s in merge_job["steps"] if "download-artifact" in s.get("uses", ""))
    merge_step = next(s for s in merge_job["steps"] if "merge" in s.get("with", {}))
    assert merge_job["needs"] == "shard"
    assert not any(s.get("uses", "").startswith("actions/checkout") for s in merge_job["steps"])
    assert merge_job["permissions"]["statuses"] == "write"
    for k in entries:
        name = upload["with"]["name"].replace("${{ matrix.shard }}", str(k))
        assert fnmatch.fnmatch(name, download["with"]["pattern"])
        landed = f"{download['with']['path']}/{name}/perfgate-results.json"
        assert fnmatch.fnmatch(landed, merge_step["with"]["merge"])
