"""The real container: the image built from the Dockerfile, started as the Actions runner starts it.

How it is started (every input, the runner's variables, the job's `env:`, the mounts, the
file-command files) is in container_helpers.py.  After each run a "next step" runs as the
runner's user (uid 1001) in the checkout, as the job's next step would on the host: it
writes into `.perfgate/`, runs `git status` and `git gc`, and opens the output paths.
Nothing is chowned back before that.

The command comes from $CONTAINER (`docker` by default; `.ci/run` points it at
../shared/tools/container), the build context from $CONTAINER_CONTEXT
(default: this checkout).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from container_helpers import (
    JOB_ENV,
    SECRET_VALUES,
    Run,
    cancel,
    chown_tree,
    dump,
    finish,
    next_step,
    not_runner_owned,
    run_action,
    start_action,
)
from git_helpers import make_repo
from github_server import TOKEN
from report_helpers import PASSED
from test_action_e2e import BENCH, REPO, event

RUN_URL = "https://github.example/octo/widgets/actions/runs/777"
DUMP_ENV = "import json, os\njson.dump(dict(os.environ), open('/loot/env.json', 'w'))"
#: What the documented fork workflow's next steps do, and what any later git step may.
NEXT_STEP = (
    "echo 42 > .perfgate/pr-number && git status --porcelain >/dev/null && git gc -q "
    '&& cat "$0" "$1" >/dev/null && rm -rf .perfgate'
)

pytestmark = pytest.mark.container


def assert_next_step_works(run: Run, workspace: Path) -> None:
    """The runner's user can write, read and delete everything perfgate left."""
    assert not_runner_owned(workspace) == []
    paths = [run.outputs["results-json"], run.outputs["report-markdown"]]
    assert not [p for p in paths if p.startswith("/")], paths  # the host has no /github/...
    step = next_step(workspace, NEXT_STEP.replace('"$0" "$1"', " ".join(paths)))
    assert step.returncode == 0, step.stderr
    assert not (workspace / ".perfgate").exists()


def test_two_pushes_in_the_image_one_comment_then_a_regression(
    container: str, tmp_path: Path, github_server
) -> None:
    files = {"bench.py": BENCH.format(mb=5, extra=""), ".gitignore": ".perfgate/\n"}
    repo = make_repo(tmp_path / "workspace", files, "base")
    base = repo.sha()
    first_head = repo.commit({"README.md": "first push\n"}, "first push")
    first = run_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, first_head),
        first_head,
    )  # fmt: skip
    assert first.result.returncode == 0, first.log
    assert first.outputs["verdict"] == "pass" and PASSED.search(first.summary)
    assert first.outputs["results-json"] == ".perfgate/perfgate-results.json"
    assert first.result.stdout.startswith(f"::add-mask::{TOKEN}\n")
    assert_next_step_works(first, repo.path)

    chown_tree(repo.path, 0)  # the test's own git commands run as root
    head = repo.commit({"bench.py": BENCH.format(mb=60, extra=DUMP_ENV)}, "second push")
    second = run_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, head), head
    )
    assert second.result.returncode == 1, second.log
    assert second.outputs["verdict"] == "fail" and "peak_memory" in second.outputs["regressions"]
    assert "perfgate: fail" in second.summary
    assert "::error title=perfgate::peak_memory regressed" in second.result.stdout
    (comment,) = github_server.comments[(REPO, 12)]
    assert comment["body"].startswith("<!-- perfgate:perfgate -->") and "fail" in comment["body"]
    methods = [r.method for r in github_server.requests]
    # Per run: the PR's head, the token's identity, its comment (looked for again after
    # creating it), the status.
    assert methods == ["GET"] * 3 + ["POST", "GET", "POST"] + ["GET"] * 3 + ["PATCH", "POST"]
    assert github_server.statuses[(REPO, first_head)][0]["state"] == "success"
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure" and status["target_url"] == RUN_URL
    seen = json.loads((tmp_path / "loot" / "env.json").read_text())
    assert not [s for s in SECRET_VALUES if s in json.dumps(seen)]
    file_commands = ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STATE",
                     "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_TOKEN")  # fmt: skip
    assert not [k for k in seen if k.startswith(("ACTIONS_", "INPUT_")) or k in file_commands]
    assert not [k for k in JOB_ENV if k in seen]  # host paths and secrets of the job's env:
    assert seen["HOME"] == "/home/perfgate-head"
    assert (seen["USER"], seen["CI"]) == ("perfgate-head", "true")
    assert_next_step_works(second, repo.path)
    (tmp_path.parent / "container-requests.txt").write_text("\n".join(github_server.log()) + "\n")


def test_a_fork_token_in_the_image_warns_and_keeps_the_verdict(
    container: str, tmp_path: Path, github_server
) -> None:
    github_server.read_only()
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.sha()
    head = repo.commit({"bench.py": BENCH.format(mb=60, extra="")}, "the PR")
    run = run_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, head, fork=True),
        head,
    )  # fmt: skip
    assert run.result.returncode == 1, run.log
    assert "::warning title=perfgate::publishing: could not comment" in run.result.stdout
    assert run.outputs["verdict"] == "fail" and "perfgate: fail" in run.summary
    assert not github_server.statuses
    assert_next_step_works(run, repo.path)


def _shallow_clone(tmp_path: Path):
    origin = make_repo(tmp_path / "origin", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = origin.sha()
    head = origin.commit({"README.md": "x\n"}, "the PR")
    clone = tmp_path / "workspace"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(clone)], check=True
    )
    return origin, clone, base, head


def test_a_shallow_checkout_without_the_base_names_fetch_depth(
    container: str, tmp_path: Path, github_server
) -> None:
    origin, clone, base, head = _shallow_clone(tmp_path)
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    run = run_action(container, tmp_path, github_server, clone, event(tmp_path, base, head), head)
    assert run.result.returncode == 2, run.log
    assert "fetch-depth: 0" in run.result.stdout
    assert run.outputs["verdict"] == "error" and "fetch-depth: 0" in run.summary
    assert github_server.requests == []
    assert_next_step_works(run, clone)


def test_a_shallow_fetch_leaves_git_objects_the_runner_user_owns(
    container: str, tmp_path: Path, github_server
) -> None:
    """The base is fetched as root into .git: the objects must end up the runner user's."""
    origin, clone, base, head = _shallow_clone(tmp_path)
    run = run_action(
        container, tmp_path, github_server, clone, event(tmp_path, base, head), head,
        mounts=[f"{origin.path}:{origin.path}:ro"],
    )  # fmt: skip
    assert run.result.returncode == 0, run.log
    assert run.outputs["verdict"] == "pass"
    assert_next_step_works(run, clone)


def test_cancelling_the_job_leaves_no_worktree_nothing_root_owned_and_no_success(
    container: str, tmp_path: Path, github_server
) -> None:
    """SIGINT to the client, SIGTERM 7.5 s later, SIGKILL 2.5 s after: the runner's cancel."""
    slow = "import pathlib, time\npathlib.Path('/loot/started').touch()\ntime.sleep(30)\n"
    repo = make_repo(tmp_path / "workspace", {"bench.py": slow}, "base")
    base = repo.sha()
    head = repo.commit({"README.md": "x\n"}, "the PR")
    process, folders = start_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, head), head
    )
    deadline = time.monotonic() + 600
    while not (folders["loot"] / "started").exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the benchmark never started"
        time.sleep(0.2)
    cancel(process, after_s=0.5)
    run = finish(process, folders)
    assert run.result.returncode != 0, run.log
    assert run.outputs.get("verdict") == "error", run.log
    assert "cancelled" in run.summary
    states = [s["state"] for s in github_server.statuses.get((REPO, head), [])]
    assert "success" not in states and states in ([], ["error"]), states
    listed = next_step(repo.path, "git worktree list --porcelain | grep -c '^worktree '")
    assert listed.stdout.strip() == "1", listed.stdout + listed.stderr
    assert_next_step_works(run, repo.path)


BENCH_USERS = ("perfgate-base", "perfgate-head")


def shell_loop(steps: int) -> str:
    """A benchmark whose instruction count grows with `steps`: about 11,000 instructions a
    step in dash (the image's sh), 240,000 to start, so 2,000 steps take 23 million: 1.5 s
    under callgrind, 13 ms without it.  Under valgrind (its preload in LD_PRELOAD) it
    writes the user it runs as to /loot/counted-as-USER: counted runs are contained too."""
    return (
        f"i=0\nwhile [ $i -lt {steps} ]; do i=$((i + 1)); done\n"
        'case "$LD_PRELOAD" in *vgpreload*) id -un >> "/loot/counted-as-$(id -un)" ;; esac\n'
    )


def test_instructions_in_the_image_find_a_two_percent_change_in_five_runs(
    container: str, tmp_path: Path, github_server
) -> None:
    """`instructions: true` counts in the image, as each side's bench user, with a few
    counted runs per side: identical code is unchanged, 2% more steps is a regression."""
    files = {"bench.sh": shell_loop(2000), ".gitignore": ".perfgate/\n"}
    repo = make_repo(tmp_path / "workspace", files, "base")
    base = repo.sha()
    inputs = {"command": "sh bench.sh", "instructions": "true"}
    same = repo.commit({"README.md": "docs only\n"}, "same code")
    first = run_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, same), same,
        **inputs,
    )  # fmt: skip
    assert first.result.returncode == 0, first.log
    results = json.loads((repo.path / first.outputs["results-json"]).read_text())
    counts = {
        side: [s["instructions"] for s in results["sides"][side]["samples"]]
        for side in ("base", "head")
    }
    assert instructions_verdict(results) == "unchanged", dump(counts)
    # Three counted runs a side, each as that side's own unprivileged user, never as root.
    counted_as = {n: text.split() for n, text in first.loot().items() if "counted-as" in n}
    assert counted_as == {f"counted-as-{user}": [user] * 3 for user in BENCH_USERS}
    assert results["settings"]["instructions_counter"].startswith("valgrind --tool=callgrind")

    chown_tree(repo.path, 0)  # the test's own git commands run as root
    head = repo.commit({"bench.sh": shell_loop(2040)}, "2% more steps")
    second = run_action(
        container, tmp_path, github_server, repo.path, event(tmp_path, base, head), head,
        **inputs,
    )  # fmt: skip
    assert second.result.returncode == 1, second.log
    assert "instructions" in second.outputs["regressions"].split(",")
    results = json.loads((repo.path / second.outputs["results-json"]).read_text())
    comparison = next(c for c in results["comparisons"] if c["metric"] == "instructions")
    assert comparison["verdict"] == "regression"
    # 40 more steps of about 11,000 instructions on 23 million: +1.98%, by hand.
    assert 0.015 < comparison["change"] < 0.025, comparison
    for side in ("base", "head"):
        samples = results["sides"][side]["samples"]
        assert len(samples) == 5
        # The counts repeat: three counted runs per side, not one per measured run.
        assert [s["instructions"] is not None for s in samples] == [True] * 3 + [False] * 2
    assert_next_step_works(second, repo.path)


def instructions_verdict(results: dict) -> str:
    return next(c["verdict"] for c in results["comparisons"] if c["metric"] == "instructions")
