from appkit import api

ROWS = [{"name": "apple", "qty": 3, "price": 0.5}, {"name": "pear", "qty": 1, "price": 0.75}]


def test_count_rows():
    assert api.count_rows(ROWS) == 2


def test_render_report():
    assert "apple" in api.render_report(ROWS)


def test_render_empty():
    assert api.render_report([]) == ""


def test_render_one():
    assert api.render_report(ROWS[:1]).startswith("apple")


def test_render_columns():
    assert api.render_report(ROWS).count("|") == 4


def test_render_pear():
    assert "pear" in api.render_report(ROWS)


def test_render_twice():
    assert api.render_report(ROWS) == api.render_report(ROWS)
