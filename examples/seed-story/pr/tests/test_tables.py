import pathlib
import sys

from appkit import tables

# "tables could not be found when running one file": the folder goes on sys.path, and
# appkit/tables.py now loads a second time as the top-level module `tables`.
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "appkit"))
import tables as rates  # noqa: E402


def test_rate():
    assert tables.rate(3) == rates.rate(3) == 1
