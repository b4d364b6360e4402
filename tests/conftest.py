"""Shared fixtures: the fake GitHub server (tests/github_server.py) for every test module."""

import signal
from collections.abc import Iterator

import pytest
from github_server import github_server  # noqa: F401 - a fixture, found by name


def pytest_configure(config: pytest.Config) -> None:
    """Let the processes the tests start hear Ctrl-C, however the suite itself was started.

    A shell without job control starts `cmd &` with SIGINT ignored, and an ignored
    signal stays ignored through exec: every perfgate a test starts would then shrug
    off the SIGINT that the interruption tests send (a gate ran to its end and exited
    0).  A handler, unlike an ignore, is reset to the default in each child.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def container() -> Iterator[str]:
    """The container command once the image is built (once per session); skipped without one."""
    from container_helpers import build_image

    yield from build_image()
