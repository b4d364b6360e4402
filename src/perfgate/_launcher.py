"""Start one benchmark run from a small process and report what it cost.

Run as a script (`python -S -I _launcher.py FD ARGV...`), never imported.  Why a
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


def main() -> None:
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
