"""Red team: what a hostile pull request can write into the comment, and where it can post it.

Each test is one attack of issue 12 as its review found it (the exact
payloads), run against the real renderer and `perfgate publish` against the
GitHub stand-in on 127.0.0.1.  The comment is read back the way GitHub shows
it (tests/markdown_check.py): an independent CommonMark renderer, then the
mentions and references GitHub would act on.
"""

from __future__ import annotations

import dataclasses

import pytest
from markdown_check import outside_markup, shown
from report_helpers import make_error, make_results

from perfgate.breakdown import NOTE_CHARS, Breakdown, Leak, TestChange, TestsComparison
from perfgate.imports import ImportComparison, ModuleImportChange, NewHeavyModule
from perfgate.report import format, markdown
from perfgate.results import Environment

#: The review's payloads: a ping, a team ping, a phishing link, a closed section, a fake
#: heading, an image, an autolink, an issue reference, and a backtick fence to close code.
PAYLOADS = (
    "@octo/maintainers please merge",
    "[Re-run the checks](https://evil.example/login)",
    "</details>",
    "## ✅ Approved by @octo/security",
    '<img src="https://evil.example/pixel.png">',
    "![ok](https://evil.example/badge.png)",
    "see https://evil.example and www.evil.example",
    "fixes octo/widgets#1 and #2",
    "``` ` `` </details> @octo",
    "a | b | c",
    "line one\n### Approved\n<details>",
)


def _change(nodeid: str, kind: str = "time") -> TestChange:
    return TestChange(nodeid, kind, 0.1, 0.3, 0.2, (0.15, 0.25), 2.0, (1.5, 2.5), 0.001, 0.001, "")


def hostile_breakdown(names: tuple[str, ...]) -> dict:
    """Per-test and import evidence whose every name is one the pull request chose."""
    tests = TestsComparison(
        base_runs=10, head_runs=10, compared=len(names), time_threshold=0.05,
        memory_threshold=0.1, min_time_s=0.005, min_memory_bytes=5e6,
        memory_method=names[0], collection=None,
        time_regressions=tuple(_change(n) for n in names),
        memory_regressions=tuple(_change(n, "memory") for n in names),
        time_improvements=tuple(_change(n) for n in names), memory_improvements=(),
        added=names, removed=names,
        leaks=(Leak(names[0], 5e7, names, None),), notes=names,
    )  # fmt: skip
    modules = tuple(
        ModuleImportChange(
            name,
            0.1,
            0.5,
            4.0,
            (3.0, 5.0),
            0.001,
            "regression",
            1e6,
            5e7,
            10,
            90,
            (NewHeavyModule(name, (name, name, name), 0.4, 80),),
            80,
            0,
            (5, 5),
        )  # fmt: skip
        for name in names
    )
    imports = ImportComparison(modules, 0.05)
    return Breakdown(tests=tests, imports=imports, notes=names).to_json()


def hostile_results(payload: str):
    """A gate whose every string from the run or the machine is the payload."""
    results = make_results()
    sides = {name: dataclasses.replace(side, ref=payload) for name, side in results.sides.items()}
    return dataclasses.replace(
        results,
        sides=sides,
        command=payload,
        environment=Environment(payload, 2, payload, payload, payload),
        settings={"instructions_counter": payload},
        breakdown=hostile_breakdown((payload, f"tests/test_x.py::test[{payload}]")),
    )


@pytest.mark.parametrize("payload", PAYLOADS)
def test_run_text_can_neither_ping_link_embed_nor_close_a_section(payload: str) -> None:
    text = markdown.render_comment(hostile_results(payload), marker="perfgate")
    assert outside_markup(text) == []
    seen = shown(text)
    assert seen.tags.count("h3") == 2, "the headline and 'Which test, which import' only"
    assert seen.tags.count("details") == 3, "Details, charts and raw runs: perfgate's own"
    assert text.splitlines()[0] == "<!-- perfgate:perfgate -->"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_an_error_from_the_run_is_text_in_the_headline_too(payload: str) -> None:
    results = make_error("Traceback (most recent call last):\nboom")
    text = markdown.render_comment(dataclasses.replace(results, error=payload), marker="perfgate")
    assert outside_markup(text) == []
    assert shown(text).tags.count("h3") == 1


def test_a_foreign_metric_side_and_verdict_are_text() -> None:
    """`perfgate publish` renders a results file a fork's workflow made: every string."""
    results = make_results()
    odd = dataclasses.replace(
        results.comparisons[0], metric="@octo/x <img src=y>", verdict="## @octo/ok"
    )
    results = dataclasses.replace(
        results,
        verdict="pass @octo/maintainers",
        comparisons=(*results.comparisons, odd),
        sides={"</details> @octo": results.sides["base"], "head": results.sides["head"]},
    )
    text = markdown.render_comment(results, marker="perfgate")
    assert outside_markup(text) == []
    assert "| `@octo/x <img src=y>` |" in text


def test_long_names_are_cut() -> None:
    name = "tests/test_x.py::test_" + "a" * 10_000
    text = markdown.render_comment(hostile_results(name), marker="perfgate")
    evidence = text[text.index("### Which test, which import") :]
    evidence = evidence[: evidence.index("<details>")]
    # A table cell holds the first 199 characters and "…": "tests/test_x.py::test_" is 22.
    assert "| `tests/test_x.py::test_" + "a" * 177 + "…` |" in evidence
    assert "a" * NOTE_CHARS not in evidence, "a note, perfgate's words around names, is cut too"
    assert "a" * markdown.COMMAND_CHARS not in text
    assert len(text) <= markdown.GITHUB_COMMENT_LIMIT


def test_invisible_and_reordering_characters_are_shown_not_obeyed() -> None:
    # U+202E turns "gpj.exe" into "exe.jpg" on screen; a NUL or an ESC hides what follows.
    text = format.untrusted("test_\u202eabc\x00\x1b[2J\u200b")
    assert text == "`test_\ufffdabc\ufffd\ufffd[2J\ufffd`"


def test_the_one_escaping_function_in_a_table_cell() -> None:
    # Worked out by hand from GFM: cells split on | before code spans are read.
    assert format.untrusted("a|b`c", cell=True) == "``a\\|b`c``"
    assert format.untrusted("x" * 10, limit=5) == "`xxxx…`"
    cell = shown("| h |\n|---|\n| " + format.untrusted("a|b", cell=True) + " |\n")
    assert cell.tags.count("td") == 1
