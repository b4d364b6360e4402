"""Comparing: pure functions over samples, no I/O and no text.

`stats` (the decision rule over whole runs), `tests` (per-test changes,
Holm, leaks), `imports` (per-import changes, new modules and their chains).
"""
