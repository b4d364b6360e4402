"""Shared fixtures of the example's tests.

The pull request adds a connection pool for the report tests.  Opening it takes
about 40 ms (a handshake), and it registers 4 MB of buffers in a module-level
registry that nothing ever clears: a leak that grows with every test using it."""

import time

import pytest

_REGISTRY = []


class Pool:
    def __init__(self) -> None:
        time.sleep(0.04)  # the handshake
        self.buffer = bytearray(b"\x01") * (4 * 2**20)
        _REGISTRY.append(self)


@pytest.fixture
def pool():
    yield Pool()
