"""perfgate's pytest plugin, for a Python in which perfgate is not installed.

The gate copies this file, as ``__init__.py``, with ``plugin_contract.py`` and
``pytest_plugin.py`` into a package of its own name, puts that on PYTHONPATH
and names it in PYTEST_PLUGINS. The benchmark's pytest then records per-test
data whichever environment it runs in (pipx, a venv per side), without
shadowing a ``perfgate`` the project may have. Where perfgate is installed
too, pytest has already loaded the real plugin through its entry point
(entry points load before PYTEST_PLUGINS); this package then defines no
hooks, so ``--perfgate-json`` is not added twice.
"""

import sys

if "perfgate.pytest_plugin" not in sys.modules:
    from .pytest_plugin import pytest_addoption, pytest_configure  # noqa: F401
