"""Build the seed-story example: the five problems of a real suite, one head commit each.

    python examples/seed-story/build.py DEST

The team whose report started perfgate had a test suite with five problems:
modules loaded twice through `sys.path.insert`, heavy imports at module level,
fixtures that started real connection pools and background tasks, an event
loop per test, and resources not cleaned up between tests.  This repository
plants each in its own commit on `pr`, on top of the heavy-import example's
`main` (examples/heavy-import/) and a few tests of its own that clean up
after themselves:

1. `appkit.api` imports heavylib at module level (heavy-import's pull request)
2. a `pool` fixture keeps 4 MB per report test for good (resources not cleaned up)
3. the `service` fixture starts 4 worker threads and a socket listening on
   127.0.0.1 and never stops them (real pools and background tasks)
4. each async test creates an event loop and never closes it
5. `tests/test_tables.py` puts `appkit/` on sys.path: `appkit/tables.py` (6 MB of
   tables) loads a second time as `tables`

Everything is local files: no network, no packages to install.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEAVY = HERE.parent / "heavy-import"


def _heavy_import_builder():
    """examples/heavy-import/build.py, loaded by path (examples are not a package)."""
    spec = importlib.util.spec_from_file_location("heavy_import_build", HEAVY / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The pull request's commits: (files to copy, from which folder, message).
STORY = (
    (HEAVY / "pr", ["appkit/api.py"], "tidy imports: heavylib at module level in appkit.api"),
    (HEAVY / "pr", ["tests/conftest.py", "tests/test_api.py"], "a pool for the report tests"),
    (HERE / "pr", ["tests/test_service.py"], "service fixture: the real service, no teardown"),
    (HERE / "pr", ["tests/test_events.py"], "async tests: keep each test's event loop"),
    (HERE / "pr", ["tests/test_tables.py"], "test_tables.py runs on its own (sys.path.insert)"),
)


def build(dest: Path) -> dict[str, str]:
    """The repository in `dest` (missing or empty): `main` and `pr`, their SHAs by branch."""
    heavy = _heavy_import_builder()
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    heavy.git(dest, "init", "-q")
    heavy.git(dest, "symbolic-ref", "HEAD", "refs/heads/main")
    (dest / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    heavy.overlay(HEAVY / "base", dest)
    heavy.overlay(HERE / "base", dest)
    base = heavy.commit_all(dest, "appkit, with tests that clean up after themselves")
    heavy.git(dest, "checkout", "-q", "-b", "pr")
    head = base
    for source, files, message in STORY:
        for name in files:
            (dest / name).write_bytes((source / name).read_bytes())
        head = heavy.commit_all(dest, message)
    heavy.git(dest, "checkout", "-q", "main")
    return {"main": base, "pr": head}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder for the new repository")
    shas = build(parser.parse_args(argv).dest)
    print(f"main {shas['main'][:12]}, pr {shas['pr'][:12]} ({len(STORY)} commits); gate it with")
    print("  perfgate gate --base main --head pr --imports appkit -- python -m pytest -q")
    return 0


if __name__ == "__main__":
    sys.exit(main())
