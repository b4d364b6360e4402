"""Red team: what a hostile pull request can write into the comment, and where it can post it.

Each test is one attack of issue 12 as its review found it (the exact
payloads), run against the real renderer and `perfgate publish` against the
GitHub stand-in on 127.0.0.1.  The comment is read back the way GitHub shows
it (tests/markdown_check.py): an independent CommonMark renderer, then the
mentions and references GitHub would act on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from git_helpers import make_repo
from github_server import PAT, TOKEN
from markdown_check import outside_markup, shown
from report_helpers import make_error, make_results

from perfgate.compare import tests as breakdown
from perfgate.compare.imports import ImportComparison, ModuleImportChange, NewHeavyModule
from perfgate.compare.leaks import Leak
from perfgate.errors import ConfigError
from perfgate.github import action, runner_contract
from perfgate.github.api import GitHubAPI, GitHubError
from perfgate.github.publish import publish
from perfgate.report import details, format, markdown
from perfgate.report.breakdown import NOTE_CHARS
from perfgate.results import Environment, Results

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


def _change(nodeid: str, kind: str = "time") -> breakdown.TestChange:
    return breakdown.TestChange(
        nodeid, kind, 0.1, 0.3, 0.2, (0.15, 0.25), 2.0, (1.5, 2.5), 0.001, 0.001, ""
    )


def hostile_breakdown(names: tuple[str, ...]) -> dict:
    """Per-test and import evidence whose every name is one the pull request chose."""
    tests = breakdown.TestsComparison(
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
    return breakdown.Breakdown(tests=tests, imports=imports, notes=names).to_json()


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
    assert seen.tags.count("h3") == 1, "the headline only"
    assert seen.tags.count("h4") == 1, "'Which test, which import', a size below the headline"
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
    evidence = text[text.index("#### Which test, which import") :]
    evidence = evidence[: evidence.index("<details>")]
    # A table cell holds the first 199 characters and "…": "tests/test_x.py::test_" is 22.
    assert "| `tests/test_x.py::test_" + "a" * 177 + "…` |" in evidence
    assert "a" * NOTE_CHARS not in evidence, "a note, perfgate's words around names, is cut too"
    assert "a" * details.COMMAND_CHARS not in text
    assert len(text) <= format.GITHUB_COMMENT_LIMIT


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


# --- Trust from the trusted side: `perfgate publish` in the fork-safe pattern -----------------

REPO = "octo/widgets"
VICTIM_HEAD = "a" * 40  # pull request 7, a maintainer's, whose genuine verdict is "fail"
ATTACKER_HEAD = "e" * 40  # pull request 8, from the fork mallory/widgets, branch "evil"
MERGE = "f" * 40  # what a pull_request run measures as head: the merge commit
GENUINE = "<!-- perfgate:perfgate -->\n### ❌ perfgate: fail — wall time +30.0% (regression)"


def forged_results(head_sha: str = VICTIM_HEAD) -> Results:
    """What a hostile run uploads: a pass, naming a head commit of its choice."""
    results = make_results()
    sides = dict(results.sides)
    sides["head"] = dataclasses.replace(sides["head"], sha=head_sha)
    return dataclasses.replace(results, verdict="pass", sides=sides)


def workflow_run_event(tmp_path: Path, head_sha: str = ATTACKER_HEAD, listed: bool = False):
    """The workflow_run payload GitHub sends the trusted workflow: the measuring run's head
    commit, branch and repository; `pull_requests` is empty for a fork's pull request."""
    pulls = [{"number": 8, "head": {"sha": head_sha}, "base": {"sha": "b" * 40}}]
    payload = {
        "action": "completed",
        "workflow_run": {
            "id": 555, "event": "pull_request", "head_sha": head_sha, "head_branch": "evil",
            "head_repository": {"full_name": "mallory/widgets"},
            "html_url": f"https://github.example/{REPO}/actions/runs/555",
            "pull_requests": pulls if listed else [],
        },
        "repository": {"full_name": REPO},
    }  # fmt: skip
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


def pull_request_event(tmp_path: Path, number: int, head: str) -> Path:
    payload = {
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head}, "base": {"sha": "b" * 40}},
        "repository": {"full_name": REPO},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return path


def publish_cli(server, results: Results, tmp_path: Path, event: Path, *args, token=TOKEN):
    path = tmp_path / "results.json"
    results.write(path)
    name = json.loads(event.read_text()).get("workflow_run") and "workflow_run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({
        "GITHUB_API_URL": server.url, "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": token,
        "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": name or "pull_request",
        "GITHUB_SHA": "d" * 40, "GITHUB_RUN_ID": "600",
        "GITHUB_SERVER_URL": "https://github.example",
    })  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "perfgate", "publish", str(path), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def two_pull_requests(github_server):
    """The victim's pull request 7 with its genuine comment, and the attacker's fork PR 8."""
    github_server.add_pull(REPO, 7, VICTIM_HEAD)
    github_server.add_pull(REPO, 8, ATTACKER_HEAD, head_repo="mallory/widgets", head_ref="evil")
    github_server.add_comments(REPO, 7, [GENUINE], token=TOKEN)
    return github_server


def test_a_forged_pr_number_cannot_edit_another_pull_requests_verdict(
    tmp_path, two_pull_requests
) -> None:
    server = two_pull_requests
    result = publish_cli(server, forged_results(), tmp_path, workflow_run_event(tmp_path),
                         "--pr", "7")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [c["body"] for c in server.comments[(REPO, 7)]] == [GENUINE]
    assert (REPO, VICTIM_HEAD) not in server.statuses
    (status,) = server.statuses[(REPO, ATTACKER_HEAD)]  # its own commit: its own claim
    assert status["state"] == "success"
    assert "head is now aaaaaaaaaaaa, not eeeeeeeeeeee" in result.stderr


def test_the_status_goes_on_the_commit_the_event_names_not_the_files(
    tmp_path, two_pull_requests
) -> None:
    server = two_pull_requests
    result = publish_cli(server, forged_results(VICTIM_HEAD), tmp_path,
                         workflow_run_event(tmp_path), "--no-comment")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (REPO, VICTIM_HEAD) not in server.statuses
    assert [s["state"] for s in server.statuses[(REPO, ATTACKER_HEAD)]] == ["success"]


def test_a_sha_that_is_not_the_runs_is_refused(tmp_path, two_pull_requests) -> None:
    server = two_pull_requests
    result = publish_cli(server, forged_results(), tmp_path, workflow_run_event(tmp_path),
                         "--sha", VICTIM_HEAD)  # fmt: skip
    assert result.returncode == 2
    assert "is not the commit the triggering run measured" in result.stderr
    assert not server.statuses and server.seen("POST") == []


def test_a_forks_pull_request_is_found_from_the_event_and_told_the_figures_are_a_claim(
    tmp_path, two_pull_requests
) -> None:
    server = two_pull_requests
    result = publish_cli(server, forged_results(), tmp_path, workflow_run_event(tmp_path))
    assert result.returncode == 0, result.stderr
    (comment,) = server.comments[(REPO, 8)]
    assert comment["user"]["login"] == "github-actions[bot]"
    assert (
        "These figures are the claim of the workflow run that measured `eeeeeeeeeeee`"
        in (comment["body"])
    )
    assert f"GET /repos/{REPO}/pulls?state=open&head=mallory:evil" in server.log()
    (status,) = server.statuses[(REPO, ATTACKER_HEAD)]
    assert status["target_url"] == f"https://github.example/{REPO}/actions/runs/555"


def test_a_listed_pull_request_is_taken_from_the_event(tmp_path, two_pull_requests) -> None:
    server = two_pull_requests
    result = publish_cli(server, forged_results(), tmp_path,
                         workflow_run_event(tmp_path, listed=True))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(server.comments[(REPO, 8)]) == 1
    assert not [line for line in server.log() if "head=" in line]


def test_a_pull_request_that_does_not_exist_is_exit_2_not_a_fork_warning(
    tmp_path, two_pull_requests
) -> None:
    server = two_pull_requests
    event = pull_request_event(tmp_path, 8, ATTACKER_HEAD)
    result = publish_cli(server, forged_results(), tmp_path, event, "--pr", "999")
    assert result.returncode == 2
    assert "pull request #999 does not exist in octo/widgets" in result.stderr
    assert server.seen("POST") == [] and "read-only" not in result.stderr


def test_in_a_pull_request_run_the_status_goes_on_the_head_not_the_merge_commit(
    tmp_path, two_pull_requests
) -> None:
    server = two_pull_requests
    event = pull_request_event(tmp_path, 8, ATTACKER_HEAD)
    result = publish_cli(server, forged_results(MERGE), tmp_path, event)
    assert result.returncode == 0, result.stderr
    assert (REPO, MERGE) not in server.statuses
    assert len(server.statuses[(REPO, ATTACKER_HEAD)]) == 1


def test_a_403_in_publish_is_exit_4_not_a_silent_pass(tmp_path, two_pull_requests) -> None:
    server = two_pull_requests
    server.read_only()
    result = publish_cli(server, forged_results(), tmp_path, workflow_run_event(tmp_path))
    assert result.returncode == 4
    assert "Resource not accessible by integration" in result.stderr


# --- The comment is perfgate's own -----------------------------------------------------------


def publish_to(server, number: int, sha: str, *, token: str = TOKEN, **kwargs):
    api = GitHubAPI(server.url, token, sleep=lambda s: None)
    return publish(make_results(), "the verdict", api=api, repo=REPO, sha=sha,
                   pr_number=number, **kwargs)  # fmt: skip


def test_a_strangers_comment_with_the_marker_is_not_taken_over(github_server) -> None:
    github_server.add_pull(REPO, 3, VICTIM_HEAD)
    forged = "<!-- perfgate:perfgate -->\n### ✅ perfgate: pass"
    github_server.add_comments(REPO, 3, [forged])  # by mallory, a User
    report = publish_to(github_server, 3, VICTIM_HEAD)
    assert report.comment_action == "created"
    stranger, ours = github_server.comments[(REPO, 3)]
    assert stranger["body"] == forged and stranger["user"]["login"] == "mallory"
    assert ours["user"] == {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}


def test_a_personal_token_finds_its_own_comment_by_its_login(github_server) -> None:
    github_server.add_pull(REPO, 3, VICTIM_HEAD)
    github_server.add_comments(REPO, 3, [GENUINE], token=TOKEN)  # the Actions bot's
    first = publish_to(github_server, 3, VICTIM_HEAD, token=PAT)
    second = publish_to(github_server, 3, VICTIM_HEAD, token=PAT)
    assert (first.comment_action, second.comment_action) == ("created", "updated")
    bot, mine = github_server.comments[(REPO, 3)]
    assert bot["body"] == GENUINE and mine["user"]["login"] == "octo-maintainer"


def test_an_older_push_finishing_late_leaves_the_newer_heads_verdict(github_server) -> None:
    old, new = "1" * 40, "2" * 40
    github_server.add_pull(REPO, 4, old)
    publish_to(github_server, 4, old)
    github_server.push(REPO, 4, new)
    newer = publish_to(github_server, 4, new)
    late = publish_to(github_server, 4, old)
    assert newer.comment_action == "updated" and late.comment_action == "skipped"
    (comment,) = github_server.comments[(REPO, 4)]
    assert comment["body"].splitlines()[1] == f"<!-- perfgate-run: head={new} -->"
    assert len(github_server.statuses[(REPO, old)]) == 2, "its own commit's status still"
    assert "head is now 222222222222, not 111111111111" in late.warnings[0]


def test_a_rerun_of_an_older_run_of_the_same_head_does_not_overwrite(github_server) -> None:
    github_server.add_pull(REPO, 4, VICTIM_HEAD)
    publish_to(github_server, 4, VICTIM_HEAD, run_id="21")
    report = publish_to(github_server, 4, VICTIM_HEAD, run_id="20")
    assert report.comment_action == "skipped"
    (comment,) = github_server.comments[(REPO, 4)]
    assert "run=21" in comment["body"].splitlines()[1]


def test_the_marker_is_matched_in_any_case_as_github_matches_contexts(github_server) -> None:
    github_server.add_pull(REPO, 5, VICTIM_HEAD)
    github_server.add_comments(REPO, 5, ["<!-- perfgate:Perfgate -->\nold"], token=TOKEN)
    report = publish_to(github_server, 5, VICTIM_HEAD, context="perfgate")
    assert report.comment_action == "updated"
    assert len(github_server.comments[(REPO, 5)]) == 1


def test_two_runs_at_once_leave_one_comment(github_server) -> None:
    github_server.add_pull(REPO, 6, VICTIM_HEAD)
    other = "<!-- perfgate:perfgate -->\nthe other run's verdict"

    def the_other_run_creates_first(request) -> None:  # noqa: ANN001
        if request.method == "POST" and request.path.endswith("/issues/6/comments"):
            github_server.on_request = None
            github_server.add_comments(REPO, 6, [other], token=TOKEN)

    github_server.on_request = the_other_run_creates_first
    report = publish_to(github_server, 6, VICTIM_HEAD)
    (comment,) = github_server.comments[(REPO, 6)]
    assert report.comment_action == "updated" and comment["body"].endswith("the verdict")
    assert any(line.startswith("DELETE ") for line in github_server.log())


# --- Lower: sizes and limits ------------------------------------------------------------------


def test_a_comment_of_emoji_stays_within_the_limit_in_bytes() -> None:
    names = tuple(f"test_{i}_" + "✅" * 150 for i in range(400))
    results = dataclasses.replace(
        make_results(runs=300), breakdown=hostile_breakdown(names)
    )  # fmt: skip
    text = markdown.render_comment(results, marker="perfgate")
    assert len(text.encode()) <= format.GITHUB_COMMENT_LIMIT
    assert "#### Which test, which import" in text


def test_a_rate_limit_without_retry_after_waits_a_minute_and_gives_up_in_time(
    github_server,
) -> None:
    github_server.add_pull(REPO, 1, VICTIM_HEAD)
    github_server.fail("GET", r".*/comments", 429, times=100, body={"message": "slow down"})
    waits: list[float] = []
    api = GitHubAPI(github_server.url, TOKEN, sleep=waits.append, max_retries=10)
    with pytest.raises(GitHubError, match="HTTP 429"):
        list(api.paginate(f"/repos/{REPO}/issues/1/comments"))
    assert waits[0] == 60.0 and sum(waits) <= 180.0


# --- The gate's settings come from the base commit -------------------------------------------


def gate_repo(tmp_path: Path):
    """Base with a strict .perfgate.yml; the PR loosens it and adds a config of its own."""
    strict = "command: python bench.py\nruns: 12\ntime-threshold: 5%\n"
    repo = make_repo(tmp_path / "repo", {"bench.py": "pass\n", ".perfgate.yml": strict})
    base = repo.sha()
    loose = "command: python bench.py\nruns: 4\ntime-threshold: 99%\n"
    head = repo.commit({".perfgate.yml": loose, "perf/loose.yml": loose}, "loosen the gate")
    return repo, base, head


def action_context(tmp_path: Path, name: str, payload: dict) -> runner_contract.GitHubContext:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({**payload, "repository": {"full_name": REPO}}))
    environ = {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path), "GITHUB_SHA": "0" * 40}
    return runner_contract.GitHubContext.from_env(environ)


def test_a_named_config_the_base_lacks_is_an_error_not_the_prs_copy(tmp_path) -> None:
    repo, base, head = gate_repo(tmp_path)
    context = action_context(tmp_path, "pull_request", {
        "number": 3, "pull_request": {"base": {"sha": base}, "head": {"sha": head}},
    })  # fmt: skip
    with pytest.raises(ConfigError, match="perf/loose.yml is not in the base commit"):
        action.load_config({"config": "perf/loose.yml"}, context, repo.path)


def test_a_merge_group_reads_its_settings_from_the_queues_base(tmp_path) -> None:
    repo, base, head = gate_repo(tmp_path)
    context = action_context(tmp_path, "merge_group", {
        "merge_group": {"base_sha": base, "head_sha": head, "head_ref": "gh-readonly-queue/x"},
    })  # fmt: skip
    cfg = action.load_config({}, context, repo.path)
    assert (cfg.runs, cfg.time_threshold, cfg.base) == (12, 0.05, base)


def test_a_base_input_that_looks_like_an_option_is_refused(tmp_path) -> None:
    repo, _, _ = gate_repo(tmp_path)
    written = tmp_path / "written"
    context = action_context(tmp_path, "push", {})
    with pytest.raises(ConfigError, match="starts with '-'"):
        action.load_config({"base": f"--output={written}"}, context, repo.path)
    assert not list(tmp_path.glob("written*"))


def test_the_base_configuration_copy_is_removed_once_read(tmp_path, monkeypatch) -> None:
    repo, base, head = gate_repo(tmp_path)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    context = action_context(tmp_path, "pull_request", {
        "number": 3, "pull_request": {"base": {"sha": base}, "head": {"sha": head}},
    })  # fmt: skip
    cfg = action.load_config({}, context, repo.path)
    assert cfg.runs == 12 and list(temp.iterdir()) == []
