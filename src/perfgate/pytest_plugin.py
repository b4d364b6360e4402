"""Per-test time and memory for perfgate: a pytest plugin that only watches.

Switched on by ``--perfgate-json PATH`` or by the environment variable
``PERFGATE_PYTEST_JSON=PATH`` (so the gate can switch it on without touching
the user's command).  Switched off, it only registers its option.  Switched
on, it records for every test the wall time of setup, call and teardown
(pytest's own ``time.perf_counter`` duration of each phase), the resident
memory before it, the peak during it and the resident memory after it, and
writes one JSON document (schema ``perfgate-pytest/1``, described in
docs/breakdown.md, JSON Schema in docs/perfgate-pytest-1.schema.json) when
the session ends.

It must be harmless: it never prints, never reorders, never skips, never
turns a pass into a failure.  Every probe that could fail (a /proc file that
is not there) falls back quietly, and the only thing written is the JSON file.

Why /proc: on Linux ``/proc/self/clear_refs`` (write ``5``) resets the
process's high-water mark of resident memory, so ``VmHWM`` read after a test
is the peak *during that test*.  Elsewhere (or where /proc is locked down)
the fallback is ``ru_maxrss``, which only ever grows: a test's peak is then
known only when it is the highest so far, and the document says so
(``memory_method: "ru_maxrss"``).  Resetting the high-water mark has one side
effect, documented in docs/breakdown.md: ``ru_maxrss`` of the pytest process
seen from outside (``wait4``) then covers only the time since the last
reset; the document carries the session's true peak as
``session.peak_rss_bytes``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .module_copies import duplicated_modules
from .plugin_contract import ENV_VAR, MEMORY_ENV_VAR, RESOURCES_ENV_VAR, SCHEMA

# MEMORY_ENV_VAR: "auto" (default: vmhwm where it works), "ru_maxrss" (never reset the
# process's peak, e.g. when its ru_maxrss seen from outside must stay whole) or "none".


# --- Memory probes ---------------------------------------------------------------------------


class ProcMemory:
    """Linux: resettable peak (VmHWM) and current RSS from /proc/self, through kept-open files.

    The files are opened once and re-read with ``pread`` at offset 0, which
    makes the kernel regenerate them: a probe costs a few microseconds, so a
    thousand tiny tests do not pay for the watching.
    """

    method = "vmhwm"

    def __init__(self) -> None:
        self._status = os.open("/proc/self/status", os.O_RDONLY)
        self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            self._clear = os.open("/proc/self/clear_refs", os.O_WRONLY)
        except OSError:
            self.close()
            raise
        self._page_bytes = os.sysconf("SC_PAGE_SIZE")
        # The peak of start-up and imports, before the first reset loses it.
        self.session_peak = 0
        self.peak_and_rss()

    def rss(self) -> int:
        """Current RSS from statm: a fifth of the cost of status."""
        return int(os.pread(self._statm, 256, 0).split()[1]) * self._page_bytes

    def reset_peak(self) -> int:
        """Start a new peak; returns the current RSS (the new peak's floor)."""
        os.write(self._clear, b"5")
        return self.rss()

    def peak_and_rss(self) -> tuple[int, int]:
        data = os.pread(self._status, 8192, 0)
        peak = _kib_field(data, b"VmHWM:") * 1024
        self.session_peak = max(self.session_peak, peak)
        return peak, _kib_field(data, b"VmRSS:") * 1024

    def close(self) -> None:
        for name in ("_status", "_statm", "_clear"):
            if hasattr(self, name):
                with contextlib.suppress(OSError):
                    os.close(getattr(self, name))


def _kib_field(data: bytes, key: bytes) -> int:
    start = data.index(key) + len(key)
    return int(data[start : data.index(b"kB", start)])


class MaxRssMemory:
    """Elsewhere: ru_maxrss (never resettable) and psutil's RSS.

    The "peak" of a test is the process's peak so far, so only a test that
    sets a new record shows its own peak; the breakdown treats such data as
    weaker evidence (docs/breakdown.md).
    """

    method = "ru_maxrss"

    def __init__(self) -> None:
        import resource

        import psutil

        self._resource = resource
        self._process = psutil.Process()
        # Linux and BSDs report KiB, macOS bytes.
        self._scale = 1 if sys.platform == "darwin" else 1024
        self.session_peak = 0

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def reset_peak(self) -> int:
        return self.rss()

    def peak_and_rss(self) -> tuple[int, int]:
        peak = self._resource.getrusage(self._resource.RUSAGE_SELF).ru_maxrss * self._scale
        self.session_peak = max(self.session_peak, peak)
        return peak, self.rss()

    def close(self) -> None:
        pass


def open_memory_probe(method: str = "auto") -> ProcMemory | MaxRssMemory | None:
    """The best probe this platform allows, or the one asked for; None: no memory figures."""
    if method == "none":
        return None
    if method != "ru_maxrss":
        try:
            return ProcMemory()
        except (OSError, ValueError):
            pass
    try:
        return MaxRssMemory()
    except Exception:  # noqa: BLE001 - no probe is better than a broken test run
        return None


# --- What a test leaves behind ----------------------------------------------------------------

#: The most new file descriptors looked at after one test (each costs a readlink).
MAX_NEW_FDS = 64


class ResourceProbe:
    """Linux: threads, child processes and open file descriptors, cheaply, after each test.

    Each test pays for three counts: ``threading.active_count()``, one
    ``pread`` of the main thread's ``children`` file and one ``fstat`` of
    ``/proc/self/fd`` (whose size is the number of open descriptors since
    Linux 6.2; older kernels: a listing).  Only when a count changed does the
    probe look closer (which threads, which descriptors and of what kind), so
    a suite that leaves nothing behind pays a few microseconds a test.
    What a test left is what is alive after its teardown and was not before
    its setup; a resource that a later test closes is charged to the test
    that opened it, and the cheap counts miss a test that closes one thing
    and opens another of the same kind.

    Event loops are counted without the garbage collector: an unclosed
    selector event loop (asyncio's default on Linux, uvloop too) holds an
    epoll descriptor and a socket pair, its self-pipe.  Every new epoll
    descriptor is a loop (any selector left open looks the same), and two
    Unix sockets per loop are its own, not counted again as sockets.
    """

    method = "proc"

    def __init__(self) -> None:
        self._fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        try:
            # The thread that runs the tests: pytest's main thread.
            native = threading.get_native_id()
            self._children = os.open(f"/proc/self/task/{native}/children", os.O_RDONLY)
        except OSError:
            self.close()
            raise
        self._sized = os.fstat(self._fd_dir).st_size > 0
        self._threads = self._thread_ids()
        self._pids = self._read_children()
        self._fds = self._fd_count()
        self._fd_names = self._fd_listing()

    def _thread_ids(self) -> set[int]:
        return {t.ident for t in threading.enumerate() if t.ident is not None}

    def _read_children(self) -> bytes:
        return os.pread(self._children, 65536, 0)

    def _fd_count(self) -> int:
        if self._sized:
            return os.fstat(self._fd_dir).st_size
        return len(os.listdir(self._fd_dir))

    def _fd_listing(self) -> set[str]:
        names = set(os.listdir(self._fd_dir))
        return {n for n in names if os.path.lexists(f"/proc/self/fd/{n}")}

    def refresh(self) -> None:
        """Take the current state as the next test's "before" (after collection, say)."""
        self._threads = self._thread_ids()
        self._pids = self._read_children()
        self._fds = self._fd_count()
        self._fd_names = self._fd_listing()

    def left_behind(self) -> dict[str, int] | None:
        """What is alive now and was not at the last look; None when nothing is."""
        left: dict[str, int] = {}
        if threading.active_count() != len(self._threads):
            now = self._thread_ids()
            left["threads"] = len(now - self._threads)
            self._threads = now
        pids = self._read_children()
        if pids != self._pids:
            left["processes"] = len(set(pids.split()) - set(self._pids.split()))
            self._pids = pids
        fds = self._fd_count()
        if fds != self._fds:
            self._fds = fds
            names = self._fd_listing()
            left.update(_fd_kinds(sorted(names - self._fd_names, key=int)[:MAX_NEW_FDS]))
            self._fd_names = names
        left = {kind: count for kind, count in left.items() if count > 0}
        return left or None

    def close(self) -> None:
        for name in ("_fd_dir", "_children"):
            if hasattr(self, name):
                with contextlib.suppress(OSError):
                    os.close(getattr(self, name))


def _fd_kinds(fds: list[str]) -> dict[str, int]:
    """New descriptors by kind: event loops (epoll), sockets (a loop's self-pipe left out),
    and the rest (files, pipes) as fds."""
    loops = unix = sockets = other = 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        if target == "anon_inode:[eventpoll]":
            loops += 1
        elif target.startswith("socket:"):
            if _socket_family(int(fd)) == socket.AF_UNIX:
                unix += 1
            else:
                sockets += 1
        else:
            other += 1
    sockets += max(0, unix - 2 * loops)
    return {"event_loops": loops, "sockets": sockets, "fds": other}


def _socket_family(fd: int) -> int | None:
    """The socket's address family, read from a duplicate (the test's socket is untouched)."""
    try:
        duplicate = os.dup(fd)
    except OSError:
        return None
    try:
        probe = socket.socket(fileno=duplicate)
    except OSError:
        os.close(duplicate)
        return None
    try:
        return probe.family
    finally:
        probe.close()


def open_resource_probe(method: str = "auto") -> ResourceProbe | None:
    """The probe of what tests leave behind, or None (not Linux, /proc locked down, or off)."""
    if method == "none":
        return None
    try:
        return ResourceProbe()
    except (OSError, ValueError):
        return None


# --- The recorder ----------------------------------------------------------------------------


def next_outcome(current: str, when: str, outcome: str, xfail: bool) -> str:
    """The test's outcome so far, updated with one phase's report, as pytest's summary
    would word it (a skip or an expected failure in setup or call, a failure in setup or
    teardown is an error)."""
    if when == "setup":
        if outcome == "failed":
            return "error"
        if outcome == "skipped":
            return "xfailed" if xfail else "skipped"
        return current
    if when == "call":
        if xfail and outcome in ("skipped", "passed"):
            return "xfailed" if outcome == "skipped" else "xpassed"
        return current if outcome == "passed" else outcome
    if outcome == "failed" and current == "passed":
        return "error"
    return current


class Recorder:
    """Collects one record per test and writes the document at the end of the session."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path = path
        self.root = root or Path.cwd()
        self.memory = open_memory_probe(os.environ.get(MEMORY_ENV_VAR, "auto").strip().lower())
        self.resources = open_resource_probe(
            os.environ.get(RESOURCES_ENV_VAR, "auto").strip().lower()
        )
        self.tests: list[dict[str, Any]] = []
        self.session_start = time.perf_counter()
        self.start_rss = self.memory.rss() if self.memory else None
        self.collection_s: float | None = None
        self.collected = 0
        self._current: dict[str, Any] | None = None

    # Collection -------------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session: pytest.Session):  # noqa: ANN201 - a hook wrapper
        started = time.perf_counter()
        yield
        self.collection_s = time.perf_counter() - started
        self.collected = len(getattr(session, "items", ()) or ())
        if self.memory is not None:
            with contextlib.suppress(OSError):
                self.memory.peak_and_rss()  # collection's peak, before the tests reset it
        if self.resources is not None:
            try:  # what collection started (an import's thread) is no test's doing
                self.resources.refresh()
            except OSError:
                self.resources = None

    # One test ---------------------------------------------------------------------------------

    # One test: plain hooks, not wrappers, because each wrapper costs microseconds per test
    # and a thousand tiny tests must not notice the watching.

    def pytest_runtest_logstart(self, nodeid: str, location: tuple) -> None:
        """Before setup: a new record, and a new peak."""
        record: dict[str, Any] = {
            "nodeid": nodeid,
            "index": len(self.tests),
            "outcome": "passed",
            "setup_s": None,
            "call_s": None,
            "teardown_s": None,
            "rss_before_bytes": None,
            "peak_rss_bytes": None,
            "rss_after_bytes": None,
        }
        self._current = record
        if self.memory is not None:
            try:
                record["rss_before_bytes"] = self.memory.reset_peak()
            except OSError:
                self.memory = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Each phase's duration as pytest measured it (time.perf_counter around the phase)."""
        record = self._current
        if record is None or report.nodeid != record["nodeid"]:
            return
        when = report.when
        record[f"{when}_s"] = report.duration
        if report.outcome != "passed" or when == "call":
            xfail = "wasxfail" in report.__dict__
            record["outcome"] = next_outcome(record["outcome"], when, report.outcome, xfail)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple) -> None:
        """After teardown: the peak since logstart, the RSS left behind, the outcome."""
        record = self._current
        if record is None or record["nodeid"] != nodeid:
            return
        if self.memory is not None:
            try:
                record["peak_rss_bytes"], record["rss_after_bytes"] = self.memory.peak_and_rss()
            except OSError:
                self.memory = None
        if self.resources is not None:
            try:
                left = self.resources.left_behind()
            except (OSError, ValueError):
                self.resources = None
            else:
                if left:
                    record["left"] = left
        self.tests.append(record)
        self._current = None

    # The end ----------------------------------------------------------------------------------

    def document(self, exit_status: int) -> dict[str, Any]:
        peak = None
        if self.memory is not None:
            with contextlib.suppress(OSError):
                self.memory.peak_and_rss()
            peak = self.memory.session_peak or None
        return {
            "schema": SCHEMA,
            "python": platform.python_version(),
            "pytest": pytest.__version__,
            "platform": sys.platform,
            "memory_method": self.memory.method if self.memory else "none",
            "resources_method": self.resources.method if self.resources else "none",
            "session": {
                "start_rss_bytes": self.start_rss,
                "peak_rss_bytes": peak,
                "collection_s": self.collection_s,
                "collected": self.collected,
                "wall_s": time.perf_counter() - self.session_start,
                "exit_status": int(exit_status),
            },
            "tests": self.tests,
            "duplicates": self.duplicates(),
        }

    def duplicates(self) -> dict[str, Any] | None:
        """Module files loaded twice under two names by the end of the session."""
        try:
            return duplicated_modules(sys.modules, str(self.root))
        except Exception:  # noqa: BLE001 - the record of the tests matters more
            return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            write_document(self.path, self.document(exitstatus))
        except OSError as exc:  # the suite's result stands; only the record is lost
            sys.stderr.write(f"perfgate: could not write {self.path}: {exc}\n")
        if self.memory is not None:
            self.memory.close()
        if self.resources is not None:
            self.resources.close()


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write atomically, so the gate never reads half a document from a killed run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(partial, path)


# --- pytest's entry points -------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("perfgate", "perfgate per-test breakdown")
    group.addoption(
        "--perfgate-json",
        dest="perfgate_json",
        metavar="PATH",
        default=None,
        help=f"write per-test time and memory to PATH (schema {SCHEMA}); also ${ENV_VAR}",
    )


def requested_path(config: pytest.Config) -> Path | None:
    """Where to write, from the option or the environment; None: stay off."""
    value = config.getoption("perfgate_json", None) or os.environ.get(ENV_VAR, "")
    if not value:
        return None
    path = Path(value)
    worker = getattr(config, "workerinput", None)
    if worker:  # pytest-xdist worker: one document per worker process
        path = path.with_name(f"{path.name}.{worker.get('workerid', 'worker')}")
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    return path


def pytest_configure(config: pytest.Config) -> None:
    path = requested_path(config)
    if path is None:
        return
    try:  # a path that cannot be written is refused now, not after the whole suite ran
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() or not os.access(path.parent, os.W_OK):
            raise OSError("not a writable file path")
    except OSError as exc:
        raise pytest.UsageError(
            f"--perfgate-json / ${ENV_VAR}: cannot write {path}: {exc}"
        ) from exc
    config.pluginmanager.register(Recorder(path, config.rootpath), "perfgate-recorder")
