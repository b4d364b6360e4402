"""The real container: the image built from the Dockerfile, started as the Actions runner starts it.

`docker build` of the project, then `docker run --rm --workdir /github/workspace`
with the checkout (owned by uid 1001, as on a hosted runner, while the
container runs as root) at /github/workspace, the event at
/github/workflow/event.json, the command files under /github/file_commands,
HOME at /github/home, and every INPUT_* and GITHUB_* variable passed with
`-e NAME` (the value from the environment of `docker run`, as the runner does
it, hyphenated names such as INPUT_GITHUB-TOKEN included).  The fake GitHub
listens on the host's 127.0.0.1, so the container shares the host's network.

The command comes from $CONTAINER (`docker` by default; `.ci/run` points it at
../shared/tools/container), the build context from $CONTAINER_CONTEXT
(default: this checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_helpers import make_repo
from github_server import TOKEN
from report_helpers import PASSED
from test_action_e2e import BENCH, REPO, SECRET_VALUES, SECRETS, event, parse_outputs

from perfgate.github.actions import input_variable

ROOT = Path(__file__).resolve().parent.parent
IMAGE = f"perfgate-e2e:{os.getpid()}"
RUNNER_UID = 1001
RUN_URL = "https://github.example/octo/widgets/actions/runs/777"
DUMP_ENV = "import json, os\njson.dump(dict(os.environ), open('/github/home/env.json', 'w'))"
NO_ENGINE = ("Cannot connect", "Is the docker daemon running", "permission denied while trying")

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    """The container command, once the image is built; skipped when there is no engine."""
    command = os.environ.get("CONTAINER", "docker")
    if shutil.which(command) is None:
        pytest.skip(f"no container command {command!r} (set CONTAINER to a docker-like command)")
    context = os.environ.get("CONTAINER_CONTEXT") or str(ROOT)
    built = subprocess.run(
        [command, "build", "-t", IMAGE, context], capture_output=True, text=True, timeout=1500
    )
    if built.returncode != 0 and any(s in built.stderr + built.stdout for s in NO_ENGINE):
        pytest.skip(f"{command} cannot reach a container engine: {built.stderr.strip()[:200]}")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield command
    subprocess.run([command, "rmi", IMAGE], capture_output=True, check=False)


def run_action(container: str, tmp_path: Path, server, repo, event_path: Path, head: str, **inputs):
    home, workflow, commands = (tmp_path / n for n in ("home", "workflow", "file_commands"))
    for folder in (home, workflow, commands):
        folder.mkdir(exist_ok=True)
    shutil.copy(event_path, workflow / "event.json")
    server.serve_event(event_path)  # GitHub knows the pull request and its commits
    server.add_commit(REPO, head)
    (commands / "output").write_text("")
    (commands / "summary").write_text("")
    owner = f"{os.getuid()}:{os.getgid()}"
    if os.geteuid() == 0:  # as on a hosted runner: the checkout is not root's
        subprocess.run(["chown", "-R", f"{RUNNER_UID}:{RUNNER_UID}", str(repo.path)], check=True)
    values = {"command": "python bench.py", "runs": "5", "max-runs": "5", "warmup": "0",
              "github-token": TOKEN, "comment": "true", "status-context": "perfgate",
              "fail-on-regression": "true", **inputs}  # fmt: skip
    variables = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json", "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": server.url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "777",
        "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary", **SECRETS,
        **{input_variable(k): v for k, v in values.items()},
    }  # fmt: skip
    # ../shared/tools/container adds host networking by itself and refuses a second one.
    network = [] if Path(container).name == "container" else ["--network", "host"]
    mounts = [f"{repo.path}:/github/workspace", f"{home}:/github/home",
              f"{workflow}:/github/workflow", f"{commands}:/github/file_commands"]  # fmt: skip
    argv = [container, "run", "--rm", *network, "--workdir", "/github/workspace"]
    for mount in mounts:
        argv += ["-v", mount]
    for name in variables:
        argv += ["-e", name]
    # HOME is the engine's own (podman keeps its storage there); the container's is set apart.
    env = {**os.environ, **variables}
    try:
        result = subprocess.run(
            [*argv, "-e", "HOME=/github/home", IMAGE], env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
    finally:  # the test's own git commands want their repository back
        subprocess.run(["chown", "-R", owner, str(repo.path)], check=True)
    return result, parse_outputs(commands / "output"), (commands / "summary").read_text()


def log(result: subprocess.CompletedProcess) -> str:
    return result.stdout[-4000:] + result.stderr[-4000:]


def test_two_pushes_in_the_image_one_comment_then_a_regression(
    container: str, tmp_path: Path, github_server
) -> None:
    files = {"bench.py": BENCH.format(mb=5, extra=""), ".gitignore": ".perfgate/\n"}
    repo = make_repo(tmp_path / "workspace", files, "base")
    base = repo.sha()
    first_head = repo.commit({"README.md": "first push\n"}, "first push")
    first, outputs, summary = run_action(
        container, tmp_path, github_server, repo, event(tmp_path, base, first_head), first_head
    )
    assert first.returncode == 0, log(first)
    assert outputs["verdict"] == "pass" and PASSED.search(summary)
    assert outputs["results-json"] == "/github/workspace/.perfgate/perfgate-results.json"
    assert first.stdout.startswith(f"::add-mask::{TOKEN}\n")

    head = repo.commit({"bench.py": BENCH.format(mb=60, extra=DUMP_ENV)}, "second push")
    second, outputs, summary = run_action(
        container, tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert second.returncode == 1, log(second)
    assert outputs["verdict"] == "fail" and "peak_memory" in outputs["regressions"]
    assert "perfgate: fail" in summary
    assert "::error title=perfgate::peak_memory regressed" in second.stdout
    (comment,) = github_server.comments[(REPO, 12)]
    assert comment["body"].startswith("<!-- perfgate:perfgate -->") and "fail" in comment["body"]
    methods = [r.method for r in github_server.requests]
    # Per run: the PR's head, the token's identity, its comment (looked for again after
    # creating it), the status.
    assert methods == ["GET"] * 3 + ["POST", "GET", "POST"] + ["GET"] * 3 + ["PATCH", "POST"]
    assert github_server.statuses[(REPO, first_head)][0]["state"] == "success"
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure" and status["target_url"] == RUN_URL
    seen = json.loads((tmp_path / "home" / "env.json").read_text())
    assert not [s for s in SECRET_VALUES if s in json.dumps(seen)]
    assert not [k for k in seen if k.startswith(("ACTIONS_", "INPUT_")) or k == "GITHUB_TOKEN"]
    (tmp_path.parent / "container-requests.txt").write_text("\n".join(github_server.log()) + "\n")


def test_a_fork_token_in_the_image_warns_and_keeps_the_verdict(
    container: str, tmp_path: Path, github_server
) -> None:
    github_server.read_only()
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.sha()
    head = repo.commit({"bench.py": BENCH.format(mb=60, extra="")}, "the PR")
    result, outputs, summary = run_action(
        container, tmp_path, github_server, repo, event(tmp_path, base, head, fork=True), head
    )
    assert result.returncode == 1, log(result)
    assert "::warning title=perfgate::publishing: could not comment" in result.stdout
    assert outputs["verdict"] == "fail" and "perfgate: fail" in summary
    assert not github_server.statuses


def test_a_shallow_checkout_without_the_base_names_fetch_depth(
    container: str, tmp_path: Path, github_server
) -> None:
    origin = make_repo(tmp_path / "origin", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = origin.sha()
    head = origin.commit({"README.md": "x\n"}, "the PR")
    clone = tmp_path / "workspace"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(clone)], check=True
    )
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    result, outputs, summary = run_action(
        container, tmp_path, github_server, type(origin)(clone), event(tmp_path, base, head), head
    )
    assert result.returncode == 2, log(result)
    assert "fetch-depth: 0" in result.stdout
    assert outputs["verdict"] == "error" and "fetch-depth: 0" in summary
    assert github_server.requests == []
