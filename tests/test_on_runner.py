"""The on-runner action (on-runner/action.yml) end to end, its steps run as the runner runs
a composite action (tests/composite_runner.py), against the fake GitHub on 127.0.0.1.

The job's Python is a virtual environment made here, first on PATH, holding a module
(`jobmod`) that only it has: what an earlier `actions/setup-python` and `pip install`
would leave.  The benchmark must run with it, perfgate in its own environment, installed
once per module from on-runner/requirements.txt (pinned, with hashes) and this checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import venv
from pathlib import Path

import pytest
import yaml
from composite_runner import CompositeRunner
from git_helpers import make_repo
from github_server import TOKEN
from report_helpers import PASSED
from test_action_e2e import REPO, SECRET_VALUES, SECRETS, event

ROOT = Path(__file__).resolve().parent.parent
ACTION_DIR = ROOT / "on-runner"

#: The benchmark: needs the job's own module, records which Python ran it and what it saw.
BENCH = """\
import json, os, sys, time
import jobmod
with open({probe!r}, "a") as out:
    out.write(json.dumps({{"prefix": sys.prefix, "env": dict(os.environ)}}) + "\\n")
time.sleep({sleep})
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict:
    """The job's Python (a venv with `jobmod`), and perfgate installed by the action's own
    first step, once for the module."""
    root = tmp_path_factory.mktemp("job")
    job_python = root / "job-python"
    venv.EnvBuilder(with_pip=False).create(job_python)
    purelib = subprocess.run(
        [str(job_python / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "jobmod.py").write_text("VALUE = 'only the job has me'\n")
    home, temp = root / "home", root / "runner-temp"
    home.mkdir()
    temp.mkdir()
    path = os.pathsep.join([str(job_python / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    runner = make_runner(root, temp, {"PATH": path, "HOME": str(home)})
    install = runner.run({}, stop_after="install")
    assert install.exit_code == 0, install.log
    (step,) = install.steps
    return {"root": root, "temp": temp, "path": path, "home": home,
            "job_python": job_python, "install": step.outputs}  # fmt: skip


def make_runner(root: Path, temp: Path, job_env: dict, **github) -> CompositeRunner:
    workspace = github.get("workspace", root)
    return CompositeRunner(
        ACTION_DIR,
        job_env={"CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux",
                 "RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(workspace), **job_env},
        github={"token": TOKEN, "workspace": str(workspace), **github},
        runner_temp=temp,
    )  # fmt: skip


def run_action(job, tmp_path, server, repo, head, event_path, job_env=None, **inputs):
    """The action's steps after the install, for a pull_request job in `repo`."""
    server.serve_event(event_path)  # GitHub knows the pull request and its commits
    server.add_commit(REPO, head)
    env = {
        "PATH": job["path"], "HOME": str(job["home"]),
        "GITHUB_EVENT_PATH": str(event_path), "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": server.url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "4242", **SECRETS,
    }  # fmt: skip
    del env["GITHUB_TOKEN"]  # the runner sets none; the token comes through the input
    env.update(job_env or {})
    runner = make_runner(tmp_path, job["temp"], env, workspace=repo.path)
    given = {"command": "python3 bench.py", "runs": "5", "max-runs": "5", "warmup": "0"}
    return runner.run({**given, **inputs}, steps_done={"install": job["install"]})


def project(tmp_path: Path, probe: Path, head_sleep: float, pr_files: dict | None = None):
    base_bench = BENCH.format(probe=str(probe), sleep=0.01)
    repo = make_repo(tmp_path / "workspace", {"bench.py": base_bench}, "base")
    base = repo.sha()
    head = repo.commit(
        {"bench.py": BENCH.format(probe=str(probe), sleep=head_sleep), "README.md": "PR\n",
         **(pr_files or {})},
        "the PR",
    )  # fmt: skip
    return repo, base, head


def test_perfgate_is_installed_apart_from_the_job(job) -> None:
    python = Path(job["install"]["python"])
    assert python.is_file() and job["temp"] in python.parents
    assert job["job_python"] not in python.resolve().parents
    code = "import perfgate, yaml, psutil, requests; print(perfgate.__file__)"
    shown = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, cwd="/")
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()).is_relative_to(python.parent.parent)  # not this checkout
    missing = subprocess.run([str(python), "-I", "-c", "import jobmod"], capture_output=True)
    assert missing.returncode != 0  # the job's packages stay the job's


def test_a_planted_slowdown_fails_with_one_comment_and_a_failure_status(
    job, tmp_path, github_server
) -> None:
    probe = tmp_path / "probe.jsonl"
    repo, base, head = project(tmp_path, probe, head_sleep=0.3)
    run = run_action(job, tmp_path, github_server, repo, head, event(tmp_path, base, head))
    assert run.exit_code == 1, run.log
    assert run.outputs["verdict"] == "fail"
    assert "wall_time" in run.outputs["regressions"].split(",")
    assert "::error title=perfgate::wall_time regressed" in run.stdout
    (comment,) = github_server.comments[(REPO, 12)]
    assert comment["body"].startswith("<!-- perfgate:perfgate -->\n")
    assert "perfgate: fail" in comment["body"] and "perfgate: fail" in run.summary
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure" and status["context"] == "perfgate"
    assert "(regression)" in status["description"]
    # A path in an output is the workspace's (a relative one is read from there, as a
    # following `run:` step, whose working directory is the workspace, reads it).
    results = repo.path / run.outputs["results-json"]
    assert json.loads(results.read_text())["verdict"] == "fail"


def test_identical_code_passes_with_the_jobs_python(job, tmp_path, github_server) -> None:
    probe = tmp_path / "probe.jsonl"
    repo, base, head = project(tmp_path, probe, head_sleep=0.01)
    run = run_action(job, tmp_path, github_server, repo, head, event(tmp_path, base, head))
    assert run.exit_code == 0, run.log
    assert run.outputs["verdict"] == "pass" and run.outputs["regressions"] == ""
    results = (repo.path / run.outputs["results-json"]).resolve()
    assert results == repo.path.resolve() / ".perfgate" / "perfgate-results.json"
    report = repo.path / run.outputs["report-markdown"]
    assert report.read_text().rstrip() == run.summary.rstrip()
    (comment,) = github_server.comments[(REPO, 12)]
    assert PASSED.search(comment["body"])
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "success"
    seen = [json.loads(line) for line in probe.read_text().splitlines()]
    assert len(seen) == 10  # 5 runs a side, no warm-up
    assert {Path(s["prefix"]) for s in seen} == {job["job_python"]}
    for s in seen:  # neither the token nor a runner secret, nor an INPUT_ variable
        assert not [v for v in SECRET_VALUES if v in json.dumps(s["env"])]
        assert not [k for k in s["env"] if k.startswith(("INPUT_", "ACTIONS_"))]
    assert run.stdout.count(TOKEN) == 1  # the ::add-mask:: line
    assert not (job["home"] / ".gitconfig").exists()  # the user's git config is untouched


#: A pull request that ships its own `perfgate.github.action`, which would post a pass.
IMPOSTOR = {
    "perfgate/__init__.py": "",
    "perfgate/github/__init__.py": "",
    "perfgate/github/action.py": (
        "import os\n"
        "open(os.path.join(os.environ['GITHUB_WORKSPACE'], 'HIJACKED'), 'w').write('x')\n"
        "open(os.environ['GITHUB_OUTPUT'], 'a').write('verdict=pass\\n')\n"
    ),
}


def test_the_checkout_and_pythonpath_cannot_replace_perfgate(job, tmp_path, github_server):
    """perfgate starts with -I from RUNNER_TEMP: neither the PR's own `perfgate` package in
    the checkout nor a PYTHONPATH an earlier step pointed at it is imported."""
    probe = tmp_path / "probe.jsonl"
    repo, base, head = project(tmp_path, probe, head_sleep=0.3, pr_files=IMPOSTOR)
    run = run_action(
        job, tmp_path, github_server, repo, head, event(tmp_path, base, head),
        job_env={"PYTHONPATH": str(repo.path), "PYTHONSTARTUP": str(repo.path / "x.py")},
    )  # fmt: skip
    assert run.exit_code == 1, run.log
    assert run.outputs["verdict"] == "fail" and probe.exists()
    assert not (repo.path / "HIJACKED").exists()
    assert github_server.statuses[(REPO, head)][0]["state"] == "failure"


def test_bad_input_is_exit_2_before_anything_runs(job, tmp_path, github_server) -> None:
    probe = tmp_path / "probe.jsonl"
    repo, base, head = project(tmp_path, probe, head_sleep=0.01)
    run = run_action(
        job, tmp_path, github_server, repo, head, event(tmp_path, base, head), runs="-1"
    )
    assert run.exit_code == 2, run.log
    assert "::error title=perfgate::configuration:" in run.stdout and "runs" in run.stdout
    assert not probe.exists() and github_server.requests == []
    assert run.outputs["verdict"] == "error"


def test_a_python_too_old_for_perfgate_is_exit_2_naming_setup_python(tmp_path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\nexit 1\n")  # what 3.9 answers to the check
    (fake / "python3").chmod(0o755)
    temp = tmp_path / "temp"
    temp.mkdir()
    runner = make_runner(tmp_path, temp, {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)})
    run = runner.run({}, stop_after="install")
    assert run.exit_code == 2
    assert "needs Python 3.10 or later" in run.stdout and "actions/setup-python" in run.stdout
    assert [p.name for p in temp.iterdir()] == ["_runner_file_commands"]  # nothing installed


def test_an_install_that_fails_is_exit_4_infrastructure(tmp_path) -> None:
    """A Python that answers the version check but cannot make a venv (Debian without
    python3-venv): the gate's exit code for infrastructure trouble, and a message."""
    fake = tmp_path / "bin"
    fake.mkdir()
    script = (
        '#!/bin/sh\n[ "$2" = "-m" ] && [ "$3" = venv ] && { echo "no venv" >&2; exit 1; }\nexit 0\n'
    )
    (fake / "python3").write_text(script)
    (fake / "python3").chmod(0o755)
    temp = tmp_path / "temp"
    temp.mkdir()
    runner = make_runner(tmp_path, temp, {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)})
    run = runner.run({}, stop_after="install")
    assert run.exit_code == 4, run.log
    assert "::error title=perfgate::could not install perfgate" in run.stdout
    assert "no venv" in run.stderr and run.steps[0].outputs == {}


def test_the_on_runner_action_mirrors_the_docker_action() -> None:
    docker = yaml.safe_load((ROOT / "action.yml").read_text())
    composite = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
    assert composite["inputs"] == docker["inputs"], "on-runner/action.yml: copy action.yml's inputs"
    assert {k: v["description"] for k, v in composite["outputs"].items()} == {
        k: v["description"] for k, v in docker["outputs"].items()
    }
    for name, spec in composite["outputs"].items():
        assert spec["value"] == f"${{{{ steps.gate.outputs.{name} }}}}"
    (gate,) = [s for s in composite["runs"]["steps"] if s.get("id") == "gate"]
    wanted = {f"INPUT_{name.upper()}": f"${{{{ inputs.{name} }}}}" for name in docker["inputs"]}
    assert {k: v for k, v in gate["env"].items() if k.startswith("INPUT_")} == wanted
    for step in composite["runs"]["steps"]:  # values reach scripts through env: only
        assert "${{" not in step["run"], step["name"]


def test_requirements_pin_every_dependency_with_hashes() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r"dependencies = \[(.*?)\]", pyproject, re.DOTALL).group(1)
    wanted = {re.match(r'\s*"([A-Za-z0-9_.-]+)', d).group(1).lower()
              for d in declared.split(",") if d.strip()}  # fmt: skip
    text = (ACTION_DIR / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+) \\$", text, re.MULTILINE))
    assert wanted | {"setuptools"} <= set(pins)
    blocks = re.split(r"^(?=[a-z0-9_.-]+==)", text, flags=re.MULTILINE)[1:]
    assert len(blocks) == len(pins)
    for block in blocks:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]


def test_the_example_sets_up_python_and_a_database_then_gates_on_the_runner() -> None:
    workflow = yaml.safe_load((ROOT / "examples/workflows/perfgate-on-runner.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert "postgres" in job["services"] and "localhost" in job["env"]["DATABASE_URL"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert [u.split("@")[0] for u in uses] == [
        "actions/checkout", "actions/setup-python", "OWNER/perfgate/on-runner",
    ]  # fmt: skip
    assert all(re.fullmatch(r"[^@]+@[0-9a-f]{40}", u) for u in uses)  # pinned by SHA
    inputs = yaml.safe_load((ACTION_DIR / "action.yml").read_text())["inputs"]
    assert set(job["steps"][-1]["with"]) <= set(inputs)
