"""The docs stand alone: their links stay inside the repository, and the
commands they give name things that exist (extras, make targets, subcommands).

Read from the files themselves, so a doc that drifts from the project fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def relative_links(text: str) -> list[str]:
    """Link targets that are not public pages or anchors in the same page."""
    targets = (m.group(1) for m in LINK.finditer(text))
    return [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    for target in relative_links(doc.read_text()):
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_points_at_material_users_do_not_have(doc: Path) -> None:
    assert "../shared" not in doc.read_text(), f"{doc.name} names ../shared, which users lack"


def code_lines() -> list[tuple[str, str]]:
    """Every line of every fenced code block, with the doc it comes from."""
    return [
        (doc.name, line.strip())
        for doc in DOCS
        for block in CODE_BLOCK.findall(doc.read_text())
        for line in block.splitlines()
    ]


def test_every_extra_the_docs_install_exists() -> None:
    extras = set(metadata("perfgate").get_all("Provides-Extra") or ())
    prose = "\n".join(doc.read_text() for doc in DOCS)
    # perfgate's own installs are written `pip install -e '.[X]'` (quoted, possibly wrapped
    # over two lines); the docs show a user's project installed unquoted in `setup`, or
    # after activating that project's venv, and those extras are the project's, not ours.
    own = re.compile(r"^(.*?)pip install\s+-e\s+'\.\[([a-z0-9_,-]+)\]'", re.M)
    named = [m.group(2) for m in own.finditer(prose) if "activate" not in m.group(1)]
    assert named, "expected the docs to show how to install perfgate with its extras"
    for extra in named:
        assert set(extra.split(",")) <= extras, f"no extra {extra!r} in pyproject.toml"


def test_every_make_target_the_docs_name_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = {m for _, line in code_lines() for m in re.findall(r"^make ([a-z-]+)", line)}
    named |= set(re.findall(r"`make ([a-z-]+)`", (ROOT / "README.md").read_text()))
    assert {"demo", "test"} <= named
    assert named <= targets, f"make targets named but missing: {named - targets}"


def test_every_perfgate_subcommand_the_docs_show_answers_help() -> None:
    named = {
        m
        for _, line in code_lines()
        for m in re.findall(r"(?:^|&& |\$ |bin/)perfgate ([a-z]+)\b", line)
    }
    assert {"gate", "run", "compare", "publish"} <= named
    for sub in sorted(named):
        done = subprocess.run(
            [sys.executable, "-m", "perfgate", sub, "--help"], capture_output=True, text=True
        )
        assert done.returncode == 0, f"`perfgate {sub}` in the docs: {done.stderr}"
