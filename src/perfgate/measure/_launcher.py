"""Start one benchmark run from a small process and report what it cost.

Run as `python -S -I -c <this file's text> FD ARGV...` (so that a bench user need
not reach perfgate's files), never imported.  Why a
launcher at all: Linux keeps, in `ru_maxrss`, the memory high-water mark of
the process that forked the command (its address space is the command's
until exec).  Forked straight from perfgate (30 MB; 120 MB under a test
runner with scipy loaded), every command would report at least that much.
Forked from this tiny interpreter, a command reports its own peak, or about
8 MB when it is smaller than that.

Protocol, on file descriptor FD: `pid N` once the command started (or
`error CODE` when it could not), then `done STATUS WALL USER SYSTEM MAXRSS`.
"""

import os
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38


def keep_private() -> None:
    """Keep the report pipe the launcher's alone, and the run from gaining privileges.

    The command runs as the same user as this launcher: without this, it could open
    /proc/<launcher>/fd/FD and write a forged `done` line (a run of 1 ms).  A process
    that is not dumpable has its /proc entries owned by root.  The command's own
    processes are dumpable again (exec resets it) so debuggers and profilers work.
    No new privileges: a set-user-ID program cannot make the run root again.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):  # pragma: no cover - a Python without ctypes
        pass


def main() -> None:
    keep_private()
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)
    report = os.fdopen(fd, "w")
    argv = sys.argv[2:]
    started = time.monotonic()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as error:
        sys.stderr.write(f"perfgate: cannot start {argv[0]!r}: {error.strerror}\n")
        code = 126 if isinstance(error, PermissionError) else 127
        report.write(f"error {code}\n")
        return
    report.write(f"pid {pid}\n")
    report.flush()
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    report.write(
        f"done {status} {wall!r} {usage.ru_utime!r} {usage.ru_stime!r} {usage.ru_maxrss}\n"
    )
    report.flush()


main()
