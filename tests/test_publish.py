"""Publishing a verdict against the fake GitHub: one comment per gate, a status per push."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from github_server import TOKEN

from perfgate.github.api import GitHubAPI
from perfgate.github.publish import (
    STATUS_DESCRIPTION_LIMIT,
    fit_comment,
    publish,
    status_description,
    status_state,
)
from perfgate.report.format import GITHUB_COMMENT_LIMIT
from perfgate.report.markdown import render_comment
from perfgate.results import Comparison, Results, Sample, Side

REPO = "octo/widgets"
SHA = "c" * 40
#: The hidden line under the marker: the head commit the comment speaks for.
STAMP = f"<!-- perfgate-run: head={SHA} -->"
RUN_URL = "https://github.example/octo/widgets/actions/runs/42"


@pytest.fixture(autouse=True)
def pull_requests(github_server) -> None:
    """Pull requests 1 to 20 of REPO, each with SHA as its head (GitHub refuses others)."""
    for number in range(1, 21):
        github_server.add_pull(REPO, number, SHA)


def client(server, **kwargs) -> GitHubAPI:
    return GitHubAPI(server.url, TOKEN, sleep=lambda s: None, clock=lambda: 0.0, **kwargs)


def results(verdict: str = "fail") -> Results:
    wall = "regression" if verdict == "fail" else "unchanged"
    comparisons = (
        Comparison("wall_time", 0.4, 0.52, 0.3, (0.25, 0.35), 0.001, 0.05, wall),
        Comparison("cpu_time", 0.4, 0.41, 0.01, (-0.01, 0.02), 0.4, 0.05, "unchanged"),
        Comparison("peak_memory", 5e7, 5e7, 0.0, (0.0, 0.0), 1.0, 0.1, "unchanged"),
    )
    runs = tuple(Sample(0.4, 0.4, 5 * 10**7, 5 * 10**7, 0, k) for k in range(5))
    sides = {"base": Side("main", "a" * 40, runs), "head": Side("pr", SHA, runs)}
    return Results(verdict, sides, comparisons, command="pytest -q")


def ours(server, number: int, context: str = "perfgate") -> list[dict]:
    tag = f"<!-- perfgate:{context} -->"
    return [c for c in server.comments.get((REPO, number), []) if c["body"].startswith(tag)]


def test_comment_created_once_then_edited_even_on_a_later_page(github_server) -> None:
    github_server.add_comments(REPO, 7, [f"chatter {i}" for i in range(120)])
    api = client(github_server)
    first = publish(results(), "first body", api=api, repo=REPO, sha=SHA, pr_number=7)
    assert first.comment_action == "created" and first.status_state == "failure"
    assert first.comment_url and first.comment_url.startswith("https://github.example/")
    github_server.add_comments(REPO, 7, [f"more chatter {i}" for i in range(90)])
    second = publish(results(), "second body", api=api, repo=REPO, sha=SHA, pr_number=7)
    assert second.comment_action == "updated" and second.comment_url == first.comment_url
    (comment,) = ours(github_server, 7)
    assert comment["body"] == f"<!-- perfgate:perfgate -->\n{STAMP}\nsecond body"
    assert len(github_server.comments[(REPO, 7)]) == 211
    statuses = github_server.statuses[(REPO, SHA)]
    assert [(s["context"], s["state"]) for s in statuses] == [("perfgate", "failure")] * 2


def test_a_rendered_comment_is_posted_as_it_was_rendered(github_server) -> None:
    body = render_comment(results(), marker="perfgate", run_url=RUN_URL)
    publish(results(), body, api=client(github_server), repo=REPO, sha=SHA, pr_number=2)
    (comment,) = ours(github_server, 2)
    marker, rest = body.split("\n", 1)
    assert comment["body"] == f"{marker}\n{STAMP}\n{rest}"
    assert "wall time" in body and body.count("<!-- perfgate:perfgate -->") == 1


def test_a_second_gate_keeps_its_own_comment(github_server) -> None:
    api = client(github_server)
    publish(results(), "time gate", api=api, repo=REPO, sha=SHA, pr_number=3)
    publish(results("pass"), "memory gate", api=api, repo=REPO, sha=SHA, pr_number=3,
            context="perfgate-memory")  # fmt: skip
    publish(results(), "time gate again", api=api, repo=REPO, sha=SHA, pr_number=3)
    bodies = [c["body"] for c in github_server.comments[(REPO, 3)]]
    assert bodies == [
        f"<!-- perfgate:perfgate -->\n{STAMP}\ntime gate again",
        f"<!-- perfgate:perfgate-memory -->\n{STAMP}\nmemory gate",
    ]
    states = [(s["context"], s["state"]) for s in github_server.statuses[(REPO, SHA)]]
    assert states == [("perfgate", "failure"), ("perfgate-memory", "success")] + [
        ("perfgate", "failure")
    ]


def test_a_marker_quoted_inside_another_comment_is_not_ours(github_server) -> None:
    github_server.add_comments(REPO, 4, ["> <!-- perfgate:perfgate -->\n> quoted by a human"])
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA, pr_number=4)
    assert report.comment_action == "created"
    assert github_server.comments[(REPO, 4)][0]["body"].startswith("> ")


def test_read_only_token_is_a_warning_not_a_crash(github_server) -> None:
    github_server.read_only()  # reads work, writes get 403 as a fork's token does
    report = publish(results(), "body", api=client(github_server), repo=REPO, sha=SHA,
                     pr_number=9, run_url=RUN_URL)  # fmt: skip
    assert report.comment_action == "failed" and report.status_state is None
    assert report.errors == () and len(report.warnings) == 2
    assert "Resource not accessible by integration" in report.warnings[0]
    assert "read-only token" in report.warnings[0] and "commit status" in report.warnings[1]
    assert (REPO, 9) not in github_server.comments and not github_server.statuses


def test_api_down_is_an_error_in_the_report(github_server) -> None:
    github_server.server_errors("GET|POST|PATCH", r".*", times=100, status=503)
    report = publish(results("pass"), "b", api=client(github_server, max_retries=2), repo=REPO,
                     sha=SHA, pr_number=5)  # fmt: skip
    assert report.comment_action == "failed" and report.status_state is None
    assert len(report.errors) == 2 and report.warnings == ()
    assert "HTTP 503" in report.errors[0] and "commit status" in report.errors[1]


def test_unreachable_api_is_an_error_in_the_report() -> None:
    api = GitHubAPI("http://127.0.0.1:9", TOKEN, max_retries=1, sleep=lambda s: None)
    report = publish(results(), "b", api=api, repo=REPO, sha=SHA, pr_number=5)
    assert report.comment_action == "failed" and report.status_state is None
    assert all("could not be reached" in e for e in report.errors) and len(report.errors) == 2
    assert all(TOKEN not in m for m in report.errors)


def test_bad_credentials_are_an_error_not_a_fork_warning(github_server) -> None:
    api = GitHubAPI(github_server.url, "expired", sleep=lambda s: None)
    report = publish(results(), "b", api=api, repo=REPO, sha=SHA, pr_number=5)
    assert report.warnings == () and len(report.errors) == 2
    assert "401" in report.errors[0]


def test_a_create_that_landed_but_failed_is_not_made_twice(github_server) -> None:
    # GitHub's front end answers 502 although the comment was made.
    github_server.fail("POST", r".*/comments", 502, then_apply=True)
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA, pr_number=6)
    assert report.comment_action == "updated"
    assert len(github_server.comments[(REPO, 6)]) == 1
    # The pull request's head, the token's identity, the comments, the create that
    # failed, the comments again (it is there), the edit, the status.
    comments = f"/repos/{REPO}/issues/6/comments"
    assert github_server.log() == [
        f"GET /repos/{REPO}/pulls/6", "GET /user", f"GET {comments}?per_page=100",
        f"POST {comments}", f"GET {comments}?per_page=100",
        f"PATCH /repos/{REPO}/issues/comments/{github_server.comments[(REPO, 6)][0]['id']}",
        f"POST /repos/{REPO}/statuses/{SHA}",
    ]  # fmt: skip


def test_a_create_that_timed_out_is_not_made_twice(github_server) -> None:
    github_server.slow("POST", r".*/comments", delay_s=1.5)
    api = client(github_server, timeout_s=0.3)
    report = publish(results(), "b", api=api, repo=REPO, sha=SHA, pr_number=8)
    assert report.comment_action == "updated" and report.errors == ()
    assert len(github_server.comments[(REPO, 8)]) == 1


def test_a_create_that_failed_before_landing_is_tried_again(github_server) -> None:
    github_server.fail("POST", r".*/comments", 502)  # no then_apply: nothing was made
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA, pr_number=6)
    assert report.comment_action == "created"
    assert len(github_server.comments[(REPO, 6)]) == 1


def test_status_target_url_and_no_comment_when_not_asked(github_server) -> None:
    publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA, pr_number=11,
            comment=False, run_url=RUN_URL)  # fmt: skip
    (status,) = github_server.statuses[(REPO, SHA)]
    assert status["target_url"] == RUN_URL
    assert [r.method for r in github_server.requests] == ["POST"]


def test_no_pull_request_means_a_status_only(github_server) -> None:
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA, pr_number=None)
    assert report.comment_action == "skipped" and report.status_state == "failure"
    assert "target_url" not in github_server.requests[0].body


def test_states() -> None:
    assert status_state(results("pass")) == "success"
    assert status_state(results("fail")) == "failure"
    assert status_state(Results("error", {}, error="boom")) == "error"
    assert status_state(Results(None, {})) == "error"


def test_descriptions_say_what_moved_first() -> None:
    assert status_description(results()) == (
        "wall time +30.0% (regression); CPU time unchanged; peak memory unchanged"
    )
    assert status_description(results("pass")) == (
        "wall time unchanged; CPU time unchanged; peak memory unchanged"
    )
    noisy = Comparison("wall_time", 1, 1, 0.0, (-0.2, 0.2), 0.5, 0.05, "inconclusive")
    assert status_description(Results("pass", {}, (noisy,))) == (
        "no verdict: wall time too noisy to tell"
    )
    assert status_description(Results("pass", {}, ())) == "no regression"
    error = Results("error", {}, error="the benchmark failed on head\nlong tail")
    assert status_description(error) == "error: the benchmark failed on head"


@pytest.mark.parametrize("metrics", [3, 8, 40])
def test_descriptions_fit_and_github_accepts_them(github_server, metrics: int) -> None:
    many = tuple(
        Comparison(f"metric_number_{i}", 1, 2, 1.0, (0.9, 1.1), 0.001, 0.05, "regression")
        for i in range(metrics)
    ) + (Comparison("peak_memory", 1, 1, 0, (0, 0), 1, 0.1, "unchanged"),)
    text = status_description(Results("fail", {}, many))
    assert len(text) <= STATUS_DESCRIPTION_LIMIT and text.startswith("metric number 0 +100%")
    report = publish(Results("fail", {}, many), "b", api=client(github_server), repo=REPO,
                     sha=SHA, pr_number=None)  # fmt: skip
    assert report.status_state == "failure", report.errors


def test_a_huge_body_is_cut_to_what_github_accepts(github_server) -> None:
    body = fit_comment("x" * 100_000, "perfgate")
    assert len(body.encode()) == GITHUB_COMMENT_LIMIT and body.startswith(
        "<!-- perfgate:perfgate -->"
    )
    emoji = fit_comment("✅" * 30_000, "perfgate")  # 90,000 bytes in 30,000 characters
    assert 65_530 < len(emoji.encode()) <= GITHUB_COMMENT_LIMIT
    assert body.endswith("cut to fit GitHub's comment size limit")
    report = publish(results(), "y" * 70_000, api=client(github_server), repo=REPO, sha=SHA,
                     pr_number=1)  # fmt: skip
    assert report.comment_action == "created", report.errors
    assert len(github_server.comments[(REPO, 1)][0]["body"]) <= GITHUB_COMMENT_LIMIT


def run_publish(server, path, *args, token=TOKEN):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_API_URL": server.url, "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": SHA})
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "perfgate", "publish", str(path), *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_publish_command_posts_once_and_edits_after(tmp_path, github_server) -> None:
    path = tmp_path / "results.json"
    results().write(path)
    first = run_publish(github_server, path, "--pr", "4")
    assert first.returncode == 0, first.stderr
    assert "comment created" in first.stdout and "status 'perfgate'" in first.stdout
    second = run_publish(github_server, path, "--pr", "4")
    assert "comment updated" in second.stdout
    assert len(github_server.comments[(REPO, 4)]) == 1
    assert github_server.statuses[(REPO, SHA)][-1]["state"] == "failure"


def test_publish_command_needs_a_token_and_reports_server_errors(tmp_path, github_server) -> None:
    path = tmp_path / "results.json"
    results().write(path)
    missing = run_publish(github_server, path, token="")
    assert missing.returncode == 2 and "GITHUB_TOKEN" in missing.stderr
    github_server.fail("POST", r".*/statuses/.*", 500, times=20)
    broken = run_publish(github_server, path, "--no-comment")
    assert broken.returncode == 4 and "commit status" in broken.stderr


def test_a_status_on_a_commit_github_does_not_have_is_an_error_not_a_fork_warning(
    github_server,
) -> None:
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha="9" * 40,
                     pr_number=None)  # fmt: skip
    assert report.status_state is None and report.warnings == ()
    assert len(report.errors) == 1 and "HTTP 422: Validation Failed" in report.errors[0]


def test_a_pull_request_that_does_not_exist_is_an_error_not_a_fork_warning(github_server) -> None:
    report = publish(results(), "b", api=client(github_server), repo=REPO, sha=SHA,
                     pr_number=404)  # fmt: skip
    assert report.comment_action == "failed" and report.warnings == ()
    assert "pull request #404 does not exist in octo/widgets" in report.errors[0]
    assert report.status_state == "failure"
