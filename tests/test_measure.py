"""One run, measured: real subprocesses, process trees, timeouts.  No timed assertions."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from perfgate.measure.run import RunSpec, _Descendants, _SessionMembers, log_tail, measure

PY = sys.executable
MB = 1024 * 1024

HOLD = "import time, sys; x = bytearray(b'\\x01') * ({mb} * 1024 * 1024); time.sleep({s})"


def gone(pid: int) -> bool:
    """Whether `pid` is dead (or a zombie), allowing the kernel a moment to deliver SIGKILL."""
    for _ in range(200):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def spec(tmp_path: Path, *argv: str, timeout: float = 60) -> RunSpec:
    return RunSpec(tuple(argv), tmp_path, dict(os.environ), timeout, tmp_path / "run.log")


def test_tree_peak_sums_children_while_maxrss_shows_the_largest(tmp_path: Path) -> None:
    # Two children hold 70 MB and 60 MB at the same time; the parent waits for both.
    parent = (
        "import subprocess, sys\n"
        f"a = subprocess.Popen([sys.executable, '-c', {HOLD.format(mb=70, s=1.0)!r}])\n"
        f"b = subprocess.Popen([sys.executable, '-c', {HOLD.format(mb=60, s=1.0)!r}])\n"
        "a.wait(); b.wait()\n"
    )
    sample = measure(spec(tmp_path, PY, "-c", parent), order=3)
    assert sample.exit_code == 0 and sample.order == 3
    assert sample.tree_peak_rss_bytes >= 130 * MB
    assert sample.max_rss_bytes >= 70 * MB
    # ru_maxrss is one process's peak: the tree holds at least the other child more.
    assert sample.tree_peak_rss_bytes >= sample.max_rss_bytes + 55 * MB


def test_hanging_command_and_its_children_are_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    sample = measure(spec(tmp_path, "sh", "-c", script, timeout=1.0))
    assert sample.timed_out and not sample.ok
    child = int(pid_file.read_text())
    assert gone(child)
    assert "killed after the timeout" in log_tail(tmp_path / "run.log")


def test_leftover_background_processes_are_killed_after_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    sample = measure(spec(tmp_path, "sh", "-c", f"sleep 300 & echo $! > {pid_file}"))
    assert sample.ok
    child = int(pid_file.read_text())
    assert gone(child)


def test_exit_codes_and_signals_are_recorded(tmp_path: Path) -> None:
    assert measure(spec(tmp_path, "sh", "-c", "exit 7")).exit_code == 7
    killed = measure(spec(tmp_path, "sh", "-c", "kill -9 $$"))
    assert killed.exit_code == -9 and not killed.ok


def test_cpu_time_of_a_busy_child_is_counted(tmp_path: Path) -> None:
    busy = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'sum(range(30_000_000))'])"
    )
    sample = measure(spec(tmp_path, PY, "-c", busy))
    assert sample.cpu_s > 0.2
    assert sample.cpu_s == sample.user_s + sample.system_s
    assert sample.wall_s >= sample.cpu_s * 0.5


def test_output_goes_to_the_log_not_the_terminal(tmp_path: Path, capfd) -> None:
    sample = measure(spec(tmp_path, "sh", "-c", "echo to-out; echo to-err >&2"))
    assert sample.ok
    log = (tmp_path / "run.log").read_text()
    assert "to-out" in log and "to-err" in log
    captured = capfd.readouterr()
    assert "to-out" not in captured.out + captured.err


def test_a_command_that_cannot_start_is_a_failed_run(tmp_path: Path) -> None:
    missing = measure(spec(tmp_path, "no-such-program-perfgate"))
    assert missing.exit_code == 127 and not missing.ok
    assert "cannot start" in log_tail(tmp_path / "run.log")
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    denied = measure(spec(tmp_path, str(script)))
    assert denied.exit_code == 126


def test_log_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)) + "\n")
    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""


def test_interrupting_perfgate_stops_the_run_it_was_measuring(tmp_path: Path) -> None:
    """The run has a session of its own, so Ctrl-C does not reach it: perfgate must stop it."""
    pid_file = tmp_path / "run.pid"
    driver = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from perfgate.measure.run import RunSpec, measure
        spec = RunSpec(("sh", "-c", "echo $$ > {pid_file}; sleep 300"), Path("."),
                       dict(os.environ), 600, Path({str(tmp_path / "r.log")!r}))
        measure(spec)
        """
    )
    process = subprocess.Popen([PY, "-c", driver], stderr=subprocess.PIPE)
    for _ in range(600):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    run_pid = int(pid_file.read_text())
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    assert process.returncode != 0
    assert gone(run_pid)


def test_ru_maxrss_is_the_commands_own_not_perfgates(tmp_path: Path) -> None:
    """A process forked from perfgate would inherit perfgate's high-water mark in ru_maxrss;
    the launcher keeps a small command's figure small even when perfgate is large."""
    ballast = bytearray(b"\x01") * (150 * MB)  # perfgate's own memory, made large
    sample = measure(spec(tmp_path, "true"))
    assert len(ballast) == 150 * MB
    assert sample.ok
    assert sample.max_rss_bytes < 40 * MB


def test_agrees_with_gnu_time_for_a_single_process(tmp_path: Path) -> None:
    """Peak memory of one process as /usr/bin/time -v reports it (when it is installed)."""
    gnu_time = shutil.which("time", path="/usr/bin")
    if gnu_time is None:
        pytest.skip("GNU time (/usr/bin/time) is not installed")
    code = "x = bytearray(b'\\x01') * (60 * 1024 * 1024)"
    ours = measure(spec(tmp_path, PY, "-c", code)).max_rss_bytes
    out = subprocess.run([gnu_time, "-f", "%M", PY, "-c", code], capture_output=True, text=True)
    theirs = int(out.stderr.strip().splitlines()[-1]) * 1024
    assert abs(ours - theirs) / theirs < 0.03


def test_an_orphaned_process_of_the_run_still_counts_and_is_killed(tmp_path: Path) -> None:
    """A double fork leaves a process that is no descendant of the command any more
    (a daemonizing test server): it is still the run's memory and must not outlive it."""
    pid_file, ready = tmp_path / "orphan.pid", tmp_path / "ready"
    hold = f"{HOLD.format(mb=80, s=0)}; open({str(ready)!r}, 'w'); time.sleep(300)"
    orphan = f'( {PY} -c "{hold}" & echo $! > {pid_file} )'
    script = f"{orphan}; while [ ! -e {ready} ]; do sleep 0.05; done; sleep 0.3"
    sample = measure(spec(tmp_path, "sh", "-c", script))
    assert sample.ok
    # The command's own processes are small; the orphan held 80 MB while they ran.
    assert sample.max_rss_bytes < 60 * MB
    assert sample.tree_peak_rss_bytes >= 80 * MB
    assert gone(int(pid_file.read_text()))


@pytest.mark.parametrize("members", [_SessionMembers, _Descendants])
def test_both_ways_of_finding_the_tree_see_a_grandchild(members, tmp_path: Path) -> None:
    """The /proc session reader (Linux) and the psutil walk (macOS) agree on a real tree."""
    ready = tmp_path / "ready"
    grandchild = f"{HOLD.format(mb=70, s=0)}; open({str(ready)!r}, 'w'); time.sleep(300)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    process = subprocess.Popen([PY, "-c", child], start_new_session=True)
    try:
        for _ in range(600):
            if ready.exists():
                break
            time.sleep(0.05)
        tree = members(process.pid)
        assert tree.rss_bytes() >= 70 * MB
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_a_job_in_a_process_group_of_its_own_is_killed_too(ending: str, tmp_path: Path) -> None:
    """A shell with job control gives each background job its own process group, which
    killpg misses; the job is still in the run's session, and the session is swept."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    pid_file = tmp_path / "job.pid"
    script = f"set -m; sleep 300 & echo $! > {pid_file}"
    if ending == "times out":
        script += "; wait"
    timeout = 1.0 if ending == "times out" else 60
    sample = measure(spec(tmp_path, "bash", "-c", script, timeout=timeout))
    assert sample.timed_out == (ending == "times out")
    job = int(pid_file.read_text())
    assert gone(job)
