from appkit import tables


def test_rate():
    assert tables.rate(3) == 1
