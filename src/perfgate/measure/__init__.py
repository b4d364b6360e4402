"""Measuring: everything that runs something and records it.

`run` (one run of the command, its time and memory), `schedule` (warm-ups,
shuffled pairs, looks), `instructions` (counted runs), `pytest_documents`
(the plugin's per-test documents) and `import_trace` (`-X importtime`).
"""
