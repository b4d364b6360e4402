"""The Action end to end: `entrypoint` run as the runner runs it, against the fake GitHub.

A real git repository as the workspace, a real `pull_request` event file, the
INPUT_* variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and the fake
REST server on 127.0.0.1 recording what perfgate sent.  tests/test_container.py
runs the same scenarios inside the real image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from git_helpers import make_repo
from github_server import TOKEN
from report_helpers import PASSED

from perfgate import options
from perfgate.github import action
from perfgate.github.runner_contract import input_variable

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REPO = "octo/widgets"
SECRETS = {
    "ACTIONS_RUNTIME_TOKEN": "rt-secret-1",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "id-secret-2",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/secret-3",
    "ACTIONS_RESULTS_URL": "https://results.example/secret-4",
    "GITHUB_TOKEN": TOKEN,
}
SECRET_VALUES = (TOKEN, "rt-secret-1", "id-secret-2", "secret-3", "secret-4")

#: The benchmark: 5 MB (or more, to plant a regression) and a short sleep.
BENCH = "import time\nx = bytearray(b'\\x01') * ({mb} * 1024 * 1024)\ntime.sleep(0.01)\n{extra}\n"
DUMP_ENV = "import json, os\njson.dump(dict(os.environ), open({path!r}, 'w'))"


def workspace(tmp_path: Path, head_mb: int = 5, extra: str = ""):
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.sha()
    head = repo.commit({"bench.py": BENCH.format(mb=head_mb, extra=extra)}, "the PR")
    return repo, base, head


def event(tmp_path: Path, base: str, head: str, number: int = 12, fork: bool = False) -> Path:
    """A pull_request payload with the fields GitHub sends that perfgate reads."""
    path = tmp_path / "event.json"
    head_repo = "someone/widgets" if fork else REPO
    path.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": number,
                "pull_request": {
                    "number": number,
                    "state": "open",
                    "base": {"sha": base, "ref": "main", "repo": {"full_name": REPO}},
                    "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo}},
                },
                "repository": {"full_name": REPO},
            }
        )
    )
    return path


def action_inputs(**inputs: str) -> dict[str, str]:
    """Every input of action.yml as the runner sets it: the default, or "" when none."""
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in metadata["inputs"].items()}
    values["github-token"] = TOKEN  # what `${{ github.token }}` becomes
    values.update({"command": f"{PY} bench.py", "runs": "5", "max-runs": "5", "warmup": "0"})
    # Every planted regression here is memory (60 MB against 5); identical code must pass
    # on a loaded machine, where 5 runs a side once gave a false +18% in wall time (a
    # complete separation of 5 against 5 happens 1 time in 126 by chance alone).
    values["time-threshold"] = "50%"
    values.update(inputs)
    return {input_variable(name): value for name, value in values.items()}


def run_entrypoint(tmp_path, server, repo, event_path, head, event_name="pull_request", **inputs):
    server.serve_event(event_path)  # GitHub knows the pull request and its commits
    server.add_commit(REPO, head)
    outputs, summary, home = tmp_path / "output", tmp_path / "summary.md", tmp_path / "home"
    home.mkdir(exist_ok=True)
    outputs.write_text("")
    summary.write_text("")
    env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "CI": "true", "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(repo.path), "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_EVENT_NAME": event_name, "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": server.url, "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242", "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary), "PERFGATE_PYTHON": PY, **SECRETS,
        **action_inputs(**inputs),
    }  # fmt: skip
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    result = subprocess.run(
        [str(ROOT / "entrypoint")], cwd=repo.path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return result, parse_outputs(outputs), summary.read_text()


def parse_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's `name<<DELIMITER` blocks, as the runner reads them."""
    if not path.exists():
        return {}
    values, lines = {}, path.read_text().splitlines()
    i = 0
    while i < len(lines):
        name, delimiter = lines[i].split("<<")
        end = lines.index(delimiter, i + 1)
        values[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return values


def assert_no_secret_in_files(*folders: Path) -> None:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and ".git" not in path.parts:
                text = path.read_text(errors="replace")
                assert not [s for s in SECRET_VALUES if s in text], path


def test_two_pushes_make_one_comment_and_a_status_each(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    first, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert outputs["verdict"] == "pass" and outputs["regressions"] == ""
    assert json.loads((repo.path / outputs["results-json"]).read_text())["verdict"] == "pass"
    assert (repo.path / outputs["report-markdown"]).read_text().rstrip() == summary.rstrip()
    assert PASSED.search(summary)
    assert first.stdout.startswith(f"::add-mask::{TOKEN}\n")
    assert "::group::perfgate: measuring base and head" in first.stdout
    assert "::group::perfgate: publishing to GitHub" in first.stdout
    second_head = repo.commit({"README.md": "second push\n"}, "second push")
    second, _, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, second_head), second_head
    )
    assert second.returncode == 0, second.stdout + second.stderr
    (comment,) = github_server.comments[(REPO, 12)]
    assert comment["body"].startswith("<!-- perfgate:perfgate -->\n")
    assert PASSED.search(comment["body"])
    # Each run: is this commit the pull request's head, who is the token (the Actions
    # token: 403, github-actions[bot]), its comment; the first run looks again after
    # creating (two runs at once must not leave two comments).
    assert github_server.log() == [
        f"GET /repos/{REPO}/pulls/12",
        "GET /user",
        f"GET /repos/{REPO}/issues/12/comments?per_page=100",
        f"POST /repos/{REPO}/issues/12/comments",
        f"GET /repos/{REPO}/issues/12/comments?per_page=100",
        f"POST /repos/{REPO}/statuses/{head}",
        f"GET /repos/{REPO}/pulls/12",
        "GET /user",
        f"GET /repos/{REPO}/issues/12/comments?per_page=100",
        f"PATCH /repos/{REPO}/issues/comments/{comment['id']}",
        f"POST /repos/{REPO}/statuses/{second_head}",
    ]
    assert all(r.header("Authorization") == f"Bearer {TOKEN}" for r in github_server.requests)
    for sha in (head, second_head):
        (status,) = github_server.statuses[(REPO, sha)]
        assert status["state"] == "success" and status["context"] == "perfgate"
        assert status["target_url"] == "https://github.example/octo/widgets/actions/runs/4242"
    (tmp_path / "requests.txt").write_text("\n".join(github_server.log()) + "\n")


def test_planted_regression_fails_the_status_and_the_step(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path, head_mb=60)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert outputs["verdict"] == "fail" and "peak_memory" in outputs["regressions"].split(",")
    assert "::error title=perfgate::peak_memory regressed" in result.stdout
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure"
    assert "peak memory +" in status["description"] and "(regression)" in status["description"]
    assert "perfgate: fail" in summary
    (comment,) = github_server.comments[(REPO, 12)]
    assert "perfgate: fail" in comment["body"]


def test_fail_on_regression_false_keeps_the_step_green(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path, head_mb=60)
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        **{"fail-on-regression": "false", "comment": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["verdict"] == "fail"
    assert (REPO, 12) not in github_server.comments
    assert [r.method for r in github_server.requests] == ["POST"]
    assert github_server.statuses[(REPO, head)][0]["state"] == "failure"


def test_read_only_token_warns_and_keeps_verdict_and_files(tmp_path: Path, github_server) -> None:
    github_server.read_only()  # a fork's token: reads work, every write is refused
    repo, base, head = workspace(tmp_path, head_mb=60)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head, fork=True), head
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "::warning title=perfgate::publishing: could not comment" in result.stdout
    assert "::warning title=perfgate::publishing: could not set the commit status" in result.stdout
    assert "two-workflow pattern" in result.stdout
    assert outputs["verdict"] == "fail" and "perfgate: fail" in summary
    assert (repo.path / outputs["results-json"]).is_file()
    assert not github_server.statuses and (REPO, 12) not in github_server.comments


def test_api_down_loses_nothing(tmp_path: Path, github_server) -> None:
    # 503 with Retry-After: 0, so the client's retries cost no time here.
    github_server.fail("GET|POST|PATCH", ".*", 503, times=100, headers={"Retry-After": "0"})
    repo, base, head = workspace(tmp_path)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::warning title=perfgate::publishing: could not comment" in result.stdout
    assert "HTTP 503" in result.stdout
    assert outputs["verdict"] == "pass" and PASSED.search(summary)
    assert len(github_server.requests) == 10  # 5 tries of the comment list, 5 of the status


def test_outputs_and_summary_are_written_before_any_api_call(tmp_path, github_server) -> None:
    """The server holds the first request until the test has seen the files."""
    seen: dict[str, str] = {}
    outputs, summary = tmp_path / "output", tmp_path / "summary.md"

    def look(_request) -> None:
        seen["outputs"] = outputs.read_text()
        seen["summary"] = summary.read_text()

    github_server.on_request = look
    repo, base, head = workspace(tmp_path)
    result, _, _ = run_entrypoint(tmp_path, github_server, repo, event(tmp_path, base, head), head)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict<<" in seen["outputs"] and PASSED.search(seen["summary"])


def test_benchmark_and_setup_see_no_token_or_runner_secret(tmp_path: Path, github_server) -> None:
    bench_dump, setup_dump = tmp_path / "bench-env.json", tmp_path / "setup-env.json"
    repo, base, head = workspace(tmp_path, extra=DUMP_ENV.format(path=str(bench_dump)))
    setup = f'{PY} -c "{DUMP_ENV.format(path=str(setup_dump))}"'
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head, setup=setup
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    for dump in (bench_dump, setup_dump):
        seen = json.loads(dump.read_text())
        assert not [s for s in SECRET_VALUES if s in json.dumps(seen)], dump
        assert not [k for k in seen if k.startswith(("ACTIONS_", "INPUT_")) or k == "GITHUB_TOKEN"]
        assert seen["CI"] == "true"  # the scrubbing is by name, not a blank environment
    assert_no_secret_in_files(repo.path, tmp_path / "home")
    assert not [s for s in SECRET_VALUES if s in summary + json.dumps(outputs)]
    assert result.stdout.count(TOKEN) == 1  # in the ::add-mask:: line, and nowhere else
    assert TOKEN not in result.stderr


def test_bad_input_is_exit_2_with_a_summary(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head, runs="-1"
    )
    assert result.returncode == 2
    assert "::error title=perfgate::configuration:" in result.stdout and "runs" in result.stdout
    assert outputs["verdict"] == "error" and "runs" in summary
    assert github_server.requests == []


def test_runs_that_can_never_fail_are_exit_2_in_the_action(tmp_path: Path, github_server) -> None:
    """4 runs a side cannot reach 1% (smallest p 1/70): refused before any run, as in
    the CLI, naming the run count that can."""
    repo, base, head = workspace(tmp_path)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head, runs="4",
        **{"max-runs": "4"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "use at least 5 runs per side" in result.stdout
    assert outputs["verdict"] == "error" and github_server.requests == []


def test_a_shallow_checkout_without_the_base_names_fetch_depth(tmp_path, github_server) -> None:
    origin = make_repo(tmp_path / "origin", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = origin.sha()
    head = origin.commit({"README.md": "x\n"}, "the PR")
    clone = tmp_path / "workspace"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(clone)],
                   check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, type(origin)(clone), event(tmp_path, base, head), head
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "fetch-depth: 0" in result.stdout
    assert outputs["verdict"] == "error" and "fetch-depth: 0" in summary


def test_a_shallow_checkout_fetches_its_base(tmp_path: Path, github_server) -> None:
    origin = make_repo(tmp_path / "origin", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    origin.git("config", "uploadpack.allowReachableSHA1InWant", "true")
    base = origin.sha()
    head = origin.commit({"README.md": "x\n"}, "the PR")
    clone = tmp_path / "workspace"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(clone)],
                   check=True)  # fmt: skip
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, type(origin)(clone), event(tmp_path, base, head), head
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["verdict"] == "pass"


def test_a_push_compares_before_with_after(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    path = tmp_path / "push.json"
    path.write_text(json.dumps({"before": base, "after": head, "repository": {"full_name": REPO}}))
    result, outputs, _ = run_entrypoint(tmp_path, github_server, repo, path, head, "push")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        json.loads((repo.path / outputs["results-json"]).read_text())["sides"]["base"]["sha"]
        == base
    )
    assert [r.method for r in github_server.requests] == ["POST"]  # no pull request: no comment
    assert github_server.statuses[(REPO, head)][0]["state"] == "success"


def test_a_pull_request_cannot_loosen_its_own_gate(tmp_path: Path, github_server) -> None:
    repo = make_repo(
        tmp_path / "workspace",
        {"bench.py": BENCH.format(mb=5, extra=""), ".perfgate.yml": "memory-threshold: 10%\n"},
        "base",
    )
    base = repo.sha()
    head = repo.commit(
        {"bench.py": BENCH.format(mb=60, extra=""), ".perfgate.yml": "memory-threshold: 99%\n"},
        "a PR that hides its own regression",
    )
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 1, result.stdout
    assert "peak_memory" in outputs["regressions"]
    assert "::warning title=perfgate::.perfgate.yml differs in this pull request" in result.stdout


def test_action_yml_and_the_parser_agree() -> None:
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    assert sorted(metadata["inputs"]) == sorted(action.INPUTS)
    assert tuple(metadata["outputs"]) == action.OUTPUTS
    assert metadata["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(metadata["branding"]) == {"icon", "color"}
    defaults = {name: spec.get("default") for name, spec in metadata["inputs"].items()}
    assert defaults["github-token"] == "${{ github.token }}"
    assert (defaults["comment"], defaults["fail-on-regression"]) == ("true", "true")
    assert defaults["status-context"] == "perfgate"
    for name, spec in metadata["inputs"].items():
        assert spec["description"].strip(), name
        assert not spec.get("required"), name  # command may come from .perfgate.yml
        assert input_variable(name) == "INPUT_" + name.upper().replace(" ", "_")
    for name, spec in metadata["outputs"].items():
        assert spec["description"].strip(), name
    assert set(action.GATE_INPUTS) <= set(options.KEYS)
    every_input = {input_variable(n): f"value of {n}" for n in metadata["inputs"]}
    read = action.runner_contract.read_inputs(every_input, action.INPUTS)
    assert read == {n: f"value of {n}" for n in metadata["inputs"]}


def test_the_action_and_the_cli_import_without_pytest() -> None:
    """The image installs perfgate without pytest; only the plugin itself may need it."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import perfgate.github.action, perfgate.cli, perfgate.pipeline, perfgate.compare.tests,"
        " perfgate.measure.pytest_documents, perfgate.report.breakdown\n"
        "print('imported')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_shards_post_nothing_and_the_merge_step_publishes_one_verdict(
    tmp_path: Path, github_server
) -> None:
    """Two shard steps (`shard: K/2`) then a merge step (`merge:` a glob), as the matrix
    workflow runs them: the shards pass without a word to GitHub, the merge fails the
    planted memory regression and posts one status and one comment."""
    repo, base, head = workspace(tmp_path, head_mb=60)
    for k in (1, 2):
        result, outputs, _ = run_entrypoint(
            tmp_path, github_server, repo, event(tmp_path, base, head), head, shard=f"{k}/2"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert outputs["verdict"] == "shard" and outputs["regressions"] == ""
        target = repo.path / "shards" / f"perfgate-shard-{k}"
        target.mkdir(parents=True)
        (repo.path / outputs["results-json"]).rename(target / "perfgate-results.json")
    assert github_server.requests == []
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        merge="shards/*/perfgate-results.json",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "::group::perfgate: merging the shards' results" in result.stdout
    assert outputs["verdict"] == "fail" and "peak_memory" in outputs["regressions"]
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure"
    (comment,) = github_server.comments[(REPO, 12)]
    assert "2 shards, base and head compared within each" in comment["body"]
    assert "2 shards, base and head compared within each" in summary
    # A run about another commit (say a results file the pull request carried in its own
    # tree, which cannot name the commit that contains it) is refused, and posts nothing.
    other = repo.commit({"README.md": "another commit\n"}, "another")
    elsewhere, _, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, other), other,
        merge="shards/*/perfgate-results.json",
    )  # fmt: skip
    assert elsewhere.returncode == 2, elsewhere.stdout + elsewhere.stderr
    assert f"merge: the shards measured head {head}, but this run is about {other[:12]}" in (
        elsewhere.stdout
    )
    assert (REPO, other) not in github_server.statuses
    nothing, _, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head, merge="none/*.json"
    )
    assert nothing.returncode == 2
    assert "merge: no file in the workspace matches 'none/*.json'" in nothing.stdout
