"""The Action end to end: `entrypoint` run as the runner runs it, against the fake GitHub.

Real git repository as the workspace, a real `pull_request` event file, the
INPUT_* variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and the fake
REST server on 127.0.0.1 recording what perfgate sent.
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

from perfgate.github import action
from perfgate.github.actions import input_variable

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
REPO = "octo/widgets"
SECRETS = {"ACTIONS_RUNTIME_TOKEN": "rt-secret", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "id-secret"}

BENCH = "import time\nx = bytearray(b'\\x01') * ({mb} * 1024 * 1024)\ntime.sleep(0.01)\n{extra}\n"


def workspace(tmp_path: Path, head_mb: int = 5, extra: str = ""):
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.git("rev-parse", "HEAD")
    head = repo.commit({"bench.py": BENCH.format(mb=head_mb, extra=extra)}, "the PR")
    return repo, base, head


def event(tmp_path: Path, base: str, head: str, number: int = 12) -> Path:
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "action": "synchronize",
                "number": number,
                "pull_request": {
                    "number": number,
                    "base": {"sha": base, "ref": "main"},
                    "head": {"sha": head, "ref": "feature"},
                },
                "repository": {"full_name": REPO},
            }
        )
    )
    return path


def run_entrypoint(tmp_path, server, repo, event_path, head, **inputs):
    outputs, summary, home = tmp_path / "output", tmp_path / "summary.md", tmp_path / "home"
    home.mkdir(exist_ok=True)
    values = {"command": f"{PY} bench.py", "runs": "5", "max-runs": "5", "warmup": "0",
              "github-token": TOKEN, **inputs}  # fmt: skip
    env = {
        "PATH": os.environ["PATH"], "HOME": str(home), "CI": "true", "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(repo.path), "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": server.url, "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242", "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary), "PERFGATE_PYTHON": PY, **SECRETS,
        **{input_variable(k): v for k, v in values.items()},
    }  # fmt: skip
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    result = subprocess.run(
        [str(ROOT / "entrypoint")], cwd=repo.path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return result, parse_outputs(outputs), summary.read_text() if summary.exists() else ""


def parse_outputs(path: Path) -> dict[str, str]:
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


def test_two_pushes_make_one_comment_and_a_status_each(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    first, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert outputs["verdict"] == "pass" and outputs["regressions"] == ""
    assert Path(outputs["results-json"]).is_file()
    assert "perfgate: pass" in summary
    assert f"::add-mask::{TOKEN}" in first.stdout
    assert "::group::perfgate: measuring base and head" in first.stdout
    second_head = repo.commit({"README.md": "second push\n"}, "second push")
    second, _, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, second_head), second_head
    )
    assert second.returncode == 0, second.stdout + second.stderr
    comments = github_server.comments[(REPO, 12)]
    assert len(comments) == 1
    assert comments[0]["body"].startswith("<!-- perfgate:perfgate -->\n### ✅ perfgate: pass")
    assert [r.method for r in github_server.requests] == [
        "GET",
        "POST",
        "POST",
        "GET",
        "PATCH",
        "POST",
    ]
    for sha in (head, second_head):
        (status,) = github_server.statuses[(REPO, sha)]
        assert status["state"] == "success" and status["context"] == "perfgate"
        assert status["target_url"] == "https://github.example/octo/widgets/actions/runs/4242"


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
    assert "peak memory" in status["description"]
    assert "perfgate: fail" in summary


def test_fail_on_regression_false_keeps_the_step_green(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path, head_mb=60)
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        **{"fail-on-regression": "false", "comment": "false"},
    )  # fmt: skip
    assert result.returncode == 0
    assert outputs["verdict"] == "fail"
    assert (REPO, 12) not in github_server.comments
    assert github_server.statuses[(REPO, head)][0]["state"] == "failure"


def test_read_only_token_warns_and_keeps_verdict_and_files(tmp_path: Path, github_server) -> None:
    forbidden = {"message": "Resource not accessible by integration"}
    github_server.fail("GET", r".*/comments", 403, body=forbidden)
    github_server.fail("POST", r".*/statuses/.*", 403, body=forbidden)
    repo, base, head = workspace(tmp_path, head_mb=60)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 1
    assert "::warning title=perfgate::could not comment" in result.stdout
    assert outputs["verdict"] == "fail" and "perfgate: fail" in summary


def test_unreachable_api_loses_nothing(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    github_server.url = "http://127.0.0.1:9"
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 0
    assert "::error title=perfgate::publishing:" in result.stdout
    assert outputs["verdict"] == "pass" and "perfgate: pass" in summary


def test_benchmark_sees_no_token_or_runner_secret(tmp_path: Path, github_server) -> None:
    dump = tmp_path / "env.json"
    extra = f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))"
    repo, base, head = workspace(tmp_path, extra=extra)
    result, _, _ = run_entrypoint(tmp_path, github_server, repo, event(tmp_path, base, head), head)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    seen = json.loads(dump.read_text())
    assert TOKEN not in json.dumps(seen)
    assert not [k for k in seen if k.startswith(("ACTIONS_", "INPUT_")) or k == "GITHUB_TOKEN"]
    for path in repo.path.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert TOKEN not in path.read_text(errors="replace")


def test_bad_input_is_exit_2_with_a_summary(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head, runs="-1"
    )
    assert result.returncode == 2
    assert "::error title=perfgate::configuration:" in result.stdout and "runs" in result.stdout
    assert outputs["verdict"] == "error" and "runs" in summary
    assert github_server.requests == []


def test_action_yml_and_the_parser_agree() -> None:
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    assert tuple(metadata["inputs"]) == action.INPUTS
    assert tuple(metadata["outputs"]) == action.OUTPUTS
    assert metadata["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert metadata["inputs"]["github-token"]["default"] == "${{ github.token }}"
    for name in action.GATE_INPUTS:
        assert name in action.config.KEYS


def test_a_pull_request_cannot_loosen_its_own_gate(tmp_path: Path, github_server) -> None:
    repo = make_repo(
        tmp_path / "workspace",
        {"bench.py": BENCH.format(mb=5, extra=""), ".perfgate.yml": "memory-threshold: 10%\n"},
        "base",
    )
    base = repo.git("rev-parse", "HEAD")
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
