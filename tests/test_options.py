"""Every option in every place: one table, four (five) places that must agree.

The table is `options.PARSERS` (the keys of `.perfgate.yml`).  Each key must
also be a flag of `perfgate gate` (read from its real `--help`), an input of
both actions (read from `action.yml` and `on-runner/action.yml`), a row of
the README's options table and of docs/action.md's inputs table, unless an
entry below says why not.  The lists here are written out by hand, not
computed from perfgate's code, so that a key added to one place only fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfgate import options

ROOT = Path(__file__).resolve().parent.parent

#: Keys that are no input of the actions, and why.
NOT_ACTION_INPUTS = {
    "repo": "the Action gates the repository checked out in GITHUB_WORKSPACE",
    "json": "the Action always writes the results JSON, named by its results-json output",
    "markdown": "the Action always writes the Markdown report, named by its report-markdown output",
}
#: Inputs that are no key of `.perfgate.yml`, and why.
ACTION_ONLY_INPUTS = {
    "config": "names the file the keys are read from (a flag of the CLI too)",
    "github-token": "the token is never a setting of the file or a flag (publish reads "
    "GITHUB_TOKEN)",
    "comment": "publishing belongs to the Action (perfgate publish --no-comment on the CLI)",
    "status-context": "publishing belongs to the Action (perfgate publish --context)",
    "fail-on-regression": "the step's outcome; the CLI's exit code says it",
    "merge": "the shards' results to merge: the CLI's perfgate merge command, no gate setting",
}
#: Flags of `perfgate gate` that are no key of `.perfgate.yml`, and why.
CLI_ONLY_FLAGS = {
    "--config": "names the file the keys are read from",
    "--help": "argparse's own help flag",
    "--budget": "the singular spelling of --budgets, one limit a flag (repeatable)",
}


def table_keys(text: str, header: str) -> list[str]:
    """The names in the first column of the Markdown table that starts with `header`."""
    lines = text.splitlines()
    start = lines.index(header)
    keys: list[str] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        first_cell = line.split("|")[1]
        keys += re.findall(r"`([a-z][a-z-]*)`", first_cell)
    return keys


def gate_flags() -> list[str]:
    """The long flags `perfgate gate --help` prints, on the lines that start an option."""
    shown = subprocess.run(
        [sys.executable, "-m", "perfgate", "gate", "--help"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.startswith("  -")]
    return [flag for line in lines for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)]


def action_inputs(path: str) -> list[str]:
    return list(yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))["inputs"])


KEYS = set(options.PARSERS)


def test_every_key_is_a_flag_of_perfgate_gate() -> None:
    flags = gate_flags()
    assert len(flags) == len(set(flags))
    assert set(flags) - set(CLI_ONLY_FLAGS) == {f"--{key}" for key in KEYS}


@pytest.mark.parametrize("path", ["action.yml", "on-runner/action.yml"])
def test_every_key_is_an_input_of_both_actions(path: str) -> None:
    inputs = action_inputs(path)
    assert len(inputs) == len(set(inputs))
    assert set(inputs) - set(ACTION_ONLY_INPUTS) == KEYS - set(NOT_ACTION_INPUTS)
    assert set(ACTION_ONLY_INPUTS) <= set(inputs)


def test_every_key_is_a_row_of_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = table_keys(readme, "| key | default | meaning |")
    assert len(rows) == len(set(rows))
    assert set(rows) == KEYS


def test_every_input_is_a_row_of_the_action_docs() -> None:
    docs = (ROOT / "docs" / "action.md").read_text(encoding="utf-8")
    rows = table_keys(docs, "| input | default | meaning |")
    assert len(rows) == len(set(rows))
    assert set(rows) == set(action_inputs("action.yml"))


def test_the_exceptions_name_real_options_and_say_why() -> None:
    """An exception for an option that no longer exists is dead wood, not a reason."""
    assert set(NOT_ACTION_INPUTS) <= KEYS
    assert not set(ACTION_ONLY_INPUTS) & KEYS
    for reason in (*NOT_ACTION_INPUTS.values(), *ACTION_ONLY_INPUTS.values(),
                   *CLI_ONLY_FLAGS.values()):  # fmt: skip
        assert len(reason.split()) >= 3


def test_the_table_finder_reads_a_table_and_stops_at_its_end() -> None:
    text = (
        "intro\n| key | default | meaning |\n|---|---|---|\n| `a`, `b-c` | 1 | x `d` |\n\n| `e` |\n"
    )
    assert table_keys(text, "| key | default | meaning |") == ["a", "b-c"]
