"""The three headlines (fail, pass, no verdict), the `inconclusive` setting, and the order of
the comment: what a reviewer reads in five seconds.

Results are built from seeded samples judged by the real statistics
(report_helpers) and, for the culprits, from constructed breakdowns: the
rendering is a pure function of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_check import outside_markup
from report_helpers import make_results
from sample_comments import (
    BIMODAL_BYTES,
    SAMPLES,
    slower_test,
    suite_comparison,
    with_breakdown,
)

from perfgate import cli, pipeline
from perfgate.compare import stats
from perfgate.compare import tests as bd
from perfgate.compare.tests import Breakdown
from perfgate.github.publish import status_description, status_state
from perfgate.report import console, markdown
from perfgate.results import Results

GITHUB_LIMIT_BYTES = 65_536
#: Each 🔴 line of the comment and what the headline must then say.
RED_MENTIONS = (
    (re.compile(r"^\| (wall time|CPU time|peak memory|instructions) \|.*🔴"), r"\1"),
    (re.compile(r"^\| 🔴 (`[^`]+`) \|"), r"import \1"),
    (re.compile(r"^🔴 \*\*Slower tests\*\*"), "slower test"),
    (re.compile(r"^🔴 \*\*Slower groups"), "slower group"),
    (re.compile(r"^🔴 \*\*Hungrier tests\*\*"), "hungrier test"),
    (re.compile(r"^🔴 \*\*Leak\*\*"), "a leak from"),
    (re.compile(r"^🔴 \*\*Collection\*\*"), "collection +"),
)


def assert_every_red_is_in_the_headline(text: str) -> None:
    """A 🔴 anywhere below names its finding in the first line (gated or not)."""
    first, *rest = text.splitlines()
    for line in rest:
        if "🔴" not in line:
            continue
        for pattern, mention in RED_MENTIONS:
            match = pattern.search(line)
            if match:
                assert match.expand(mention) in first, (line, first)
                break
        else:
            pytest.fail(f"a 🔴 the test does not know: {line!r}")


def sections_in_order(text: str, *markers: str) -> None:
    at = [text.index(marker) for marker in markers]
    assert at == sorted(at), list(zip(markers, at, strict=True))


# --- The three headlines --------------------------------------------------------------------


def test_fail_headline_names_the_regressed_metric_and_its_cause_comes_before_the_details():
    results = make_results(slowdown=1.3)
    results = with_breakdown(
        results, Breakdown(tests=suite_comparison((slower_test("tests/test_a.py::test_x"),)))
    )
    text = markdown.render_comment(results)
    first = text.splitlines()[0]
    assert first.startswith("### ❌ perfgate: fail: wall time +")
    assert "also 🔴 slower test `tests/test_a.py::test_x`" in first
    sections_in_order(text, "| metric |", "🔴 **Slower tests**", "<summary>Details</summary>")
    assert_every_red_is_in_the_headline(text)
    assert pipeline.exit_code(results) == 1 and status_state(results) == "failure"


def test_pass_headline_says_nothing_moved_beyond_its_threshold():
    results = make_results()
    assert {c.verdict for c in results.comparisons} == {"unchanged"}
    text = markdown.render_comment(results)
    assert text.splitlines()[0] == "### ✅ perfgate: pass: no metric moved beyond its threshold"
    assert "🔴" not in text and "🟡" not in text
    sections_in_order(text, "| metric |", "<summary>Details</summary>")
    assert pipeline.exit_code(results) == 0 and status_state(results) == "success"


def test_a_failed_gate_gives_no_advice_on_getting_a_verdict():
    """Memory regressed beyond doubt while wall time stayed undecided: the gate has its
    verdict, and advice on more runs would only push the finding down the comment."""
    results = make_results(runs=6, cv=0.2, extra_mb=30)
    verdicts = {c.metric: c.verdict for c in results.comparisons}
    assert verdicts["peak_memory"] == "regression" and verdicts["wall_time"] == "inconclusive"
    text = markdown.render_comment(results)
    assert text.startswith("### ❌ perfgate: fail: peak memory +")
    assert "To get a verdict" not in text
    assert "to get a verdict" not in console.render_gate(results)


def noisy(runs: int = 6) -> Results:
    results = make_results(runs=runs, slowdown=1.04, cv=0.2)
    assert results.verdict == "pass"  # what the statistics say: nothing regressed
    assert "inconclusive" in {c.verdict for c in results.comparisons}
    return results


def test_no_verdict_is_yellow_and_says_how_small_a_change_this_run_could_see():
    results = noisy()
    worst = max(c.detectable_change for c in results.comparisons if c.verdict == "inconclusive")
    text = markdown.render_comment(results)
    expected = f"🟡 perfgate: no verdict: this run could only see changes above {worst:.0%}"
    assert text.splitlines()[0] == f"### {expected}"
    assert "✅" not in text.splitlines()[0]
    assert console.render_gate(results).splitlines()[0] == expected
    assert_every_red_is_in_the_headline(text)
    sections_in_order(
        text, "| metric |", "**To get a verdict**", "<summary>Details</summary>", "⚠️ noise:"
    )
    terminal = console.render_gate(results)
    sections_in_order(terminal, "metric ", "to get a verdict:", "warning: ", "\nruns: ")


@pytest.mark.parametrize(
    ("setting", "state", "code"), [("pass", "success", 0), ("fail", "failure", 1)]
)
def test_inconclusive_setting_decides_the_status_and_exit_code_never_the_words(
    setting: str, state: str, code: int
) -> None:
    results = noisy()
    results = dataclasses.replace(results, settings={**results.settings, "inconclusive": setting})
    assert status_state(results) == state and pipeline.exit_code(results) == code
    assert status_description(results).startswith("no verdict: ")
    assert markdown.render_comment(results).startswith("### 🟡 perfgate: no verdict:")


def test_compare_takes_the_inconclusive_flag_and_refuses_a_bad_value(tmp_path: Path, capsys):
    path = tmp_path / "results.json"
    results = noisy(runs=15)  # judged again at one look of 15 runs: compare's last look
    dataclasses.replace(results, settings={**results.settings, "max_runs": 15}).write(path)
    assert cli.main(["compare", str(path)]) == 0
    assert capsys.readouterr().out.startswith("🟡 perfgate: no verdict: ")
    out = tmp_path / "fail.json"
    assert cli.main(["compare", str(path), "--inconclusive", "fail", "--json", str(out)]) == 1
    assert json.loads(out.read_text())["settings"]["inconclusive"] == "fail"
    assert cli.main(["compare", str(path), "--inconclusive", "maybe"]) == 2
    assert "inconclusive: 'maybe' is not allowed; expected pass or fail" in capsys.readouterr().err


def test_an_import_only_regression_is_named_in_a_passing_headline():
    results = SAMPLES["import-only"]()
    text = markdown.render_comment(results)
    first = text.splitlines()[0]
    # 20.3 ms / 14 ms - 1 = 45.0% and 20.3 - 14 = 6.3 ms, worked out by hand
    assert first == (
        "### ✅ perfgate: pass: no metric moved beyond its threshold; "
        "not gated: 🔴 import `tomli` +45.0% (+6.30 ms)"
    )
    assert "| 🔴 `tomli` | 14.0 ms | 20.3 ms | +45.0% (+6.30 ms) |" in text
    assert_every_red_is_in_the_headline(text)
    sections_in_order(text, "| metric |", "**Import time**", "<summary>Details</summary>")
    assert (
        console.render_gate(results).splitlines()[0].endswith("🔴 import tomli +45.0% (+6.30 ms)")
    )


def test_a_suite_of_thousands_of_slower_tests_fits_and_is_counted_in_the_headline():
    text = markdown.render_comment(SAMPLES["many-tests"](), marker="perfgate")
    assert len(text.encode()) <= GITHUB_LIMIT_BYTES
    body = text.split("\n", 1)[1]
    assert body.splitlines()[0].endswith("; also 🔴 3000 slower tests")
    assert_every_red_is_in_the_headline(body)
    sections_in_order(body, "| metric |", "🔴 **Slower tests**", "<summary>Details</summary>")


def test_a_slowdown_the_named_tests_do_not_add_up_to_is_said_unexplained():
    results = make_results(slowdown=1.3)
    tiny = slower_test("tests/test_a.py::test_x", base_s=0.010, head_s=0.016)  # +6 ms
    results = with_breakdown(results, Breakdown(tests=suite_comparison((tiny,))))
    base_wall = statistics.median(s.wall_s for s in results.sides["base"].samples)
    change_ms = 1000 * base_wall * results.comparison("wall_time").change  # the shift in ms
    assert 100 < change_ms - 6 < 999.5  # 30% of 400 ms: three figures without decimals
    text = markdown.render_comment(results)
    expected = (
        f"- wall time +{change_ms:.0f} ms: the tests and imports named account for +6.00 ms; "
        f"+{change_ms - 6:.0f} ms is not attributed to any of them"
    )
    assert expected in text
    sections_in_order(text, "🔴 **Slower tests**", "**Not explained**", "<summary>Details")
    assert f"not explained: {expected[2:]}" in console.render_gate(results)


def test_a_multi_line_command_is_shown_as_it_was_given_in_a_code_block():
    script = "python -c '\nimport time\nfor _ in range(3):\n    time.sleep(0.1)\n'"
    results = dataclasses.replace(make_results(), command=script)
    text = markdown.render_comment(results)
    details = text[text.index("<summary>Details</summary>") :]
    block = "- command: \n\n  ```sh\n  python -c '\n  import time\n  for _ in range(3):\n"
    assert block + "      time.sleep(0.1)\n  '\n  ```\n" in details
    hostile = "x\n````\n</details>\n@octocat <img src=x> #12\n```\n# heading\n"
    forged = markdown.render_comment(dataclasses.replace(results, command=hostile))
    assert outside_markup(forged) == [] and forged.count("<summary>Details") == 1
    one_line = dataclasses.replace(results, command="pytest -q")
    assert "- command: `pytest -q`\n" in markdown.render_comment(one_line)


def test_metrics_that_need_the_same_runs_share_one_line_of_advice():
    text = markdown.render_comment(noisy())
    advice = text[text.index("**To get a verdict**") : text.index("<details>")]
    # make_results' CPU time is wall time * 0.95: the same noise, the same runs needed
    assert advice.count("more of runs") == 1 and "- wall time, CPU time: about " in advice


def _titles(text: str) -> list[str]:
    return re.findall(r'^    title "([^"]*) per run: ', text, re.MULTILINE)


def test_charts_show_the_metric_that_decided_and_a_two_level_memory_not_a_repeat():
    results = make_results(slowdown=1.3)
    head = results.sides["head"]
    # head's memory alternates between two levels, 50 MB and 80 MB: a chart tells that
    split = tuple(
        dataclasses.replace(s, tree_peak_rss_bytes=int((50e6, 80e6)[k % 2]))
        for k, s in enumerate(head.samples)
    )
    bimodal = dataclasses.replace(
        results, sides={**results.sides, "head": dataclasses.replace(head, samples=split)}
    )
    text = markdown.render_comment(bimodal)
    assert _titles(text) == ["wall time", "peak memory"]  # never CPU time, a repeat here
    assert "Base in blue, head in orange; the x axis is the run's order number" in text
    assert _titles(markdown.render_comment(results)) == ["wall time"]


def test_a_slower_collection_is_red_and_named_in_the_headline():
    collected = slower_test("collection", base_s=0.0224, head_s=0.0981)
    suite = dataclasses.replace(suite_comparison(()), collection=collected)
    text = markdown.render_comment(with_breakdown(make_results(), Breakdown(tests=suite)))
    # 98.1 ms / 22.4 ms - 1 = 3.379 = +338% (whole percents from 100% on), by hand
    assert text.splitlines()[0].endswith("not gated: 🔴 collection +338%")
    assert "🔴 **Collection**: 22.4 ms → 98.1 ms" in text
    assert_every_red_is_in_the_headline(text)


def test_the_details_say_how_the_pairs_entered_the_test():
    """Paired: what the p-value counts; unpaired: that the pairs only set the order (else
    'pairs of shuffled order' beside a two-sample test reads as a contradiction)."""
    results = make_results()
    paired = "paired: the p-value counts the ways the coin flips of the pairs' order could"
    unpaired = "unpaired: the pairs only set the run order, the runs are compared as two samples"
    for method, said, unsaid in (
        (stats.PAIRED_METHOD, paired, unpaired),
        (stats.UNPAIRED_METHOD, unpaired, paired),
    ):
        comparisons = tuple(dataclasses.replace(c, method=method) for c in results.comparisons)
        text = markdown.render_comment(dataclasses.replace(results, comparisons=comparisons))
        details = text[text.index("<summary>Details</summary>") :]
        assert "- run order seed: 5 (base and head run in pairs of shuffled order" in details
        assert said in details and unsaid not in details


def test_a_memory_growth_no_culprit_accounts_for_is_said_unexplained():
    results = make_results(extra_mb=40)  # 50 MB on base, 90 MB on head
    results = with_breakdown(results, Breakdown(tests=suite_comparison(())))
    text = markdown.render_comment(results)
    assert "- peak memory +40.0 MB: not attributed to any test or import" in text


def test_more_runs_than_worth_waiting_for_are_not_offered_as_a_setting():
    results = make_results(runs=6, slowdown=1.04, cv=0.6)
    wall = results.comparison("wall_time")
    assert wall.verdict == "inconclusive"
    text = markdown.render_comment(results)
    advice = text[text.index("**To get a verdict**") : text.index("<details>")]
    # 6 runs a side of ~0.4 s: runs needed grow with (detectable / 5%) squared
    runs = math.ceil(6 * (wall.detectable_change / 0.05) ** 2)
    assert runs * 0.8 > 30 * 60
    assert "longer than worth waiting" in advice and "max-runs" not in advice


# --- The six sample comments (bench/render_comments.py draws them) -------------------------

HEADLINES = {
    "fail": "### ❌ perfgate: fail: ",
    "pass": "### ✅ perfgate: pass: ",
    "no verdict": "### 🟡 perfgate: no verdict: this run could only see changes above ",
}
SAMPLE_HEADLINES = {
    "fail": "fail", "pass": "pass", "no-verdict": "no verdict", "import-only": "pass",
    "bimodal-memory": "fail", "many-tests": "fail",
}  # fmt: skip
#: The comment's sections in the order a reviewer needs them; those marked True are always
#: there, the others only when they have something to say.
SECTIONS = (
    ("| metric |", True),
    ("#### Which test, which import", False),
    ("**To get a verdict**", False),
    ("<summary>Details</summary>", True),
    ("<summary>Runs in the order they ran", False),
    ("<summary>Raw runs</summary>", True),
)


@pytest.mark.parametrize("name", SAMPLE_HEADLINES)
def test_each_sample_comment_has_its_headline_its_order_and_fits(name: str):
    text = markdown.render_comment(SAMPLES[name](), marker="perfgate")
    body = text.split("\n", 1)[1]
    assert body.startswith(HEADLINES[SAMPLE_HEADLINES[name]])
    assert_every_red_is_in_the_headline(body)
    assert len(text.encode()) <= GITHUB_LIMIT_BYTES
    assert outside_markup(text) == []
    present = [marker for marker, always in SECTIONS if always or marker in body]
    assert all(marker in body for marker, always in SECTIONS if always)
    sections_in_order(body, *present)


def test_a_bimodal_peak_memory_is_said_under_the_table_and_charted():
    results = SAMPLES["bimodal-memory"]()
    head = results.sides["head"].samples
    low, high = BIMODAL_BYTES
    levels = [sum(s.tree_peak_rss_bytes == level for s in head) for level in BIMODAL_BYTES]
    assert levels == [5, 5]  # alternating over 10 runs
    # the median of five runs at 50 MB and five at 80 MB is 65 MB, by hand
    expected_row = "| peak memory | 50.0 MB | 65.0 MB |"
    note = (
        "- ⚠️ peak memory: head runs at two levels: "
        f"5 at {low / 1e6:.1f} MB and 5 at {high / 1e6:.1f} MB"
    )
    text = markdown.render_comment(results)
    assert expected_row in text
    table_end = text.index("\n\n", text.index(expected_row))
    assert text[table_end:].lstrip("\n").startswith(note)
    sections_in_order(text, note, "<summary>Details</summary>", 'title "peak memory per run')
    assert f"note: {note[5:]}" in console.render_gate(results)


def test_the_render_script_draws_a_saved_results_file_as_github_would(tmp_path: Path):
    saved = tmp_path / "bimodal.json"
    SAMPLES["bimodal-memory"]().write(saved)
    out = tmp_path / "pages"
    script = Path(__file__).resolve().parent.parent / "bench" / "render_comments.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(out), str(saved)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    page = (out / "bimodal.html").read_text()
    assert "<h3>❌ perfgate: fail: wall time +" in page
    assert page.count('<pre class="mermaid">') == 2  # wall time and the two-level memory
    assert "<td>peak memory</td>" in page and "```" not in page
    assert (out / "bimodal.md").read_text().startswith("<!-- perfgate:perfgate -->\n### ❌")
    assert "href='bimodal.html'" in (out / "index.html").read_text()
    assert done.stdout.splitlines()[-1] == str(out / "index.html")


def test_several_findings_of_a_kind_are_counted_with_their_plural():
    """Two of each kind: '2 slower tests', '2 slower groups of tests', '2 hungrier tests'
    (a real gate once printed '8 slower group of testss')."""
    slower = (slower_test("tests/test_a.py::test_x"), slower_test("tests/test_a.py::test_y"))
    groups = tuple(
        bd.GroupChange("file", 12, slower_test(name)) for name in ("tests/a.py", "tests/b.py")
    )
    hungrier = tuple(
        dataclasses.replace(t, metric="memory")
        for t in (slower_test("t.py::a"), slower_test("t.py::b"))
    )
    suite = dataclasses.replace(
        suite_comparison(slower), group_regressions=groups, memory_regressions=hungrier
    )
    text = markdown.render_comment(
        with_breakdown(make_results(slowdown=1.3), Breakdown(tests=suite))
    )
    first = text.splitlines()[0]
    assert "2 slower tests" in first and "2 hungrier tests" in first, first
    assert "2 slower groups of tests" in first and "testss" not in first, first
