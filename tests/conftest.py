"""Shared fixtures: the fake GitHub server (tests/github_server.py) for every test module."""

from collections.abc import Iterator

import pytest
from github_server import github_server  # noqa: F401 - a fixture, found by name


@pytest.fixture(scope="session")
def container() -> Iterator[str]:
    """The container command once the image is built (once per session); skipped without one."""
    from container_helpers import build_image

    yield from build_image()
