"""The real container: the image built from the Dockerfile, started as the Actions runner starts it.

`docker build` of the project, then `docker run --rm --workdir /github/workspace`
with the checkout (owned by uid 1001, as on a hosted runner) at
/github/workspace, the event at /github/workflow/event.json, the command files
under /github/file_commands, HOME at /github/home, and every INPUT_* and
GITHUB_* variable passed with -e.  The command comes from $CONTAINER
(`docker` by default; `.ci/run` points it at ../shared/tools/container).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from git_helpers import make_repo
from github_server import TOKEN
from test_action_e2e import BENCH, REPO, SECRETS, event, parse_outputs

from perfgate.github.actions import input_variable

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "perfgate-e2e:test"
RUNNER_UID = 1001

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def container() -> str:
    command = os.environ.get("CONTAINER", "docker")
    if shutil.which(command) is None:
        pytest.skip(f"no container command {command!r} (set CONTAINER)")
    built = subprocess.run(
        [command, "build", "-t", IMAGE, str(ROOT)], capture_output=True, text=True, timeout=1500
    )
    if built.returncode != 0 and "Cannot connect" in built.stderr + built.stdout:
        pytest.skip(f"{command} cannot reach a container engine")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return command


def run_action(container: str, tmp_path: Path, server, repo, event_path: Path, head: str, **inputs):
    home, workflow, commands = (tmp_path / n for n in ("home", "workflow", "file_commands"))
    for folder in (home, workflow, commands):
        folder.mkdir(exist_ok=True)
    shutil.copy(event_path, workflow / "event.json")
    (commands / "output").touch()
    (commands / "summary").touch()
    subprocess.run(["chown", "-R", f"{RUNNER_UID}:{RUNNER_UID}", str(repo.path)], check=True)
    values = {"command": "python bench.py", "runs": "5", "max-runs": "5", "warmup": "0",
              "github-token": TOKEN, **inputs}  # fmt: skip
    env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "HOME": "/github/home",
        "GITHUB_WORKSPACE": "/github/workspace",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json", "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": server.url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "777",
        "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary", **SECRETS,
        **{input_variable(k): v for k, v in values.items()},
    }  # fmt: skip
    # The fake GitHub listens on the host's 127.0.0.1; ../shared/tools/container adds
    # host networking by itself and refuses a second --network.
    network = [] if Path(container).name == "container" else ["--network", "host"]
    mounts = [f"{repo.path}:/github/workspace", f"{home}:/github/home",
              f"{workflow}:/github/workflow", f"{commands}:/github/file_commands"]  # fmt: skip
    argv = [container, "run", "--rm", *network, "--workdir", "/github/workspace"]
    for mount in mounts:
        argv += ["-v", mount]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    result = subprocess.run([*argv, IMAGE], capture_output=True, text=True, timeout=900)
    outputs = parse_outputs(commands / "output")
    return result, outputs, (commands / "summary").read_text()


def test_the_image_gates_a_pull_request_as_the_runner_starts_it(
    container: str, tmp_path: Path, github_server
) -> None:
    dump = "/github/workspace/../env-dump.json"
    extra = "import json, os\njson.dump(dict(os.environ), open('/github/home/env.json', 'w'))"
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.git("rev-parse", "HEAD")
    head = repo.commit({"bench.py": BENCH.format(mb=60, extra=extra)}, "the PR")
    result, outputs, summary = run_action(
        container, tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-4000:]
    assert outputs["verdict"] == "fail" and "peak_memory" in outputs["regressions"]
    assert "perfgate: fail" in summary
    (comment,) = github_server.comments[(REPO, 12)]
    assert comment["body"].startswith("<!-- perfgate:perfgate -->")
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure"
    assert status["target_url"] == "https://github.example/octo/widgets/actions/runs/777"
    seen = json.loads((tmp_path / "home" / "env.json").read_text())
    assert TOKEN not in json.dumps(seen)
    assert not [k for k in seen if k.startswith(("ACTIONS_", "INPUT_"))]
    assert dump  # the dump went to HOME, outside the checkout that is gated


def test_a_shallow_checkout_without_the_base_names_fetch_depth(
    container: str, tmp_path: Path, github_server
) -> None:
    origin = make_repo(tmp_path / "origin", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = origin.git("rev-parse", "HEAD")
    head = origin.commit({"README.md": "x\n"}, "the PR")
    clone = tmp_path / "workspace"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin.path}", str(clone)], check=True
    )
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    result, outputs, summary = run_action(
        container, tmp_path, github_server, type(origin)(clone), event(tmp_path, base, head), head
    )
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fetch-depth: 0" in result.stdout
    assert outputs["verdict"] == "error" and "fetch-depth: 0" in summary
