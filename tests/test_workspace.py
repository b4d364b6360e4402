"""Worktrees, refs, setup and the scrubbed environment, on real repositories."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from git_helpers import make_repo

from perfgate import workspace
from perfgate.errors import ConfigError, InfrastructureError

PY = sys.executable


@pytest.fixture
def repo(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"app.py": "VERSION = 1\n"}, "base")
    repo.git("branch", "base")
    repo.commit({"app.py": "VERSION = 2\n"}, "head")
    return repo


def worktree_count(repo) -> int:
    return repo.git("worktree", "list").count("\n") + 1


def test_checkouts_hold_each_side_and_vanish_afterwards(repo) -> None:
    shas = {"base": workspace.resolve_ref(repo.path, "base"), "head": repo.git("rev-parse", "HEAD")}
    with workspace.checkouts(repo.path, shas) as trees:
        assert (trees["base"] / "app.py").read_text() == "VERSION = 1\n"
        assert (trees["head"] / "app.py").read_text() == "VERSION = 2\n"
        assert worktree_count(repo) == 3
        root = trees["base"].parent
    assert worktree_count(repo) == 1
    assert not root.exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_checkouts_are_removed_when_the_block_raises(repo, error) -> None:
    sha = repo.git("rev-parse", "HEAD")
    with pytest.raises(error), workspace.checkouts(repo.path, {"head": sha}):
        raise error()
    assert worktree_count(repo) == 1


INSIDE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from perfgate import workspace
    repo = Path(sys.argv[1])
    sha = workspace.resolve_ref(repo, "HEAD")
    with workspace.checkouts(repo, {"base": sha, "head": sha}) as trees:
        print(trees["base"].parent, flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_process_leaves_no_worktree(repo, signum) -> None:
    process = subprocess.Popen(
        [PY, "-c", INSIDE, str(repo.path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    root = Path(process.stdout.readline().strip())
    assert root.is_dir() and worktree_count(repo) == 3
    process.send_signal(signum)
    process.wait(timeout=30)
    assert process.returncode != 0
    assert worktree_count(repo) == 1
    assert not root.exists()


def test_refs_and_repositories_are_checked(repo, tmp_path: Path) -> None:
    assert workspace.resolve_ref(repo.path, "base") == repo.git("rev-parse", "base")
    with pytest.raises(ConfigError, match="'nope' does not name a commit"):
        workspace.resolve_ref(repo.path, "nope")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match="not a git repository"):
        workspace.git_toplevel(plain)
    with pytest.raises(ConfigError, match="not a folder"):
        workspace.git_toplevel(tmp_path / "missing")
    assert workspace.git_toplevel(repo.path / ".") == repo.path.resolve()


def test_default_base_prefers_main(repo, tmp_path: Path) -> None:
    assert workspace.default_base(repo.path) == "main"
    other = make_repo(tmp_path / "other", {"x": "1"})
    other.git("branch", "-m", "trunk")
    with pytest.raises(ConfigError, match="give --base"):
        workspace.default_base(other.path)


def test_shallow_clone_fetches_a_missing_base_or_names_fetch_depth(repo, tmp_path: Path) -> None:
    base_sha = repo.git("rev-parse", "base")
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone)], check=True
    )
    assert workspace.is_shallow(clone)
    with pytest.raises(ConfigError, match="fetch-depth: 0"):
        workspace.resolve_ref(clone, base_sha)
    workspace.ensure_commit(clone, base_sha)  # fetched from origin
    assert workspace.resolve_ref(clone, base_sha) == base_sha
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    with pytest.raises(ConfigError, match="fetch-depth: 0"):
        workspace.ensure_commit(clone, "0" * 40)


def test_benchmark_env_drops_every_secret() -> None:
    environ = {
        "PATH": "/usr/bin", "HOME": "/root", "GITHUB_SHA": "abc", "GITHUB_REPOSITORY": "o/r",
        "GITHUB_TOKEN": "t", "GH_TOKEN": "t", "INPUT_GITHUB-TOKEN": "t", "INPUT_COMMAND": "x",
        "ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "u", "ACTIONS_CACHE_URL": "u", "NPM_TOKEN": "t",
        "AWS_SECRET": "s", "DB_PASSWORD": "p", "OPENAI_API_KEY": "k",
    }  # fmt: skip
    assert workspace.benchmark_env(environ) == {
        "PATH": "/usr/bin", "HOME": "/root", "GITHUB_SHA": "abc", "GITHUB_REPOSITORY": "o/r",
    }  # fmt: skip


def test_setup_in_a_venv_is_seen_by_its_side_only(repo, tmp_path: Path) -> None:
    package = tmp_path / "localpkg"
    (package / "localpkg").mkdir(parents=True)
    (package / "localpkg" / "__init__.py").write_text("MARK = 'installed'\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "localpkg"\nversion = "1"\n'
    )
    sha = repo.git("rev-parse", "HEAD")
    env = workspace.benchmark_env(os.environ)
    with workspace.checkouts(repo.path, {"base": sha, "head": sha}) as trees:
        head_env = workspace.prepare_side(
            "head", trees["head"], venv=True, env=env, log_path=tmp_path / "setup.log",
            timeout_s=300,
            setup=f"python -m pip install -q --no-deps {package}",
        )  # fmt: skip
        base_env = workspace.prepare_side(
            "base", trees["base"], venv=True, setup=None, env=env,
            log_path=tmp_path / "base.log", timeout_s=60,
        )  # fmt: skip
        probe = "import localpkg; print(localpkg.MARK)"
        seen = subprocess.run(["python", "-c", probe], env=head_env, capture_output=True, text=True)
        assert seen.stdout.strip() == "installed", seen.stderr
        unseen = subprocess.run(["python", "-c", probe], env=base_env, capture_output=True)
        assert unseen.returncode != 0
        assert repo.git("-C", str(trees["head"]), "status", "--porcelain") == ""


def test_failing_setup_raises_with_its_tail(repo, tmp_path: Path) -> None:
    sha = repo.git("rev-parse", "HEAD")
    with workspace.checkouts(repo.path, {"head": sha}) as trees:
        with pytest.raises(InfrastructureError) as raised:
            workspace.prepare_side(
                "head", trees["head"], setup="echo installing; echo broken >&2; exit 4",
                venv=False, env=dict(os.environ), log_path=tmp_path / "s.log", timeout_s=60,
            )  # fmt: skip
        assert "setup failed on head (exit 4)" in str(raised.value)
        assert "broken" in raised.value.log_tail and raised.value.exit_code == 4
        with pytest.raises(InfrastructureError, match="timed out"):
            workspace.prepare_side(
                "head", trees["head"], setup="sleep 30", venv=False, env=dict(os.environ),
                log_path=tmp_path / "t.log", timeout_s=0.5,
            )  # fmt: skip


def test_git_failure_is_infrastructure_trouble(repo) -> None:
    start = time.monotonic()
    with (
        pytest.raises(InfrastructureError, match="git worktree add"),
        workspace.checkouts(repo.path, {"head": "0" * 40}),
    ):
        pass
    assert time.monotonic() - start < 600  # returned at all: nothing hung
    assert worktree_count(repo) == 1
