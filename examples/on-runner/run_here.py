"""Run examples/workflows/perfgate-on-runner.yml's job on this machine, step by step.

What the runner would do, done here: the `services:` postgres becomes a PostgreSQL
server started from this machine's binaries on a free port of 127.0.0.1;
`actions/checkout` a clone with the whole history, at the pull request's head;
`actions/setup-python` a Python 3.13 (or the newest found) in a virtual environment
first on PATH, as the tool cache's would be; the job's `env:` as written (the port
changed); and the on-runner action's own steps, read from on-runner/action.yml and run
as the runner runs a composite action (tests/composite_runner.py), against the GitHub
stand-in (tests/github_server.py) on 127.0.0.1.

The project is made here: a package that stores orders in PostgreSQL, its pytest
suite, and a pull request that commits each order on its own (one round trip and one
commit per row instead of one batch): the kind of slowdown only a real database shows.

    .venv/bin/python examples/on-runner/run_here.py [--identical]

Needs PostgreSQL's server binaries (initdb, pg_ctl; when run as root, a `postgres`
user to run them as) and PyPI for the project's `pip install -e .[test]` and
perfgate's own pinned dependencies.  Prints the action's log, its outputs, the
comment and the commit status posted; exits with the action's exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from composite_runner import CompositeRunner  # noqa: E402
from git_helpers import make_repo  # noqa: E402
from github_server import TOKEN, FakeGitHub, _handler  # noqa: E402

WORKFLOW = ROOT / "examples" / "workflows" / "perfgate-on-runner.yml"
REPO = "octo/orders"

PYPROJECT = """\
[project]
name = "orders"
version = "1.0"
requires-python = ">=3.12"
dependencies = ["psycopg[binary]>=3.1"]

[project.optional-dependencies]
test = ["pytest>=8"]
"""
STORE_BATCH = '''\
"""Orders in PostgreSQL."""
import os

import psycopg


def connect():
    return psycopg.connect(os.environ["DATABASE_URL"])


def save_orders(conn, orders):
    """All orders in one transaction, sent as one batch."""
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO orders (item, qty) VALUES (%s, %s)", orders)
    conn.commit()


def total(conn):
    return conn.execute("SELECT coalesce(sum(qty), 0) FROM orders").fetchone()[0]
'''
STORE_ROW_BY_ROW = STORE_BATCH.replace(
    '''    """All orders in one transaction, sent as one batch."""
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO orders (item, qty) VALUES (%s, %s)", orders)
    conn.commit()''',
    '''    """Each order committed on its own, so that a failure loses at most one."""
    for item, qty in orders:
        conn.execute("INSERT INTO orders (item, qty) VALUES (%s, %s)", (item, qty))
        conn.commit()''',
)
TESTS = """\
import pytest

from orders.store import connect, save_orders, total


@pytest.fixture
def conn():
    with connect() as conn:
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text, qty int)")
        conn.commit()
        yield conn


@pytest.mark.parametrize("n", [500, 1000, 1500])
def test_orders_add_up(conn, n):
    save_orders(conn, [(f"item-{i}", i % 7) for i in range(n)])
    assert total(conn) == sum(i % 7 for i in range(n))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as its own user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start_postgres(folder: Path, port: int) -> Path:
    """The job's `services: postgres`, trusting local connections as the example's does."""
    initdb = shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb"
    pg_ctl = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"
    folder.mkdir()
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        os.chmod(folder.parent, 0o755)
    data = folder / "data"
    subprocess.run(as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on"
    start = [pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"]
    subprocess.run(as_postgres(start), check=True, capture_output=True)
    return data


def stop_postgres(data: Path) -> None:
    pg_ctl = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"
    subprocess.run(as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]),
                   capture_output=True)  # fmt: skip


def setup_python(folder: Path, wanted: str) -> Path:
    """What actions/setup-python leaves: a writable Python of that version first on PATH."""
    candidates = [
        *sorted(Path.home().glob(f".pyenv/versions/{wanted}*/bin/python3"), reverse=True),
        *filter(None, [shutil.which(f"python{wanted}")]),
    ]
    works = (c for c in candidates if subprocess.run([c, "-c", ""]).returncode == 0)
    base = str(next(works, sys.executable))
    print(f"--- setup-python {wanted}: {base}")
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    return folder / "bin"


def start_github() -> tuple[FakeGitHub, ThreadingHTTPServer]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return state, server


def make_project(folder: Path, identical: bool) -> tuple[str, str]:
    files = {"pyproject.toml": PYPROJECT, "orders/__init__.py": "",
             "orders/store.py": STORE_BATCH, "tests/test_store.py": TESTS}  # fmt: skip
    repo = make_repo(folder, files, "orders in PostgreSQL")
    base = repo.sha()
    change = {"README.md": "orders\n"}
    if not identical:
        change["orders/store.py"] = STORE_ROW_BY_ROW
    head = repo.commit(change, "commit each order on its own")
    return base, head


def event_file(folder: Path, base: str, head: str) -> Path:
    path = folder / "event.json"
    pull = {"number": 7, "base": {"sha": base, "repo": {"full_name": REPO}},
            "head": {"sha": head, "repo": {"full_name": REPO}}}  # fmt: skip
    path.write_text(json.dumps({"number": 7, "pull_request": pull,
                                "repository": {"full_name": REPO}}))  # fmt: skip
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identical", action="store_true", help="a PR that changes no code")
    args = parser.parse_args()
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    step = next(s for s in job["steps"] if "perfgate/on-runner" in s.get("uses", ""))
    python_version = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))[
        "with"]["python-version"]  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="perfgate-example-"))
    port = free_port()
    data = start_postgres(tmp / "postgres", port)
    github, server = start_github()
    try:
        base, head = make_project(tmp / "workspace", args.identical)
        event_path = event_file(tmp, base, head)
        github.serve_event(event_path)  # the stand-in knows the pull request and its commits
        bin_dir = setup_python(tmp / "toolcache-python", str(python_version))
        job_env = {k: str(v).replace(":5432/", f":{port}/") for k, v in job["env"].items()}
        temp = tmp / "runner-temp"
        temp.mkdir()
        env = {
            "PATH": os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(tmp / "home"), "CI": "true", "GITHUB_ACTIONS": "true",
            "RUNNER_OS": "Linux", "RUNNER_TEMP": str(temp),
            "GITHUB_WORKSPACE": str(tmp / "workspace"),
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": head, "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": github.url, "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "1", **job_env,
        }  # fmt: skip
        (tmp / "home").mkdir()
        runner = CompositeRunner(
            ROOT / "on-runner", job_env=env, runner_temp=temp,
            github={"token": TOKEN, "workspace": str(tmp / "workspace")},
        )  # fmt: skip
        started = time.monotonic()
        installed = runner.run(step["with"], stop_after="install")
        install_s = time.monotonic() - started
        print(installed.log, end="")
        if installed.exit_code != 0:
            return installed.exit_code
        started = time.monotonic()
        run = runner.run(step["with"], steps_done={"install": installed.steps[0].outputs})
        gate_s = time.monotonic() - started
        print(run.log, end="")
        print(f"--- install step: {install_s:.1f} s; gate step: {gate_s:.1f} s")
        print(f"--- exit code {run.exit_code}; outputs: {json.dumps(run.outputs)}")
        for (repo, number), comments in github.comments.items():
            for comment in comments:
                print(f"--- comment on {repo}#{number}:\n{comment['body']}")
        for (_, sha), statuses in github.statuses.items():
            for status in statuses:
                print(f"--- status on {sha[:12]}: {status['state']} "
                      f"{status['context']}: {status['description']}")  # fmt: skip
        return run.exit_code
    finally:
        server.shutdown()
        stop_postgres(data)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
