import pytest
from appkit import util


@pytest.mark.parametrize("n", range(20))
def test_slugify(n):
    assert util.slugify(f"Hello World {n}") == f"hello-world-{n}"


@pytest.mark.parametrize("n", range(10))
def test_total(n):
    assert util.total([1.0] * n) == float(n)
