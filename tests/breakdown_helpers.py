"""Generated pytest projects and real pytest runs, for the plugin and breakdown tests.

Every run is a real `python -m pytest` subprocess of this virtualenv, in a
project folder under tmp_path, so the plugin is loaded through its pytest11
entry point exactly as a user's run would load it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from perfgate.pytest_plugin import ENV_VAR

MIB = 2**20


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def pytest_env() -> dict[str, str]:
    """The environment of a run: ours, without a stray switch for the plugin."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR and not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_pytest(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env if env is not None else pytest_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def fifty_tests(slow_index: int = -1, slow_s: float = 0.0, hungry_index: int = -1) -> str:
    """Fifty tiny tests; one may sleep `slow_s`, one may hold 30 MB at its peak."""
    lines = ["import time", ""]
    for i in range(50):
        body = "    assert sum(range(100)) == 4950\n"
        if i == slow_index:
            body += f"    time.sleep({slow_s})\n"
        if i == hungry_index:
            body += f"    blob = b'x' * {30 * MIB}\n    assert len(blob) == {30 * MIB}\n"
        lines.append(f"def test_{i:02d}():\n{body}")
    return "\n".join(lines)


def leaky_suite(leak: bool) -> dict[str, str]:
    """Twenty tests; with `leak`, a fixture used by tests 5..12 keeps 3 MB each for good."""
    keep = f"    _kept.append(b'x' * {3 * MIB})\n" if leak else ""
    conftest = (
        "import pytest\n\n_kept = []\n\n@pytest.fixture\ndef pool():\n"
        + keep
        + ("    yield object()\n")
    )
    tests = [
        f"def test_{i:02d}({'pool' if 5 <= i <= 12 else ''}):\n    assert True\n" for i in range(20)
    ]
    return {"conftest.py": conftest, "test_pool.py": "\n".join(tests)}


#: A package whose module holds 8 MB at import: loaded twice, it costs 8 MB more.
UTIL_BYTES = 8_000_000


def story_suite(planted: bool) -> dict[str, str]:
    """Three of the seed's problems, each in its own test file; `planted`: head's version.

    Head's conftest puts `src/calc` on sys.path (so `util` and `calc.util` are one
    file loaded twice), its `pool` fixture starts 4 worker threads and a socket
    listening on 127.0.0.1 and never stops them, and each test of test_loops.py
    creates an event loop it never closes (kept, as a loop cache would).  Base
    does the same work and cleans up.
    """
    conftest = f"""\
import pathlib
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

PLANTED = {planted}
if PLANTED:
    sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "src" / "calc"))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "src"))
_kept = []


@pytest.fixture
def pool():
    executor = ThreadPoolExecutor(4)
    barrier = threading.Barrier(4)  # four tasks that wait for each other need four threads
    assert len(list(executor.map(lambda _: barrier.wait(), range(4)))) == 4
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield executor
    if PLANTED:
        _kept.append((executor, server))
    else:
        executor.shutdown()
        server.close()
"""
    loops = f"""\
import asyncio

_loops = []


async def answer():
    return 42


def run_once():
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(answer()) == 42
    if {planted}:
        _loops.append(loop)
    else:
        loop.close()


def test_loop_a():
    run_once()


def test_loop_b():
    run_once()
"""
    uses_util = "import util\n\n" if planted else ""
    return {
        "src/calc/__init__.py": "",
        "src/calc/util.py": f"TABLE = bytearray({UTIL_BYTES})\n",
        "tests/conftest.py": conftest,
        "tests/test_pool.py": "def test_connect(pool):\n    assert pool is not None\n",
        "tests/test_loops.py": loops,
        "tests/test_util.py": (
            "import calc.util\n" + uses_util + "\n\ndef test_table():\n"
            "    assert len(calc.util.TABLE) == " + str(UTIL_BYTES) + "\n"
        ),
        "tests/test_clean.py": "def test_nothing_left():\n    assert True\n",
    }
