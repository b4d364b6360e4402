"""The real image, started the way the Actions runner starts a Docker action.

Read from the runner's own source (ContainerActionHandler, DockerCommandManager,
FileCommandManager): `docker run --rm --workdir /github/workspace` with

- every input declared in action.yml set, to its default or to "" (`-e INPUT_NAME`,
  hyphens kept), the token only through `INPUT_GITHUB-TOKEN`, no `GITHUB_TOKEN`;
- the GITHUB_* variables, RUNNER_* (RUNNER_TEMP as /github/runner_temp),
  ACTIONS_RUNTIME_URL/TOKEN, the cache, results and OIDC URLs, HOME=/github/home,
  and the job's `env:` passed unchanged (host paths and secrets included);
- every value passed as `-e NAME` with the value in the client's environment;
- the mounts: /var/run/docker.sock, the workspace, /github/home, /github/workflow,
  /github/file_commands, /github/runner_temp;
- the file-command files with the runner's names (set_output_, set_env_, add_path_,
  save_state_, step_summary_ + an id), created by the runner's user.

The checkout, home and file-command folders belong to uid 1001 (the runner's user on a
hosted runner); the container runs as root.  After it exits, `next_step` runs a shell
command as uid 1001, as the job's next step would: nothing is chowned back first.

One more mount, /loot (world-writable), stands in for the network a hostile benchmark
would exfiltrate through: what it manages to steal or do, it writes there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from github_server import TOKEN
from test_action_e2e import REPO, parse_outputs

from perfgate.github.runner_contract import input_variable

ROOT = Path(__file__).resolve().parent.parent
IMAGE = f"perfgate-e2e:{os.getpid()}"
RUNNER_UID = 1001
STEP_ID = "5d2bb2ee-0b25-4c5f-9a66-1c1fd44e8a1b"
FILE_COMMANDS = ("set_output", "set_env", "add_path", "save_state", "step_summary")
#: The runner's own credentials and endpoints, as it passes them to a container action.
RUNNER_SECRETS = {
    "ACTIONS_RUNTIME_TOKEN": "rt-secret-1",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "id-secret-2",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/secret-3",
    "ACTIONS_RESULTS_URL": "https://results.example/secret-4",
    "ACTIONS_RUNTIME_URL": "https://runtime.example/secret-5",
    "ACTIONS_CACHE_URL": "https://cache.example/secret-6",
}
#: A job's `env:`: a host path and secrets whose names no deny-list knows.
JOB_ENV = {
    "JOB_DATA_DIR": "/home/runner/work/_temp/data",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-7",
    "SSH_PRIVATE_KEY": "ssh-secret-8",
    "GH_PAT": "pat-secret-9",
}
SECRET_VALUES = (TOKEN, *(f"secret-{n}" for n in range(1, 10)))
NO_ENGINE = ("Cannot connect", "Is the docker daemon running", "permission denied while trying")


def _engine_complaint(built: subprocess.CompletedProcess) -> str:
    """The line of the build's output that says why there is no engine, cut to fit one line."""
    lines = (built.stderr + built.stdout).splitlines()
    said = next((line for line in lines if any(s in line for s in NO_ENGINE)), "no engine")
    return said.strip()[:120]


def build_image() -> Iterator[str]:
    """Build the image once; yields the container command.  Skips without an engine."""
    command = os.environ.get("CONTAINER", "docker")
    if shutil.which(command) is None:
        pytest.skip(f"no container command {command!r} (set CONTAINER to a docker-like command)")
    context = os.environ.get("CONTAINER_CONTEXT") or str(ROOT)
    built = subprocess.run(
        [command, "build", "-t", IMAGE, context], capture_output=True, text=True, timeout=1500
    )
    if built.returncode != 0 and any(s in built.stderr + built.stdout for s in NO_ENGINE):
        pytest.skip(
            f"{command} cannot reach a container engine ({_engine_complaint(built)});"
            " set CONTAINER to a docker-compatible command that can"
        )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield command
    subprocess.run([command, "rmi", IMAGE], capture_output=True, check=False)


def action_inputs(**given: str) -> dict[str, str]:
    """Every declared input: its default or "", then what the workflow gave."""
    metadata = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in metadata["inputs"].items()}
    values["github-token"] = TOKEN  # what `${{ github.token }}` becomes
    values.update({"command": "python bench.py", "runs": "5", "max-runs": "5", "warmup": "0"})
    values.update(given)
    return {input_variable(name): value for name, value in values.items()}


@dataclass
class Run:
    """One container action step: its process, outputs, summary and the host folders."""

    result: subprocess.CompletedProcess
    outputs: dict[str, str]
    summary: str
    folders: dict[str, Path]

    @property
    def log(self) -> str:
        return self.result.stdout[-6000:] + self.result.stderr[-4000:]

    def loot(self) -> dict[str, str]:
        """What a hostile benchmark managed to write to /loot: {file name: text}."""
        folder = self.folders["loot"]
        return {p.name: p.read_text(errors="replace") for p in sorted(folder.iterdir())}


def _runner_owned(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if os.geteuid() == 0:
        os.chown(path, RUNNER_UID, RUNNER_UID)
    return path


def _docker_socket(folder: Path) -> Path:
    """A stand-in for /var/run/docker.sock: a listening socket, root:root 660 like the real one
    (whose group, docker, has no member inside the container)."""
    path = folder / "docker.sock"
    if path.exists():  # a second run of the same test
        return path
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(8)
    os.chmod(path, 0o660)
    _docker_socket.keep.append(server)  # open for the test's life
    return path


_docker_socket.keep = []  # type: ignore[attr-defined]


def chown_tree(path: Path, uid: int = RUNNER_UID) -> None:
    """The checkout as actions/checkout leaves it: every file the runner user's."""
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{uid}:{uid}", str(path)], check=True)


def runner_variables(server, head: str, event_name: str) -> dict[str, str]:
    files = {name: f"/github/file_commands/{name}_{STEP_ID}" for name in FILE_COMMANDS}
    return {
        "HOME": "/github/home", "CI": "true", "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION": "__OWNER_perfgate", "GITHUB_ACTOR": "octocat",
        "GITHUB_ACTION_REPOSITORY": "", "GITHUB_ACTION_REF": "",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_EVENT_NAME": event_name, "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO,
        "GITHUB_REPOSITORY_OWNER": REPO.split("/")[0], "GITHUB_REF": "refs/pull/12/merge",
        "GITHUB_REF_NAME": "12/merge", "GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature",
        "GITHUB_API_URL": server.url, "GITHUB_GRAPHQL_URL": server.url + "/graphql",
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "777",
        "GITHUB_RUN_NUMBER": "3", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "perf",
        "GITHUB_WORKFLOW": "perfgate", "GITHUB_RETENTION_DAYS": "90",
        "GITHUB_OUTPUT": files["set_output"], "GITHUB_ENV": files["set_env"],
        "GITHUB_PATH": files["add_path"], "GITHUB_STATE": files["save_state"],
        "GITHUB_STEP_SUMMARY": files["step_summary"],
        "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_NAME": "GitHub Actions 2",
        "RUNNER_ENVIRONMENT": "github-hosted", "RUNNER_TEMP": "/github/runner_temp",
        "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
        "RUNNER_WORKSPACE": "/home/runner/work/widgets",
        **RUNNER_SECRETS, **JOB_ENV,
    }  # fmt: skip


def start_action(
    container: str,
    tmp_path: Path,
    server,
    repo_path: Path,
    event_path: Path,
    head: str,
    *,
    event_name: str = "pull_request",
    env: Mapping[str, str] | None = None,
    mounts: Sequence[str] = (),
    **inputs: str,
) -> tuple[subprocess.Popen, dict[str, Path]]:
    """Start the action's container as the runner does; `env` adds job variables, `mounts`
    volumes (a test's git remote)."""
    folders = {
        "home": _runner_owned(tmp_path / "home"),
        "workflow": _runner_owned(tmp_path / "workflow"),
        "file_commands": _runner_owned(tmp_path / "file_commands"),
        "runner_temp": _runner_owned(tmp_path / "runner_temp"),
        "loot": _runner_owned(tmp_path / "loot", 0o1777),
        "workspace": repo_path,
    }
    shutil.copy(event_path, folders["workflow"] / "event.json")
    server.serve_event(event_path)  # GitHub knows the pull request and its commits
    server.add_commit(REPO, head)
    for name in FILE_COMMANDS:
        command_file = folders["file_commands"] / f"{name}_{STEP_ID}"
        command_file.write_text("")
        os.chmod(command_file, 0o644)
        if os.geteuid() == 0:
            os.chown(command_file, RUNNER_UID, RUNNER_UID)
    chown_tree(repo_path)
    variables = {
        **runner_variables(server, head, event_name),
        **action_inputs(**inputs),
        **(env or {}),
    }
    sock = _docker_socket(tmp_path)
    extra_mounts = list(mounts)
    mounts = [f"{sock}:/var/run/docker.sock", f"{repo_path}:/github/workspace",
              f"{folders['home']}:/github/home", f"{folders['workflow']}:/github/workflow",
              f"{folders['file_commands']}:/github/file_commands",
              f"{folders['runner_temp']}:/github/runner_temp",
              f"{folders['loot']}:/loot", *extra_mounts]  # fmt: skip
    # ../shared/tools/container adds host networking by itself and refuses a second one.
    network = [] if Path(container).name == "container" else ["--network", "host"]
    argv = [container, "run", "--rm", *network, "--workdir", "/github/workspace"]
    for mount in mounts:
        argv += ["-v", mount]
    # `-e NAME`, the value in the client's environment; HOME as `-e HOME=...`, because the
    # client's own HOME must stay (podman keeps its storage there).
    argv += ["-e", f"HOME={variables['HOME']}"]
    for name in variables:
        if name != "HOME":
            argv += ["-e", name]
    client_env = {**os.environ, **{k: v for k, v in variables.items() if k != "HOME"}}
    process = subprocess.Popen(
        [*argv, IMAGE], env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    return process, folders


def finish(process: subprocess.Popen, folders: dict[str, Path], timeout: float = 900) -> Run:
    stdout, stderr = process.communicate(timeout=timeout)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    commands = folders["file_commands"]
    return Run(
        result,
        parse_outputs(commands / f"set_output_{STEP_ID}"),
        (commands / f"step_summary_{STEP_ID}").read_text(),
        folders,
    )


def run_action(container, tmp_path, server, repo_path, event_path, head, **kwargs) -> Run:
    process, folders = start_action(
        container, tmp_path, server, repo_path, event_path, head, **kwargs
    )
    return finish(process, folders)


def cancel(process: subprocess.Popen, after_s: float) -> None:
    """The runner's cancellation: SIGINT to the client, SIGTERM 7.5 s later, SIGKILL 2.5 s after."""
    time.sleep(after_s)
    for signum, wait in ((signal.SIGINT, 7.5), (signal.SIGTERM, 2.5), (signal.SIGKILL, 0)):
        if process.poll() is not None:
            return
        process.send_signal(signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)


def next_step(workspace: Path, script: str) -> subprocess.CompletedProcess:
    """A later step of the job: `sh -c script` in the checkout as the runner's user."""
    home = workspace.parent / "next-step-home"
    _runner_owned(home)
    # The runner's user can reach its own workspace; pytest's folders are root's alone (0700).
    for folder in workspace.parents:
        if folder == Path(tempfile.gettempdir()):
            break
        os.chmod(folder, folder.stat().st_mode | 0o001)
    return subprocess.run(
        ["setpriv", f"--reuid={RUNNER_UID}", f"--regid={RUNNER_UID}", "--clear-groups",
         "sh", "-c", script],
        cwd=workspace, capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"},
    )  # fmt: skip


def not_runner_owned(workspace: Path) -> list[str]:
    """Every path under the checkout (its .git included) not owned by the runner's user."""
    found = []
    for folder, dirs, files in os.walk(workspace):
        for name in [".", *dirs, *files]:
            path = Path(folder, name)
            if path.lstat().st_uid != RUNNER_UID:
                found.append(str(path.relative_to(workspace)))
    return found


def dump(value: object) -> str:
    return json.dumps(value, indent=1)[:3000]
