"""Worktrees, refs, setup and the scrubbed environment, on real repositories."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path

import pytest
from git_helpers import Repo, make_repo

from perfgate import workspace
from perfgate.errors import ConfigError, InfrastructureError

PY = sys.executable


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """base (VERSION = 1) and main (VERSION = 2), in a folder whose name has a space."""
    repo = make_repo(tmp_path / "my project", {"app.py": "VERSION = 1\n"}, "base")
    repo.git("branch", "base")
    repo.commit({"app.py": "VERSION = 2\n"}, "head")
    return repo


def make_dirty(repo: Repo) -> None:
    """A user in the middle of work: a stash, staged, unstaged and untracked changes."""
    (repo.path / "app.py").write_text("VERSION = 'stashed'\n")
    repo.git("stash", "push", "-q", "-m", "work in progress")
    repo.git("checkout", "-q", "-b", "feature")
    (repo.path / "staged.py").write_text("staged = True\n")
    repo.git("add", "staged.py")
    (repo.path / "app.py").write_text("VERSION = 'unstaged'\n")
    (repo.path / "notes dir").mkdir()
    (repo.path / "notes dir" / "untracked.txt").write_text("mine\n")


def worktree_count(repo: Repo) -> int:
    return len(repo.git("worktree", "list").splitlines())


def both_sides(repo: Repo) -> dict[str, str]:
    return {"base": repo.sha("base"), "head": repo.sha("main")}


def test_checkouts_hold_each_side_and_vanish_afterwards(repo: Repo) -> None:
    with workspace.checkouts(repo.path, both_sides(repo)) as trees:
        assert (trees["base"] / "app.py").read_text() == "VERSION = 1\n"
        assert (trees["head"] / "app.py").read_text() == "VERSION = 2\n"
        assert worktree_count(repo) == 3
        root = trees["base"].parent
        assert repo.path.resolve() not in root.resolve().parents
    assert worktree_count(repo) == 1
    assert not root.exists()
    assert not (repo.path / ".git" / "worktrees").exists() or not any(
        (repo.path / ".git" / "worktrees").iterdir()
    )


def test_the_users_checkout_is_left_exactly_as_it_was(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_dirty(repo)
    # As inside a git hook: variables that would point git at the user's index.
    monkeypatch.setenv("GIT_DIR", str(repo.path / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo.path / ".git" / "index"))
    before = repo.checkout_state()
    with workspace.checkouts(repo.path, both_sides(repo)) as trees:
        (trees["head"] / "app.py").write_text("changed by the benchmark\n")
        (trees["head"] / "output.log").write_text("litter\n")
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert repo.checkout_state() == before
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "feature"
    assert "work in progress" in before["stash"]  # the snapshot saw what it guards


def test_the_users_hooks_do_not_run_for_perfgate_checkouts(repo: Repo) -> None:
    hook = repo.path / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch '{repo.path / 'hook-ran'}'\n")
    hook.chmod(0o755)
    repo.git("checkout", "-q", "base")  # the hook works for the user's own checkout
    assert (repo.path / "hook-ran").exists()
    (repo.path / "hook-ran").unlink()
    with workspace.checkouts(repo.path, both_sides(repo)):
        pass
    assert not (repo.path / "hook-ran").exists()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_checkouts_are_removed_when_the_block_raises(repo: Repo, error: type) -> None:
    with pytest.raises(error), workspace.checkouts(repo.path, both_sides(repo)) as trees:
        root = trees["head"].parent
        raise error()
    assert worktree_count(repo) == 1
    assert not root.exists()


INSIDE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from perfgate import workspace
    repo = Path(sys.argv[1])
    refs = {"base": "base", "head": "main"}
    shas = {side: workspace.resolve_ref(repo, ref) for side, ref in refs.items()}
    with workspace.checkouts(repo, shas) as trees:
        print(trees["base"].parent, flush=True)
        time.sleep(60)
    print("not reached", flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signalled_process_leaves_no_worktree(repo: Repo, tmp_path: Path, signum: int) -> None:
    make_dirty(repo)
    before = repo.checkout_state()
    temp = tmp_path / "temp with spaces"
    temp.mkdir()
    process = subprocess.Popen(
        [PY, "-c", INSIDE, str(repo.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        root = Path(process.stdout.readline().strip())
        assert root.parent == temp and root.is_dir() and worktree_count(repo) == 3
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    # Ctrl-C: Python re-raises SIGINT on itself at exit; SIGTERM: SystemExit(143).
    assert process.returncode == (-signal.SIGINT if signum == signal.SIGINT else 143), err
    assert "not reached" not in out
    assert not root.exists()
    assert list(temp.iterdir()) == []
    assert repo.checkout_state() == before


CLEANUP_INTERRUPTED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from perfgate import workspace
    repo = Path(sys.argv[1])
    sha = workspace.resolve_ref(repo, "main")
    try:
        with workspace.checkouts(repo, {"head": sha}) as trees:
            pass
    except KeyboardInterrupt:
        print("interrupted after cleanup", not trees["head"].parent.exists(), flush=True)
    """
)


def test_a_second_ctrl_c_during_cleanup_waits_until_it_is_done(repo: Repo, tmp_path: Path) -> None:
    # A `git` first on PATH that presses Ctrl-C on perfgate as cleanup starts.
    real_git = shutil.which("git")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "git").write_text(
        '#!/bin/sh\nif [ "$1 $2" = "worktree remove" ]; then kill -INT $PPID; fi\n'
        f'exec "{real_git}" "$@"\n'
    )
    (fake_bin / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [PY, "-c", CLEANUP_INTERRUPTED, str(repo.path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.stdout.strip() == "interrupted after cleanup True", done.stderr
    assert worktree_count(repo) == 1


def test_refs_and_repositories_are_checked(repo: Repo, tmp_path: Path) -> None:
    assert workspace.resolve_ref(repo.path, "base") == repo.sha("base")
    with pytest.raises(ConfigError, match="'nope' does not name a commit.*git fetch"):
        workspace.resolve_ref(repo.path, "nope")
    with pytest.raises(ConfigError, match="'--output=x' is not a valid git ref"):
        workspace.resolve_ref(repo.path, "--output=x")
    plain = tmp_path / "plain folder"
    plain.mkdir()
    with pytest.raises(
        ConfigError, match=f"not a git repository: {re.escape(str(plain.resolve()))}"
    ):
        workspace.git_toplevel(plain)
    with pytest.raises(ConfigError, match="not a folder"):
        workspace.git_toplevel(tmp_path / "missing")
    assert workspace.git_toplevel(repo.path / ".") == repo.path.resolve()


def test_checkouts_want_full_shas_and_plain_side_names(repo: Repo) -> None:
    not_a_sha = pytest.raises(ConfigError, match="'main' is not a full commit SHA")
    with not_a_sha, workspace.checkouts(repo.path, {"head": "main"}):
        pass
    escaping = pytest.raises(ValueError, match="plain folder name")
    with escaping, workspace.checkouts(repo.path, {"../escape": repo.sha()}):
        pass
    assert worktree_count(repo) == 1


def test_default_base_prefers_origin_main_then_main_then_master(repo: Repo, tmp_path: Path) -> None:
    assert workspace.default_base(repo.path) == "main"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    assert workspace.default_base(clone) == "origin/main"
    old = make_repo(tmp_path / "old", {"x": "1"})
    old.git("branch", "-m", "master")
    assert workspace.default_base(old.path) == "master"
    old.git("branch", "-m", "trunk")
    with pytest.raises(ConfigError, match="none of origin/main, main.*give --base"):
        workspace.default_base(old.path)


def shallow_clone(origin: Repo, path: Path) -> Path:
    url = f"file://{origin.path}"
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(path)], check=True)
    return path


def test_a_shallow_clone_fetches_the_missing_base_by_sha(repo: Repo, tmp_path: Path) -> None:
    clone = shallow_clone(repo, tmp_path / "shallow")
    base_sha = repo.sha("base")
    assert workspace.is_shallow(clone)
    with pytest.raises(ConfigError, match="'base' does not name a commit.*fetch-depth: 0"):
        workspace.resolve_ref(clone, "base")  # a branch name is not guessed at
    assert workspace.resolve_ref(clone, base_sha) == base_sha  # a SHA is fetched
    assert workspace.is_shallow(clone)  # one commit fetched, not the whole history
    with workspace.checkouts(clone, {"base": base_sha}) as trees:
        assert (trees["base"] / "app.py").read_text() == "VERSION = 1\n"


def test_a_server_that_refuses_shas_gets_unshallow(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Protocol v0 only hands out advertised tips: the base, no longer a
    # branch tip, cannot be fetched by SHA, so the fallback must unshallow.
    base_sha = repo.sha("base")
    repo.git("branch", "-D", "base")
    clone = shallow_clone(repo, tmp_path / "shallow")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.version")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "0")
    workspace.ensure_commit(clone, base_sha)
    assert not workspace.is_shallow(clone)
    assert workspace.resolve_ref(clone, base_sha) == base_sha


def test_a_base_that_cannot_be_fetched_names_fetch_depth(repo: Repo, tmp_path: Path) -> None:
    clone = shallow_clone(repo, tmp_path / "shallow")
    subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
    with pytest.raises(ConfigError, match=r"fetch-depth: 0") as raised:
        workspace.ensure_commit(clone, repo.sha("base"))
    assert repo.sha("base")[:12] in str(raised.value)
    with pytest.raises(ConfigError, match="fetch-depth: 0"):
        workspace.resolve_ref(clone, repo.sha("base"))
    with pytest.raises(ConfigError, match="not a full commit SHA"):
        workspace.ensure_commit(clone, "--upload-pack=touch /tmp/x")


def test_a_full_clone_is_never_made_shallow(repo: Repo, tmp_path: Path) -> None:
    repo.git("checkout", "-q", "-b", "later")
    later = repo.commit({"app.py": "VERSION = 3\n"}, "later")
    repo.git("checkout", "-q", "main")
    clone = tmp_path / "full"
    subprocess.run(
        ["git", "clone", "-q", "--single-branch", str(repo.path), str(clone)], check=True
    )
    workspace.ensure_commit(clone, later)
    assert not workspace.is_shallow(clone)
    assert workspace.resolve_ref(clone, later) == later


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository away")
def test_a_repository_of_another_user_works_once_marked_safe(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["chown", "-R", "1001:1001", str(repo.path)], check=True)
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    with pytest.raises(ConfigError, match="dubious ownership.*safe.directory"):
        workspace.git_toplevel(repo.path)
    config.write_text(f"[safe]\n\tdirectory = {repo.path}\n")  # what the entrypoint does
    top = workspace.git_toplevel(repo.path)
    shas = {"base": workspace.resolve_ref(top, "base"), "head": workspace.resolve_ref(top, "main")}
    with workspace.checkouts(top, shas) as trees:
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=trees["head"], capture_output=True, text=True
        )
        assert status.returncode == 0 and status.stdout == "", status.stderr
    assert worktree_count(repo) == 1


def test_benchmark_env_on_a_laptop_drops_every_secret() -> None:
    environ = {
        "PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "DATABASE_URL": "sqlite://",
        "GITHUB_SHA": "abc", "GITHUB_REPOSITORY": "o/r", "RUNNER_TEMP": "/tmp",
        "GIT_CONFIG_COUNT": "1",
        "GITHUB_TOKEN": "t", "GH_TOKEN": "t", "GH_ENTERPRISE_TOKEN": "t",
        "PERFGATE_GITHUB_TOKEN": "t", "INPUT_GITHUB-TOKEN": "t", "INPUT_COMMAND": "x",
        "ACTIONS_RUNTIME_TOKEN": "t", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "u", "ACTIONS_CACHE_URL": "u",
        "ACTIONS_RESULTS_URL": "u", "NPM_TOKEN": "t", "AWS_SECRET": "s",
        "DB_PASSWORD": "p", "OPENAI_API_KEY": "k", "github_token": "t",
        "GIT_DIR": "/x/.git", "GIT_INDEX_FILE": "/x/.git/index", "GIT_WORK_TREE": "/x",
        "GITHUB_ENV": "/f/e", "GITHUB_PATH": "/f/p", "GITHUB_OUTPUT": "/f/o",
        "GITHUB_STATE": "/f/s", "GITHUB_STEP_SUMMARY": "/f/m",
    }  # fmt: skip
    assert workspace.benchmark_env(environ) == {
        "PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "DATABASE_URL": "sqlite://",
        "GITHUB_SHA": "abc", "GITHUB_REPOSITORY": "o/r", "RUNNER_TEMP": "/tmp",
        "GIT_CONFIG_COUNT": "1",
    }  # fmt: skip


def build_wheel(folder: Path) -> Path:
    """A one-module wheel, zipped by hand: pip installs it offline, with no build backend."""
    files = {
        "localpkg/__init__.py": "MARK = 'installed'\n",
        "localpkg-1.dist-info/METADATA": "Metadata-Version: 2.1\nName: localpkg\nVersion: 1\n",
        "localpkg-1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: perfgate-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{name},sha256={encoded},{len(text.encode())}")
    record.append("localpkg-1.dist-info/RECORD,,")
    files["localpkg-1.dist-info/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "localpkg-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def test_setup_in_a_venv_is_seen_by_its_side_only(repo: Repo, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "local wheels")
    env = workspace.benchmark_env({**os.environ, "GITHUB_TOKEN": "secret-value"})
    setup = f"python -m pip install -q --no-deps --no-index '{wheel}' && env > env.txt"
    with workspace.checkouts(repo.path, both_sides(repo)) as trees:
        head_env = workspace.prepare_side(
            "head", trees["head"], venv=True, env=env, log_path=tmp_path / "setup.log",
            timeout_s=300, setup=setup,
        )  # fmt: skip
        base_env = workspace.prepare_side(
            "base", trees["base"], venv=True, setup=None, env=env,
            log_path=tmp_path / "base.log", timeout_s=120,
        )  # fmt: skip
        venv_dir = Path(head_env["VIRTUAL_ENV"])
        assert venv_dir.parent == trees["head"].parent  # beside the worktree, not in it
        assert head_env["PATH"].startswith(str(venv_dir / "bin") + os.pathsep)
        probe = "import sys, localpkg; print(localpkg.MARK, sys.prefix)"
        seen = subprocess.run(["python", "-c", probe], env=head_env, capture_output=True, text=True)
        assert seen.stdout.split() == ["installed", str(venv_dir)], seen.stderr
        unseen = subprocess.run(["python", "-c", probe], env=base_env, capture_output=True)
        assert unseen.returncode != 0
        assert "secret-value" not in (trees["head"] / "env.txt").read_text()
        (trees["head"] / "env.txt").unlink()
        assert repo.git("-C", str(trees["head"]), "status", "--porcelain") == ""
    assert not venv_dir.exists()


def test_a_venv_needs_a_worktree_from_checkouts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a worktree from checkouts"):
        workspace.prepare_side(
            "head", tmp_path, setup=None, venv=True, env={}, log_path=tmp_path / "l", timeout_s=9
        )
    assert list(tmp_path.iterdir()) == []


def test_failing_setup_raises_with_its_tail(repo: Repo, tmp_path: Path) -> None:
    with workspace.checkouts(repo.path, {"head": repo.sha()}) as trees:
        with pytest.raises(InfrastructureError) as raised:
            workspace.prepare_side(
                "head", trees["head"], setup="echo installing; echo broken >&2; exit 1",
                venv=False, env=dict(os.environ), log_path=tmp_path / "s.log", timeout_s=60,
            )  # fmt: skip
        assert str(raised.value).startswith("setup failed on head (exit 1)")
        assert "installing" in raised.value.log_tail and "broken" in raised.value.log_tail
        assert raised.value.exit_code == 4
        with pytest.raises(InfrastructureError, match="setup failed on head \\(timed out"):
            workspace.prepare_side(
                "head", trees["head"], setup="sleep 30", venv=False, env=dict(os.environ),
                log_path=tmp_path / "t.log", timeout_s=0.5,
            )  # fmt: skip


def test_git_failure_is_infrastructure_trouble_with_gits_words(repo: Repo) -> None:
    with (
        pytest.raises(
            InfrastructureError, match="git .*worktree add.*failed.*0000000000"
        ) as raised,
        workspace.checkouts(repo.path, {"head": "0" * 40}),
    ):
        pass
    assert raised.value.exit_code == 4
    assert worktree_count(repo) == 1


def test_checkouts_work_from_a_thread_that_cannot_own_signals(repo: Repo) -> None:
    seen: list[object] = []

    def use_checkouts() -> None:
        with workspace.checkouts(repo.path, both_sides(repo)) as trees:
            seen.append((trees["head"] / "app.py").read_text())
            seen.append(trees["head"].parent)

    worker = threading.Thread(target=use_checkouts)
    worker.start()
    worker.join(timeout=60)
    assert seen[0] == "VERSION = 2\n"
    assert not Path(seen[1]).exists() and worktree_count(repo) == 1
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_venv_that_cannot_be_made_is_infrastructure_trouble(repo: Repo, tmp_path: Path) -> None:
    with workspace.checkouts(repo.path, {"head": repo.sha()}) as trees:
        (trees["head"].parent / "venv-head").write_text("a file where the venv should go\n")
        with pytest.raises(InfrastructureError, match="setup failed on head: cannot create"):
            workspace.prepare_side(
                "head", trees["head"], setup="true", venv=True, env=dict(os.environ),
                log_path=tmp_path / "v.log", timeout_s=120,
            )  # fmt: skip
    assert (tmp_path / "v.log").read_text() != ""
