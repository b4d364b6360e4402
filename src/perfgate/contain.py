"""Containment of the measured code: its own user, an allow-listed environment, no survivors.

The benchmark and `setup` are the pull request's code: hostile by design.  Where
perfgate runs as root and the image's bench users exist (the Action's image), each
side's code runs as an unprivileged user of its own, `perfgate-base` or
`perfgate-head`:

- it cannot read perfgate's memory, environment (`/proc/PID/environ`, where the
  token is) or file descriptors (`/proc/PID/fd/1` is the runner's log): those
  belong to root, and a process of another user may not read them;
- it cannot write perfgate's results, the checkout, the runner's file-command files
  or the docker socket (root's or the runner user's; no supplementary groups);
- the two sides cannot touch each other: each worktree, venv and home belongs to
  its side's user alone.  Two users rather than one user that is handed each tree
  in turn: the runs alternate base, head, base..., and handing over means a chown of
  the whole tree per run and a home, /tmp and caches that both sides share (a
  `sitecustomize.py` in the user site slows the other side's every run).

Every process a run started is gone when it ends, daemons included: perfgate is a
child subreaper (PR_SET_CHILD_SUBREAPER: an orphan, double-forked and `setsid` or
not, becomes perfgate's child, not init's), and after each run the bench user's
every process is killed (`kill(-1, SIGKILL)` sent as that user), the adopted
orphans with them.

Run as an ordinary user (a laptop, `perfgate gate` in a shell), there is no other
user to run as: the benchmark runs as the user, as any test suite would, and only
the environment allow-list and the subreaper apply.  docs/action.md says what
each setting can and cannot stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The unprivileged user of each side; any other side (`perfgate run`) is base's.
SIDE_USERS = {"base": "perfgate-base", "head": "perfgate-head"}
PR_SET_CHILD_SUBREAPER = 36

# The environment the measured code sees is built from these names only.  A job's
# `env:` holds whatever the workflow's author put there (AWS_SECRET_ACCESS_KEY,
# SSH_PRIVATE_KEY, a database URL with its password); no list of bad names can know
# them all, so the list is of good ones.  PERFGATE_PASS_ENV (a comma-separated list
# of names, e.g. `DATABASE_URL,JAVA_HOME`) adds names a benchmark needs; the names
# in NEVER stay out whatever it says.
ALLOWED_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ",
        "TMPDIR", "CI", "COLUMNS", "NO_COLOR", "FORCE_COLOR", "VIRTUAL_ENV",
        "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONUTF8",
        "PYTHONWARNINGS", "PYTHONFAULTHANDLER", "PYTEST_ADDOPTS",
        "SOURCE_DATE_EPOCH", "GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_REF", "GITHUB_REF_NAME",
        "GITHUB_BASE_REF", "GITHUB_HEAD_REF", "GITHUB_REPOSITORY", "GITHUB_EVENT_NAME",
        "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB",
        "GITHUB_WORKFLOW", "GITHUB_SERVER_URL", "RUNNER_OS", "RUNNER_ARCH", "RUNNER_NAME",
        "RUNNER_ENVIRONMENT",
    }
)  # fmt: skip
ALLOWED_PREFIXES = ("LC_",)
#: Never passed, whatever PERFGATE_PASS_ENV says: the token, the runner's credentials,
#: the file-command files, and the action's inputs (one of them is the token).
NEVER_PREFIXES = ("INPUT_", "ACTIONS_")
NEVER_NAMES = frozenset(
    {
        "GITHUB_TOKEN", "GH_TOKEN", "GH_ENTERPRISE_TOKEN", "PERFGATE_GITHUB_TOKEN",
        "GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT", "GITHUB_STATE", "GITHUB_STEP_SUMMARY",
        "GITHUB_EVENT_PATH",
    }
)  # fmt: skip
PASS_ENV = "PERFGATE_PASS_ENV"


@dataclass(frozen=True)
class Account:
    """An unprivileged user that one side's code runs as."""

    name: str
    uid: int
    gid: int
    home: str


def account_for(side: str) -> Account | None:
    """The side's bench user when perfgate can switch to it (root, user present), else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = SIDE_USERS.get(side, SIDE_USERS["base"])
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        return None  # a misconfigured image: refusing to "drop" to root is no drop at all
    return Account(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def popen_options(account: Account | None) -> dict[str, object]:
    """subprocess options that start a process as `account` (none for None).

    No supplementary groups (`extra_groups=[]`): root's groups would carry over, and
    a group such as docker's would open the docker socket.
    """
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": [], "umask": 0o022}


def is_allowed(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether the measured code may see a variable of this name (see ALLOWED_NAMES)."""
    upper = name.upper()
    if upper in NEVER_NAMES or upper.startswith(NEVER_PREFIXES):
        return False
    return upper in ALLOWED_NAMES or upper.startswith(ALLOWED_PREFIXES) or name in extra


def in_ci(environ: Mapping[str, str]) -> bool:
    """A CI job (GitHub Actions, or any that sets CI): secrets live in its environment."""
    return environ.get("GITHUB_ACTIONS") == "true" or environ.get("CI", "").lower() in (
        "true", "1", "yes",
    )  # fmt: skip


def measured_env(environ: Mapping[str, str], account: Account | None = None) -> dict[str, str]:
    """The environment for the measured code: the allowed names of `environ`, and with an
    account its own HOME, USER and LOGNAME, plus `safe.directory` for git (its worktree
    belongs to it, the repository's .git to someone else: git would refuse it)."""
    extra = {n.strip() for n in environ.get(PASS_ENV, "").split(",") if n.strip()}
    env = {name: value for name, value in environ.items() if is_allowed(name, extra)}
    env.setdefault("PATH", os.defpath)
    if account is not None:
        env.update(HOME=account.home, USER=account.name, LOGNAME=account.name)
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")
    return env


def hand_over(path: Path, account: Account | None) -> None:
    """Give `path` (a tree) to `account`, and let it through the folder that holds it.

    The parent (perfgate's private temporary folder, 0700) becomes 0711: the account
    may pass through to its own tree, but not list the folder or enter the other
    side's, which belongs to the other account.
    """
    if account is None:
        return
    os.chmod(path.parent, 0o711)
    os.lchown(path, account.uid, account.gid)
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(folder, name), account.uid, account.gid)


def interpreter_for(account: Account | None) -> str:
    """A Python the account may execute, for perfgate's own helpers run as that user.

    perfgate's interpreter may sit where only its owner can reach it (a pyenv under
    /root); the helpers need nothing but the standard library, so any Python 3 does.
    """
    if account is None:
        return sys.executable
    for candidate in (sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"):
        if _others_can_run(candidate):
            return candidate
    return sys.executable  # the start fails, and says so (exit 126)


def _others_can_run(path: str) -> bool:
    try:
        real = Path(path).resolve(strict=True)
        if not real.stat().st_mode & 0o001:
            return False
        return all(folder.stat().st_mode & 0o001 for folder in real.parents)
    except OSError:
        return False


def become_subreaper() -> bool:
    """Make orphans of perfgate's runs perfgate's children (Linux); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children() -> set[int]:
    """perfgate's child processes (zombies included), from /proc; empty without /proc."""
    me = str(os.getpid())
    found = set()
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1].decode() == me:
            found.add(int(name))
    return found


def kill_account(account: Account) -> None:
    """SIGKILL every process of `account` at once: kill(-1) sent by a process of that user.

    Sent as the user, kill(-1) reaches exactly its processes (and no other user's),
    in one pass the kernel makes with the process list locked: a fork bomb cannot
    outrun it.
    """
    subprocess.run(
        [interpreter_for(account), "-S", "-I", "-c", "import os, signal\nos.kill(-1, 9)"],
        cwd="/",
        env={"PATH": os.defpath},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        **popen_options(account),  # type: ignore[arg-type]
    )


def sweep(account: Account | None, known: set[int]) -> None:
    """After a run: kill what is left of it and reap the orphans perfgate adopted.

    `known` are perfgate's children from before the run: anything else that is
    perfgate's child now was adopted (the subreaper) from the run.  With an account,
    every process of that user goes as well, adopted or not.
    """
    if account is not None:
        kill_account(account)
    for _ in range(100):  # a daemon's own children are adopted when it dies: go again
        strays = own_children() - known
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def run(
    argv: Sequence[str], account: Account | None, **options: Any
) -> subprocess.CompletedProcess:
    """subprocess.run of the side's own code (an import probe), contained like a measured run:
    as `account`, and whatever it leaves running is killed afterwards (`sweep`)."""
    known = own_children()
    try:
        return subprocess.run(list(argv), **options, **popen_options(account))  # type: ignore[call-overload]
    finally:
        sweep(account, known)
