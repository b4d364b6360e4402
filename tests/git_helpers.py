"""Real git repositories in temporary folders, for tests that need one."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "perfgate tests",
    "GIT_AUTHOR_EMAIL": "tests@perfgate.invalid",
    "GIT_COMMITTER_NAME": "perfgate tests",
    "GIT_COMMITTER_EMAIL": "tests@perfgate.invalid",
}


@dataclass(frozen=True)
class Repo:
    """A git repository made for a test; `commit` writes files and returns the new SHA."""

    path: Path

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            env={**os.environ, **IDENTITY},
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def make_repo(path: Path, files: dict[str, str], message: str = "initial") -> Repo:
    """A new repository at `path` on branch main with one commit of `files`."""
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.commit(files, message)
    return repo
