"""A hostile pull request against the real image, started as the runner starts it.

One test per attack.  Each scenario is one container run (module-scoped: the image
runs are slow), whose pull request tries several things at once; what an attack
achieves, it writes to /loot (see container_helpers), and each test reads the
loot, the log, the outputs and what the fake GitHub received.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_helpers import SECRET_VALUES, Run, run_action
from git_helpers import make_repo
from github_server import serve
from report_helpers import PASSED
from test_action_e2e import BENCH, REPO, action_inputs, event, run_entrypoint

from perfgate import config, workspace
from perfgate.errors import BenchmarkFailed
from perfgate.github import action
from perfgate.measure.pytest_documents import PLUGIN_SCHEMA
from perfgate.measure.run import RunSpec, log_tail, measure
from perfgate.measure.schedule import Target, run_single
from perfgate.pipeline import run_gate
from perfgate.plugin_contract import ENV_VAR
from perfgate.progress import Progress

#: What the PR puts where perfgate's own code would be found with `-m` from the checkout.
FAKE_ACTION = """import json, os, sys
open('/loot/action-replaced', 'w').write(json.dumps(dict(os.environ)))
os.execv(sys.executable, [sys.executable, '-I', '-m', 'perfgate.github.action'])
"""
#: `python -m venv` run from the checkout would import this instead of the standard library's.
FAKE_VENV = """import json, os, sys
open('/loot/venv-ran', 'w').write(json.dumps(dict(os.environ)))
os.chdir('/')
os.execv(sys.executable, [sys.executable, '-I', '-m', 'venv', *sys.argv[1:]])
"""
#: On PYTHONPATH (set by an earlier step through GITHUB_ENV): runs in any Python that hears it.
SITECUSTOMIZE = """import json, os
if any(k.startswith('INPUT_') for k in os.environ):
    open('/loot/pythonpath', 'w').write(json.dumps(dict(os.environ)))
"""
#: Named by PERFGATE_PYTHON (set the same way): would be perfgate's interpreter.
FAKE_PYTHON = """#!/bin/bash
env > /loot/perfgate-python
exec /opt/venv/bin/python "$@"
"""


@pytest.fixture(scope="module")
def replaced(container: str, tmp_path_factory) -> Iterator[tuple[Run, object, str]]:
    """A PR that ships perfgate/github/action.py, venv.py and an interpreter of its own,
    while an earlier step pointed PYTHONPATH and PERFGATE_PYTHON into the checkout.
    Its benchmark keeps 60 MB more than the base's: the real gate says fail."""
    tmp_path = tmp_path_factory.mktemp("replaced")
    files = {"bench.py": BENCH.format(mb=5, extra=""), ".perfgate.yml": "venv: true\n"}
    repo = make_repo(tmp_path / "workspace", files, "base")
    base = repo.sha()
    evil = {
        "bench.py": BENCH.format(mb=60, extra=""),
        "perfgate/__init__.py": "",
        "perfgate/github/__init__.py": "",
        "perfgate/github/action.py": FAKE_ACTION,
        "venv.py": FAKE_VENV,
        "evil/sitecustomize.py": SITECUSTOMIZE,
        "evil/python": FAKE_PYTHON,
    }
    for name, text in evil.items():
        (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / name).write_text(text)
    os.chmod(repo.path / "evil/python", 0o755)
    head = repo.commit({}, "the PR")
    job_env = {"PYTHONPATH": "/github/workspace/evil",
               "PERFGATE_PYTHON": "/github/workspace/evil/python"}  # fmt: skip
    with serve() as server:
        run = run_action(
            container, tmp_path, server, repo.path, event(tmp_path, base, head), head, env=job_env
        )
        yield run, server, head


@pytest.mark.container
def test_a_pr_cannot_replace_the_action_with_its_own_module(replaced) -> None:
    run, server, head = replaced
    assert "action-replaced" not in run.loot(), run.log
    assert run.result.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail" and "peak_memory" in run.outputs["regressions"]
    assert [s["state"] for s in server.statuses[(REPO, head)]] == ["failure"]


@pytest.mark.container
def test_a_pr_venv_module_never_runs_with_perfgate_environment(replaced) -> None:
    run, _, _ = replaced
    assert "venv-ran" not in run.loot(), run.log
    assert "perfgate: fail" in run.summary


@pytest.mark.container
def test_pythonpath_from_an_earlier_step_does_not_reach_perfgate(replaced) -> None:
    run, _, _ = replaced
    assert "pythonpath" not in run.loot(), run.log


@pytest.mark.container
def test_perfgate_python_from_an_earlier_step_is_ignored_in_the_image(replaced) -> None:
    run, _, _ = replaced
    assert "perfgate-python" not in run.loot(), run.log
    assert not [s for s in SECRET_VALUES if any(s in text for text in run.loot().values())]


#: The head's benchmark: each run tries every way out of its box it knows, and writes to
#: /loot what worked.  Then it does the base's work, so that the verdict is a pass.
HOSTILE = r"""
import json, os, socket, sys, time
x = bytearray(b'\x01') * (5 * 1024 * 1024)
time.sleep(0.01)
def loot(name, text):
    with open('/loot/' + name, 'a') as out:
        out.write(str(text) + '\n')
def ancestors():
    pid = os.getppid()
    while pid > 0:
        yield pid
        with open(f'/proc/{pid}/stat') as stat:
            pid = int(stat.read().rsplit(')', 1)[1].split()[1])
for pid in [*ancestors(), 1]:
    try:
        environ = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError:
        continue
    if b'INPUT_' in environ or b'ACTIONS_' in environ:
        loot('environ', f'{pid}: {environ!r}')
for pid in [*ancestors(), 1]:
    try:
        with open(f'/proc/{pid}/fd/1', 'a') as log:
            log.write('::notice::forged by the pull request\n')
        loot('fd', pid)
    except OSError:
        pass
for pid in ancestors():
    try:
        fds = os.listdir(f'/proc/{pid}/fd')
    except OSError:
        continue
    for fd in fds:
        try:
            if os.readlink(f'/proc/{pid}/fd/{fd}').startswith('pipe:'):
                with open(f'/proc/{pid}/fd/{fd}', 'w') as pipe:
                    pipe.write('done 0 0.000123 0.0 0.0 1\n')
                loot('forged-report', f'{pid} {fd}')
        except OSError:
            pass
try:
    with open('../base/bench.py', 'a') as other:
        other.write('\ntime.sleep(0.5)\n')
    loot('other-side', 'appended a sleep to the base')
except OSError:
    pass
for folder in ('/github/workspace', '/github/workspace/.perfgate', '/github/runner_temp'):
    try:
        with open(folder + '/planted-by-the-pr', 'w') as planted:
            planted.write('x')
        loot('perfgate-folders', folder)
    except OSError:
        pass
for name in os.listdir('/github/file_commands'):
    try:
        with open('/github/file_commands/' + name, 'a') as command:
            command.write('')
        loot('file-commands', name)
    except OSError:
        pass
try:
    client = socket.socket(socket.AF_UNIX)
    client.connect('/var/run/docker.sock')
    loot('docker-socket', 'connected')
except OSError:
    pass
secrets = [k for k in os.environ if k in ('AWS_SECRET_ACCESS_KEY', 'SSH_PRIVATE_KEY', 'GH_PAT')
           or k.startswith(('INPUT_', 'ACTIONS_'))]
if secrets:
    loot('own-environment', secrets)
try:
    alive = int(open('/loot/daemon-pid').read().split()[-1])
    os.kill(alive, 0)
    loot('daemon-survived', alive)
except (OSError, ValueError):
    pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        loot('daemon-pid', os.getpid())
        time.sleep(600)
    os._exit(0)
os.wait()
"""


@pytest.fixture(scope="module")
def escaped(container: str, tmp_path_factory) -> Iterator[tuple[Run, object, str]]:
    """A PR whose benchmark tries to get out: the token, the runner's log, the other side,
    perfgate's folders, the file-command files, the docker socket, a daemon that stays."""
    tmp_path = tmp_path_factory.mktemp("escaped")
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.sha()
    head = repo.commit({"bench.py": HOSTILE}, "the PR")
    with serve() as server:
        run = run_action(
            container, tmp_path, server, repo.path, event(tmp_path, base, head), head,
            warmup="1",
        )  # fmt: skip
        yield run, server, head


@pytest.mark.container
def test_the_benchmark_cannot_read_perfgate_environment(escaped) -> None:
    run, _, _ = escaped
    assert "environ" not in run.loot(), run.loot().get("environ", "")[:500]
    assert not [s for s in SECRET_VALUES if any(s in text for text in run.loot().values())]


@pytest.mark.container
def test_the_benchmark_cannot_write_into_the_runner_log(escaped) -> None:
    run, _, _ = escaped
    assert "fd" not in run.loot()
    assert "forged by the pull request" not in run.result.stdout


@pytest.mark.container
def test_the_benchmark_cannot_forge_its_own_measurement(escaped) -> None:
    """The launcher reports a run's figures on a pipe: a run of the same user must not
    write a `done` line of its own there (a run of 0.000123 s)."""
    run, _, _ = escaped
    assert "forged-report" not in run.loot(), run.loot()["forged-report"]
    results = json.loads((run.folders["workspace"] / run.outputs["results-json"]).read_text())
    assert not [s for s in results["sides"]["head"]["samples"] if s["wall_s"] == 0.000123]


@pytest.mark.container
def test_the_head_cannot_slow_the_base(escaped) -> None:
    run, _, _ = escaped
    assert "other-side" not in run.loot()
    assert run.result.returncode in (0, 1), run.log  # a verdict, whichever
    results = json.loads((run.folders["workspace"] / run.outputs["results-json"]).read_text())
    base_walls = [s["wall_s"] for s in results["sides"]["base"]["samples"]]
    assert statistics.median(base_walls) < 0.4, base_walls  # 0.5 s more if the head got in


@pytest.mark.container
def test_the_benchmark_cannot_write_the_workspace_results_or_runner_temp(escaped) -> None:
    run, _, _ = escaped
    assert "perfgate-folders" not in run.loot(), run.loot()["perfgate-folders"]
    assert not (run.folders["workspace"] / "planted-by-the-pr").exists()


@pytest.mark.container
def test_the_benchmark_cannot_write_the_file_command_files(escaped) -> None:
    run, _, _ = escaped
    assert "file-commands" not in run.loot(), run.loot()["file-commands"]


@pytest.mark.container
def test_the_benchmark_cannot_reach_the_docker_socket(escaped) -> None:
    run, _, _ = escaped
    assert "docker-socket" not in run.loot()


@pytest.mark.container
def test_a_job_env_secret_under_any_name_stays_out_of_the_benchmark(escaped) -> None:
    run, _, _ = escaped
    assert "own-environment" not in run.loot(), run.loot()["own-environment"]


@pytest.mark.container
def test_a_setsid_daemon_does_not_outlive_its_run(escaped) -> None:
    run, _, _ = escaped
    pids = run.loot()["daemon-pid"].split()
    assert len(pids) == 6  # the warm-up and five runs each started one
    assert "daemon-survived" not in run.loot(), run.loot()["daemon-survived"]


# --- Attacks that need no container --------------------------------------------------------

PY = sys.executable


def _quiet() -> Progress:
    return Progress(io.StringIO(), live=False)


def test_a_double_forked_setsid_daemon_is_killed_after_its_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        f"while not os.path.exists({str(pid_file)!r}): time.sleep(0.01)\n"
    )
    spec = RunSpec((PY, "-c", daemon), tmp_path, dict(os.environ), 60, tmp_path / "run.log")
    assert measure(spec).exit_code == 0
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z", f"daemon {pid} is alive"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_in_ci_a_secret_under_any_name_stays_out_of_the_benchmark() -> None:
    environ = {
        "CI": "true", "PATH": "/usr/bin", "HOME": "/home/runner", "LANG": "C.UTF-8",
        "GITHUB_SHA": "abc", "AWS_SECRET_ACCESS_KEY": "s1", "SSH_PRIVATE_KEY": "s2",
        "AZURE_CREDENTIALS": "s3", "GH_PAT": "s4", "DATABASE_URL": "postgres://u:pw@db/x",
        "INPUT_GITHUB-TOKEN": "s5", "GITHUB_ENV": "/f/e",
        "PERFGATE_PASS_ENV": "DATABASE_URL,INPUT_GITHUB-TOKEN,GITHUB_ENV",
    }  # fmt: skip
    assert workspace.benchmark_env(environ) == {
        "CI": "true", "PATH": "/usr/bin", "HOME": "/home/runner", "LANG": "C.UTF-8",
        "GITHUB_SHA": "abc", "DATABASE_URL": "postgres://u:pw@db/x",
    }  # fmt: skip


def test_a_pr_venv_module_does_not_run_when_perfgate_makes_a_venv(
    tmp_path: Path, monkeypatch
) -> None:
    marker = tmp_path / "venv-ran"
    repo = make_repo(tmp_path / "repo", {"venv.py": f"open({str(marker)!r}, 'w')\n"}, "base")
    monkeypatch.chdir(repo.path)  # perfgate started in the PR's checkout
    sha = repo.sha()
    with workspace.checkouts(repo.path, {"base": sha, "head": sha}) as trees:
        env = workspace.prepare_side(
            "head", trees["head"], setup=None, venv=True, env=dict(os.environ),
            log_path=tmp_path / "setup.log", timeout_s=300,
        )  # fmt: skip
        assert Path(env["VIRTUAL_ENV"], "bin", "python").exists()
    assert not marker.exists()


def test_a_huge_failing_log_is_read_by_its_tail_only(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        out.write(b"x" * 1023 + b"\n")
        for _ in range(80):
            out.write((b"y" * 1023 + b"\n") * 1024)  # 80 MB
        out.write(b"the last line\n")
    tracemalloc.start()
    try:
        tail = log_tail(log)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tail.splitlines()[-1] == "the last line" and len(tail.splitlines()) == 30
    assert peak < 4 * 1024 * 1024, peak  # the whole log would be 80 MB, twice over as text


def test_a_run_killed_by_sigkill_is_named(tmp_path: Path) -> None:
    suicide = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    target = Target("run", (PY, "-c", suicide), tmp_path, dict(os.environ), 60, tmp_path / "l")
    with pytest.raises(BenchmarkFailed) as raised:
        run_single(target, runs=1, warmup=0, progress=_quiet())
    assert "killed by SIGKILL (out of memory, or killed)" in str(raised.value)


def test_a_malformed_per_test_file_from_the_pr_keeps_the_verdict(tmp_path: Path) -> None:
    forged = {"schema": PLUGIN_SCHEMA, "tests": 5}
    writer = f"import json, os; json.dump({forged!r}, open(os.environ[{ENV_VAR!r}], 'w'))"
    repo = make_repo(tmp_path / "repo", {"bench.py": writer + "\n"}, "base")
    base = repo.sha()
    head = repo.commit({"README.md": "x\n"}, "head")
    cfg = config.load(
        repo=repo.path,
        layers=(("test", {"command": f"{PY} bench.py", "base": base, "head": head,
                          "runs": "5", "max-runs": "5", "warmup": "0", "breakdown": "pytest"}),),
    )  # fmt: skip
    outcome = run_gate(cfg, _quiet())
    assert outcome.results.verdict in ("pass", "fail"), outcome.results.error
    notes = outcome.results.breakdown["notes"]
    assert any("per-test data left out" in note for note in notes), notes


def _pr_with(tmp_path: Path, files: dict[str, str]):
    repo = make_repo(tmp_path / "workspace", {"bench.py": BENCH.format(mb=5, extra="")}, "base")
    base = repo.sha()
    head = repo.commit(files, "the PR")
    return repo, base, head


def test_a_pr_file_named_dot_perfgate_keeps_the_verdict_and_the_results(
    tmp_path: Path, github_server
) -> None:
    repo, base, head = _pr_with(tmp_path, {".perfgate": "in the way\n"})
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["verdict"] == "pass" and PASSED.search(summary)
    assert outputs["results-json"].startswith(".perfgate-")
    assert json.loads((repo.path / outputs["results-json"]).read_text())["verdict"] == "pass"
    assert (repo.path / ".perfgate").read_text() == "in the way\n"
    assert [s["state"] for s in github_server.statuses[(REPO, head)]] == ["success"]


def test_a_pr_symlink_cannot_redirect_the_results(tmp_path: Path, github_server) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo, base, head = _pr_with(tmp_path, {})
    (repo.path / ".perfgate").symlink_to(elsewhere)
    os.mkdir(repo.path / "results")
    (repo.path / "results" / "perfgate-results.json").symlink_to(elsewhere / "planted.json")
    head = repo.commit({}, "the PR's symlink")
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(elsewhere.iterdir()) == []
    assert (repo.path / outputs["results-json"]).is_file()
    assert not (repo.path / outputs["results-json"]).is_symlink()


def test_a_non_latin1_token_is_a_warning_and_the_exit_code_stays_the_verdict(
    tmp_path: Path, github_server
) -> None:
    repo, base, head = _pr_with(tmp_path, {"README.md": "x\n"})
    result, outputs, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        **{"github-token": "ghs_tökén_✓"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["verdict"] == "pass"
    assert "::warning title=perfgate::publishing failed: UnicodeEncodeError" in result.stdout


def test_a_crash_after_the_checkout_posts_status_error(
    tmp_path: Path, github_server, monkeypatch
) -> None:
    repo, base, head = _pr_with(tmp_path, {"README.md": "x\n"})
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.write_text("")
    summary.write_text("")
    environ = {
        "GITHUB_WORKSPACE": str(repo.path), "GITHUB_EVENT_PATH": str(event(tmp_path, base, head)),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": github_server.url, "GITHUB_RUN_ID": "9",
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
        **action_inputs(),
    }  # fmt: skip

    def crash(*_args, **_kwargs):
        raise RuntimeError("a bug in perfgate")

    github_server.serve_event(tmp_path / "event.json")  # GitHub knows the PR and its head
    github_server.add_commit(REPO, head)
    monkeypatch.setattr(action, "run_gate", crash)
    assert action.main(environ) == 4
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "error" and "a bug in perfgate" in status["description"]
    assert "perfgate crashed" in summary.read_text()
