"""One run of the benchmark: its own process group, a timeout, and what it cost.

Why each figure comes from where it does:

- wall time from `time.monotonic()`: the wall clock may be stepped by NTP
  in the middle of a run;
- CPU time and `ru_maxrss` from `os.wait4()` of the child: the kernel has
  already added every descendant the child waited for, so nothing sampled can
  beat it for CPU, and `ru_maxrss` is the exact peak of the largest process;
- the tree peak sampled every few ms from /proc (psutil where there is no
  /proc): the kernel keeps no peak for the sum of a process tree, and a suite
  with worker processes is as hungry as all of them at once.  Sampling can
  miss a spike shorter than its period, so the tree peak is never reported
  below `ru_maxrss`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from .. import contain
from ..results import Sample

#: Seconds between two samples of the tree's memory.  Short enough to see a
#: fixture that holds memory for a few milliseconds, long enough to cost
#: almost nothing (one /proc read per process per period).
SAMPLE_PERIOD_S = 0.005
#: Seconds a timed-out group gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 1.0
#: ru_maxrss is in KiB on Linux and in bytes on macOS.
MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
PROC = "/proc"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class RunSpec:
    """How to start one run; its output goes to `log_path`, never to the terminal."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    timeout_s: float
    log_path: Path
    #: The unprivileged user the run starts as (contain.account_for); None: perfgate's own.
    account: contain.Account | None = None


def _proc_pids() -> set[int]:
    return {int(name) for name in os.listdir(PROC) if name.isdigit()}


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """The state letter and session id of `pid` from /proc/PID/stat; None once it is gone."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[3])  # state, ppid, pgrp, session
    except (OSError, IndexError, ValueError):
        return None


def _proc_rss_bytes(pid: int) -> int:
    try:
        with open(f"{PROC}/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0  # gone between listing and reading: it holds nothing now


class _SessionMembers:
    """The processes of the run's session, found by reading /proc (Linux).

    Why not psutil's children(recursive=True): it reads the stat file of every
    process on the machine at each call (0.7 ms for 80 processes, far more on a
    busy runner), which at one sample every 5 ms would steal a sixth of a core
    from the benchmark.  Here each sample lists /proc (25 us) and reads the stat
    of new pids only.  The session also keeps a process that was orphaned
    (double fork, a daemonizing test server), which a walk down from the command
    misses; only a process that calls setsid() escapes, as it escapes the kill.
    """

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        self._membership: dict[int, bool] = {}

    def rss_bytes(self) -> int:
        pids = _proc_pids()
        for gone in self._membership.keys() - pids:
            del self._membership[gone]
        for pid in pids - self._membership.keys():
            stat = _proc_stat(pid)
            self._membership[pid] = stat is not None and stat[1] == self.session_id
        # The launcher leads the session; its few MB are perfgate's, not the command's.
        return sum(
            _proc_rss_bytes(pid)
            for pid, member in self._membership.items()
            if member and pid != self.session_id
        )


class _Descendants:
    """The launcher's descendants through psutil, where there is no /proc (macOS)."""

    def __init__(self, launcher_pid: int) -> None:
        try:
            self._root: psutil.Process | None = psutil.Process(launcher_pid)
        except psutil.Error:
            self._root = None
        self._known: dict[int, psutil.Process] = {}

    def rss_bytes(self) -> int:
        if self._root is None:
            return 0
        try:
            for child in self._root.children(recursive=True):
                self._known.setdefault(child.pid, child)
        except psutil.Error:
            pass
        total = 0
        for pid, process in list(self._known.items()):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                del self._known[pid]  # gone between listing and reading
        return total


class _TreeSampler(threading.Thread):
    """Sums the resident memory of every process of the run, keeping the peak."""

    def __init__(self, launcher_pid: int) -> None:
        super().__init__(daemon=True)
        self.peak_bytes = 0
        self._stop_event = threading.Event()
        self._members = (
            _SessionMembers(launcher_pid) if os.path.isdir(PROC) else _Descendants(launcher_pid)
        )

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_bytes = max(self.peak_bytes, self._members.rss_bytes())
            self._stop_event.wait(SAMPLE_PERIOD_S)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


LAUNCHER = Path(__file__).with_name("_launcher.py")


@functools.cache
def _launcher_source() -> str:
    """The launcher as `-c` text: run as a bench user, it need not reach perfgate's files."""
    return LAUNCHER.read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Report:
    """What the launcher said about the command: its figures, or why it never ran."""

    start_error: int | None = None
    status: int = 0
    wall_s: float = 0.0
    user_s: float = 0.0
    system_s: float = 0.0
    maxrss: int = 0
    finished: bool = False


def measure(spec: RunSpec, order: int = -1) -> Sample:
    """Run `spec` once and measure it.  Never raises for a failing command.

    The command is started by `_launcher.py`, a tiny interpreter in a session
    of its own (so the timeout can kill the whole group), which times it and
    reports its rusage; see that module for why.
    """
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    _adopt_orphans()
    known_children = contain.own_children()
    read_fd, write_fd = os.pipe()
    with open(spec.log_path, "wb") as log, os.fdopen(read_fd, "r") as reports:
        try:
            launcher = subprocess.Popen(
                [
                    contain.interpreter_for(spec.account),
                    "-S",
                    "-I",
                    "-c",
                    _launcher_source(),
                    str(write_fd),
                    *spec.argv,
                ],  # fmt: skip
                cwd=spec.cwd,
                env=dict(spec.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(write_fd,),
                **contain.popen_options(spec.account),  # type: ignore[arg-type]
            )
        except OSError as error:
            log.write(f"perfgate: cannot start {spec.argv[0]!r}: {error.strerror}\n".encode())
            return _not_started(126 if isinstance(error, PermissionError) else 127, order)
        finally:
            os.close(write_fd)
        started = time.monotonic()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _terminate_run(launcher.pid)

        timer = threading.Timer(spec.timeout_s, expire)
        timer.daemon = True
        timer.start()
        sampler = _TreeSampler(launcher.pid)
        sampler.start()
        try:
            report = _parse(reports.readline().split(), reports.readline().split())
            _, launcher_status, launcher_usage = os.wait4(launcher.pid, 0)
            launcher.returncode = os.waitstatus_to_exitcode(launcher_status)
            wall_s = time.monotonic() - started
        except BaseException:
            # Ctrl-C or SIGTERM reached us, not the run: it has a session of its own,
            # so it is ours to stop before the exception unwinds the worktrees under it.
            _kill_run(launcher.pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(launcher.pid, 0)
            launcher.returncode = -signal.SIGKILL
            contain.sweep(spec.account, known_children)
            raise
        finally:
            timer.cancel()
            sampler.stop()
        timed_out = expired.is_set()
        _kill_run(launcher.pid)  # leftovers must not run into the next run
        contain.sweep(spec.account, known_children)  # daemons that left the session too
    if report.start_error is not None:
        return _not_started(report.start_error, order)
    if not report.finished:
        # Killed (timeout, or a signal to the group) before the launcher could report:
        # what is known comes from perfgate's own clock and wait4 of the launcher.
        with open(spec.log_path, "ab") as log:
            if timed_out:
                log.write(
                    f"\nperfgate: killed after the timeout of {spec.timeout_s:g} s\n".encode()
                )
        report = _Report(
            status=launcher_status,
            wall_s=wall_s,
            user_s=launcher_usage.ru_utime,
            system_s=launcher_usage.ru_stime,
            maxrss=launcher_usage.ru_maxrss,
        )
    max_rss = int(report.maxrss) * MAXRSS_UNIT
    tree_peak = sampler.peak_bytes
    return Sample(
        wall_s=report.wall_s,
        cpu_s=report.user_s + report.system_s,
        max_rss_bytes=max_rss,
        tree_peak_rss_bytes=max(tree_peak, max_rss),
        exit_code=os.waitstatus_to_exitcode(report.status),
        order=order,
        user_s=report.user_s,
        system_s=report.system_s,
        timed_out=timed_out,
    )


_subreaper: list[bool] = []


def _adopt_orphans() -> None:
    """Once per process: become the subreaper of every run (see contain.sweep)."""
    if not _subreaper:
        _subreaper.append(contain.become_subreaper())


def _parse(first: list[str], second: list[str]) -> _Report:
    if first[:1] == ["error"]:
        return _Report(start_error=int(first[1]))
    if second[:1] != ["done"] or len(second) != 6:
        return _Report()
    status, wall, user, system, maxrss = second[1:]
    return _Report(
        status=int(status),
        wall_s=float(wall),
        user_s=float(user),
        system_s=float(system),
        maxrss=int(maxrss),
        finished=True,
    )


def describe_exit(code: int) -> str:
    """An exit code as words: a signal is named, SIGKILL with its usual causes."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"was killed by signal {-code}"
    if -code == signal.SIGKILL:
        return f"was killed by {name} (out of memory, or killed)"
    return f"was killed by {name}"


def _not_started(code: int, order: int) -> Sample:
    return Sample(0.0, 0.0, 0, 0, exit_code=code, order=order)


def _terminate_run(session_id: int) -> None:
    """SIGTERM the run, give it a moment to clean up, then SIGKILL what is left."""
    _signal_run(session_id, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline and _run_alive(session_id):
        time.sleep(0.02)
    _kill_run(session_id)


def _kill_run(session_id: int) -> None:
    _signal_run(session_id, signal.SIGKILL)


def _signal_run(session_id: int, signum: int) -> None:
    """Signal the launcher's process group, and every other process of its session.

    The group is the launcher and whatever did not move; a shell with job
    control (`set -m`) puts each background job in a group of its own, still
    in the session, where only the /proc sweep finds it.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session_id, signum)
    for pid in _session_pids(session_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _run_alive(session_id: int) -> bool:
    try:
        os.killpg(session_id, 0)
    except (ProcessLookupError, PermissionError):
        return bool(_session_pids(session_id))
    return True


def _session_pids(session_id: int) -> list[int]:
    """The live (not zombie) processes of a session; none known where there is no /proc."""
    if not os.path.isdir(PROC):
        return []
    found = []
    for pid in _proc_pids():
        stat = _proc_stat(pid)
        if stat is not None and stat[1] == session_id and stat[0] != "Z":
            found.append(pid)
    return found


#: How much of the end of a log `log_tail` reads: a failing run may print gigabytes.
TAIL_BYTES = 64 * 1024


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a run's log, for messages about a failed run.

    Only the last TAIL_BYTES are read, whatever the log's size.
    """
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - TAIL_BYTES))
            data = log.read(TAIL_BYTES)
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = text.rstrip("\n").splitlines()
    if size > TAIL_BYTES and kept:
        kept = kept[1:]  # the first line read is most likely cut
    return "\n".join(kept[-lines:])
