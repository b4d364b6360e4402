"""A module file loaded twice under two names, found in ``sys.modules``: standard library only.

``sys.path.insert(0, "src/mypkg")`` in a conftest, or a rootdir import next
to an installed package, makes ``mypkg.util`` and ``util`` two module objects
executed from one file: every module-level object (tables, caches, compiled
regexes, class hierarchies) is built twice, and ``isinstance`` checks across
the two copies fail.  The per-test plugin looks at the end of the session,
the import probe after the import; both run this same code (the probe embeds
this file's text in the script it runs in the side's own interpreter, so it
must not import anything from perfgate).

What a second copy costs in memory is estimated, never measured by running
anything again: the shallow size (``sys.getsizeof``) of each module-level
object of the copies after the first, skipping modules.  It is a lower bound
(a dict's entries, a list's items are not followed), and exact for the common
big case, a ``bytes``/``bytearray``/``array`` buffer built at import.

Every string here comes from the measured code (module names, file paths):
counts and lengths are capped, and the reports escape what they show.
"""

from __future__ import annotations

import os
import sys
import types

#: The most files reported (the costliest); the count of all is kept beside them.
MAX_FILES = 20
#: The most names kept per file.
MAX_NAMES = 5
#: The longest module name or path kept (a path keeps its end, the file's name).
MAX_CHARS = 300
#: The most module-level objects sized per copy: a module with a million globals stays cheap.
MAX_VALUES = 10_000
#: Module files that can be executed twice: Python source and bytecode.  An extension
#: module's submodules (pybind11's def_submodule) all name the extension's .so as their
#: file without being copies, and an extension cannot be initialised under a second name.
SOURCE_SUFFIXES = (".py", ".pyc", ".pyw")
#: The most modules looked at: sys.modules of a hostile run could be enormous.
MAX_MODULES = 50_000


def _cut(text: str, keep_end: bool = False) -> str:
    if len(text) <= MAX_CHARS:
        return text
    return "…" + text[-(MAX_CHARS - 1) :] if keep_end else text[: MAX_CHARS - 1] + "…"


def _dunder(name: object) -> bool:
    """`__builtins__`, `__spec__`...: the import system's, shared or tiny, not the module's."""
    return isinstance(name, str) and name.startswith("__") and name.endswith("__")


def shallow_bytes(module: types.ModuleType) -> int:
    """The summed ``sys.getsizeof`` of a module's globals (other modules and the import
    system's dunder names left out)."""
    try:
        items = list(vars(module).items())[:MAX_VALUES]
    except Exception:  # noqa: BLE001 - a module's namespace is the measured code's
        return 0
    total = 0
    for name, value in items:
        if isinstance(value, types.ModuleType) or _dunder(name):
            continue
        try:
            size = sys.getsizeof(value)
        except Exception:  # noqa: BLE001 - __sizeof__ is the measured code's too
            continue
        if isinstance(size, int) and 0 < size < 2**48:
            total += size
    return total


def shown_path(path: str, root: str) -> str:
    """`path` relative to `root` when inside it (base and head checkouts then agree)."""
    try:
        relative = os.path.relpath(path, root)
    except ValueError:
        relative = path
    if relative.startswith(os.pardir):
        relative = path
    return _cut(relative.replace(os.sep, "/"), keep_end=True)


def _copies_by_file(modules: dict) -> dict[str, list[tuple[str, types.ModuleType]]]:
    """Each real file's distinct module objects, with the first name each is known by."""
    by_file: dict[str, dict[int, tuple[str, types.ModuleType]]] = {}
    folders: dict[str, str] = {}  # one realpath per folder, not per module: a session's end
    for index, (name, module) in enumerate(list(modules.items())):
        if index >= MAX_MODULES:
            break
        try:
            file = module.__dict__.get("__file__")
        except Exception:  # noqa: BLE001 - anything can sit in sys.modules
            continue
        if not isinstance(file, str) or not isinstance(name, str):
            continue
        if not file.endswith(SOURCE_SUFFIXES):  # an extension's submodules share its .so
            continue
        folder, base = os.path.split(os.path.abspath(file))
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        copies = by_file.setdefault(os.path.join(folders[folder], base), {})
        copies.setdefault(id(module), (name, module))  # an alias (os.path) is one object
    return {file: list(c.values()) for file, c in by_file.items() if len(c) > 1}


def duplicated_modules(modules: dict, root: str) -> dict:
    """Files loaded as two module objects or more: names and the extra copies' cost.

    ``{"count": N, "files": [{"file", "names", "extra_bytes"}, ...]}``, the
    costliest first, at most MAX_FILES; names in load order (the first is
    the copy the others duplicate).
    """
    found = []
    for file, copies in _copies_by_file(modules).items():
        found.append(
            {
                "file": shown_path(file, root),
                "names": [_cut(name) for name, _ in copies[:MAX_NAMES]],
                "extra_bytes": sum(shallow_bytes(module) for _, module in copies[1:]),
            }
        )
    found.sort(key=lambda d: (-d["extra_bytes"], d["file"]))
    return {"count": len(found), "files": found[:MAX_FILES]}
