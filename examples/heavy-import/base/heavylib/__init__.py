"""A stand-in for a heavy third-party dependency (think of a web framework or a
data-frame library): importing it costs about 150 ms of CPU and 30 MB of memory,
because it builds its tables at import time.  It is local so that the example
runs without network."""

from . import engine, tables

__all__ = ["engine", "render", "tables"]


def render(rows: list[dict]) -> str:
    """Format rows as a table, through the engine."""
    return engine.format_rows(rows, tables.WIDTHS)
