"""Containment outside the image: a run as another user, the allow-list, the sweep.

The image's bench users do not exist here; `nobody` stands in for them where the tests
run as root (as CI's container does).  Elsewhere those tests are skipped: an ordinary
user cannot switch users, which is the laptop case docs/action.md describes.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from perfgate import contain
from perfgate.measure.run import RunSpec, measure


def _nobody() -> contain.Account:
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    return contain.Account("nobody", entry.pw_uid, entry.pw_gid, "/nonexistent")


def _run_as(account: contain.Account, code: str, tmp_path: Path) -> tuple[int, str]:
    log = tmp_path / "run.log"
    env = {"PATH": os.defpath, "SECRET_OF_PERFGATE": "do-not-read"}
    python = contain.interpreter_for(account)  # this test's own may be out of its reach
    sample = measure(RunSpec((python, "-c", code), Path("/"), env, 60, log, account))
    return sample.exit_code, log.read_text()


def test_a_run_as_another_user_cannot_read_perfgate_environ_or_its_fds(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PERFGATE_TEST_TOKEN", "ghs_never_seen")
    probe = (
        f"import os\nfor path in ('/proc/{os.getpid()}/environ', '/proc/{os.getpid()}/fd/1'):\n"
        "    try:\n"
        "        open(path, 'rb').read(1)\n"
        "        print('READ', path)\n"
        "    except OSError as error:\n"
        "        print('DENIED', path, error.errno)\n"
        "print('uid', os.getuid(), os.geteuid(), os.getgroups())\n"
    )
    account = _nobody()
    code, log = _run_as(account, probe, tmp_path)
    assert code == 0, log
    assert "READ" not in log and log.count("DENIED") == 2, log
    assert f"uid {account.uid} {account.uid} []" in log


def test_every_process_of_the_account_is_gone_after_its_run(tmp_path: Path) -> None:
    account = _nobody()
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        print('daemon', os.getpid(), flush=True)\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "time.sleep(0.3)\n"
    )
    code, log = _run_as(account, daemon, tmp_path)
    assert code == 0, log
    pid = int(log.split("daemon")[1].split()[0])
    alive = Path(f"/proc/{pid}/stat")
    assert not alive.exists() or alive.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    owned = [p for p in os.listdir("/proc") if p.isdigit() and _uid_of(p) == account.uid]
    assert owned == []


def _uid_of(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def test_hand_over_gives_the_tree_and_a_way_through_its_parent(tmp_path: Path) -> None:
    account = _nobody()
    tree = tmp_path / "private" / "side"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("x = 1\n")
    (tree / "link").symlink_to("/etc/passwd")
    os.chmod(tree.parent, 0o700)
    contain.hand_over(tree, account)
    owners = {
        p.lstat().st_uid for p in (tree, tree / "pkg", tree / "pkg" / "mod.py", tree / "link")
    }
    assert owners == {account.uid}
    assert stat.S_IMODE(tree.parent.stat().st_mode) == 0o711
    assert Path("/etc/passwd").stat().st_uid == 0  # the symlink's target was not followed


def test_with_an_account_the_environment_is_its_own() -> None:
    account = contain.Account("perfgate-head", 998, 998, "/home/perfgate-head")
    environ = {"PATH": "/usr/bin", "HOME": "/github/home", "USER": "root", "TERM": "xterm",
               "LC_ALL": "C.UTF-8", "JOB_DATA_DIR": "/home/runner/work/_temp"}  # fmt: skip
    assert contain.measured_env(environ, account) == {
        "PATH": "/usr/bin", "HOME": "/home/perfgate-head", "USER": "perfgate-head",
        "LOGNAME": "perfgate-head", "TERM": "xterm", "LC_ALL": "C.UTF-8",
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
    }  # fmt: skip


def test_no_account_without_root_or_without_the_bench_user() -> None:
    try:
        pwd.getpwnam("perfgate-head")
        has_user = True
    except KeyError:
        has_user = False
    expected_some = os.geteuid() == 0 and has_user
    assert (contain.account_for("head") is not None) == expected_some
    assert contain.popen_options(None) == {}


def test_ci_is_told_by_github_actions_or_ci() -> None:
    assert contain.in_ci({"GITHUB_ACTIONS": "true"}) and contain.in_ci({"CI": "1"})
    assert not contain.in_ci({"CI": "false"}) and not contain.in_ci({})
