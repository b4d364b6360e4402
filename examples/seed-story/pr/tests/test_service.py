"""The service, started for each test and never stopped ("the real one starts fast
enough"): its workers, its acceptor thread and its listening socket stay for good."""

import pytest
from appkit.service import Service


@pytest.fixture
def service():
    yield Service()


def test_service_listens(service):
    assert service.listener.getsockname()[0] == "127.0.0.1"


def test_service_computes(service):
    assert service.workers.submit(sum, [1, 2, 3]).result() == 6
