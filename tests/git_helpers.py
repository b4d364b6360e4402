"""Real git repositories in temporary folders, for tests that need one.

    repo = make_repo(tmp_path / "project", {"bench.py": "..."}, "base")
    base = repo.sha()
    head = repo.commit({"bench.py": "..."}, "slower")
    before = repo.checkout_state()
    ...
    assert repo.checkout_state() == before

Only the standard library and the `git` command; a fixed identity, so that
the tests do not depend on the machine's git configuration.
"""

from __future__ import annotations

import hashlib
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
        """Run git here; its stdout, stripped.  A failure raises RuntimeError with stderr."""
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

    def sha(self, ref: str = "HEAD") -> str:
        """The full SHA of `ref`."""
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}")

    def commit(self, files: dict[str, str], message: str) -> str:
        """Write `files` (name -> text, folders made as needed), commit them all, return the SHA."""
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message)
        return self.sha()

    def checkout_state(self) -> dict[str, object]:
        """Everything a user could lose: branch, HEAD, refs, index, stash, files, worktrees.

        Read without taking git's optional locks, so that taking the snapshot
        does not itself refresh (rewrite) the index.
        """
        git = ("--no-optional-locks",)
        files = {
            str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.path).parts
        }
        index = self.path / ".git" / "index"
        return {
            "head": (self.path / ".git" / "HEAD").read_text(),
            "refs": self.git(*git, "for-each-ref", "--format=%(refname) %(objectname)"),
            "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None,
            "status": self.git(*git, "status", "--porcelain=v2", "--branch", "-uall"),
            "staged": self.git(*git, "diff", "--cached"),
            "unstaged": self.git(*git, "diff"),
            "stash": self.git(*git, "stash", "list", "--format=%H %gs"),
            "worktrees": self.git(*git, "worktree", "list", "--porcelain"),
            "files": files,
        }


def make_repo(path: Path, files: dict[str, str], message: str = "initial") -> Repo:
    """A new repository at `path` on branch main with one commit of `files`."""
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.commit(files, message)
    return repo
