"""The service, started for each test and stopped after it."""

import pytest
from appkit.service import Service


@pytest.fixture
def service():
    running = Service()
    yield running
    running.stop()


def test_service_listens(service):
    assert service.listener.getsockname()[0] == "127.0.0.1"


def test_service_computes(service):
    assert service.workers.submit(sum, [1, 2, 3]).result() == 6
