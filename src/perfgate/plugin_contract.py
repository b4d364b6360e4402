"""What perfgate and its pytest plugin agree on, importable without pytest.

The gate tells each run where to write its per-test record through an
environment variable; the Action's image has no pytest, so these names cannot
live in the plugin module, which imports pytest at the top.
"""

from __future__ import annotations

#: Where the plugin writes its per-test document (also ``--perfgate-json``).
ENV_VAR = "PERFGATE_PYTEST_JSON"

#: How the plugin measures memory per test: ``auto``, ``ru_maxrss`` or ``none``.
MEMORY_ENV_VAR = "PERFGATE_PYTEST_MEMORY"

#: Whether the plugin records what each test leaves behind (threads, processes, descriptors,
#: sockets, event loops): ``auto`` (where /proc allows) or ``none``.
RESOURCES_ENV_VAR = "PERFGATE_PYTEST_RESOURCES"

#: The document's format name; readers refuse any other.
SCHEMA = "perfgate-pytest/1"
