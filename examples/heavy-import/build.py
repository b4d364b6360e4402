"""Build the heavy-import example as a git repository: `main` (base) and `pr` (head).

    python examples/heavy-import/build.py DEST

`main` holds `base/`: appkit imports heavylib lazily, inside the function that
renders a report.  `pr` overlays `pr/`: appkit.api imports heavylib at module
level, and a new `pool` fixture is slow (40 ms) and leaks 4 MB per test.
Everything is local files: no network, no packages to install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDENTITY = {
    "GIT_AUTHOR_NAME": "perfgate example",
    "GIT_AUTHOR_EMAIL": "example@perfgate.invalid",
    "GIT_COMMITTER_NAME": "perfgate example",
    "GIT_COMMITTER_EMAIL": "example@perfgate.invalid",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    if result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def overlay(source: Path, dest: Path) -> None:
    """Copy the files of `source` over `dest` (bytecode caches left behind)."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def build(dest: Path) -> dict[str, str]:
    """Create the repository in `dest` (which must not exist or be empty); SHAs by branch."""
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    git(dest, "init", "-q")
    git(dest, "symbolic-ref", "HEAD", "refs/heads/main")
    (dest / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    overlay(HERE / "base", dest)
    base = commit_all(dest, "appkit: reports render through heavylib (imported lazily)")
    git(dest, "checkout", "-q", "-b", "pr")
    overlay(HERE / "pr", dest)
    head = commit_all(dest, "tidy imports; a connection pool for the report tests")
    git(dest, "checkout", "-q", "main")
    return {"main": base, "pr": head}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder for the new repository")
    args = parser.parse_args(argv)
    shas = build(args.dest)
    print(f"built {args.dest}: main {shas['main'][:12]}, pr {shas['pr'][:12]}")
    print(f"try:  cd {args.dest} && perfgate gate --base main --head pr --breakdown pytest \\")
    print("        --imports appkit -- python -m pytest -q")
    return 0


if __name__ == "__main__":
    sys.exit(main())
