"""The API client and the publisher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from github_server import TOKEN

from perfgate.github.api import GitHubAPI, GitHubError
from perfgate.github.publish import (
    STATUS_DESCRIPTION_LIMIT,
    fit_comment,
    publish,
    status_description,
)
from perfgate.report.markdown import GITHUB_COMMENT_LIMIT
from perfgate.results import Comparison, Results, Side

REPO = "octo/widgets"
SHA = "c" * 40


def client(server, **kwargs) -> tuple[GitHubAPI, list[float]]:
    waits: list[float] = []
    api = GitHubAPI(server.url, TOKEN, sleep=waits.append, clock=lambda: 1_000.0, **kwargs)
    return api, waits


def results(verdict: str = "fail") -> Results:
    comparisons = (
        Comparison("wall_time", 0.4, 0.52, 0.3, (0.25, 0.35), 0.001, 0.05, "regression"),
        Comparison("peak_memory", 5e7, 5e7, 0.0, (0.0, 0.0), 1.0, 0.1, "unchanged"),
    )
    return Results(verdict, {"base": Side("main", "a" * 40), "head": Side("pr", SHA)}, comparisons)


def test_retries_5xx_then_succeeds(github_server) -> None:
    github_server.fail("POST", r"/repos/.*/statuses/.*", 502, times=2)
    api, waits = client(github_server)
    api.post(f"/repos/{REPO}/statuses/{SHA}", {"state": "success", "context": "perfgate"})
    assert len(github_server.seen("POST")) == 3
    assert waits == [1.0, 2.0]
    assert github_server.statuses[(REPO, SHA)][0]["state"] == "success"


def test_429_honours_retry_after(github_server) -> None:
    github_server.fail("GET", r".*/comments", 429, headers={"Retry-After": "7"})
    api, waits = client(github_server)
    assert list(api.paginate(f"/repos/{REPO}/issues/1/comments")) == []
    assert waits == [7.0]


def test_secondary_rate_limit_waits_until_reset(github_server) -> None:
    github_server.fail(
        "GET", r".*/comments", 403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1012"},
        body={"message": "You have exceeded a secondary rate limit."},
    )  # fmt: skip
    api, waits = client(github_server)
    list(api.paginate(f"/repos/{REPO}/issues/1/comments"))
    assert waits == [12.0]


def test_gives_up_after_max_retries_with_a_clear_error(github_server) -> None:
    github_server.fail("POST", r".*", 500, times=10)
    api, waits = client(github_server, max_retries=2)
    with pytest.raises(GitHubError, match="HTTP 500") as raised:
        api.post(f"/repos/{REPO}/statuses/{SHA}", {"state": "success"})
    assert raised.value.status == 500
    assert len(waits) == 2


def test_slow_response_times_out_and_is_retried(github_server) -> None:
    github_server.fail("POST", r".*", 201, delay_s=1.5)
    api, waits = client(github_server, timeout_s=0.3)
    api.post(f"/repos/{REPO}/statuses/{SHA}", {"state": "success", "context": "x"})
    assert waits == [1.0]
    assert len(github_server.statuses[(REPO, SHA)]) == 1


def test_unreachable_api_is_a_github_error() -> None:
    api = GitHubAPI("http://127.0.0.1:9", TOKEN, max_retries=1, sleep=lambda s: None)
    with pytest.raises(GitHubError, match="could not be reached"):
        api.get("/repos/x/y")


def test_bad_token_is_refused(github_server) -> None:
    api = GitHubAPI(github_server.url, "wrong", max_retries=0)
    with pytest.raises(GitHubError, match="401"):
        api.get(f"/repos/{REPO}/issues/1/comments")


def test_pagination_follows_link_headers(github_server) -> None:
    github_server.add_comments(REPO, 5, [f"comment {i}" for i in range(250)])
    api, _ = client(github_server)
    bodies = [c["body"] for c in api.paginate(f"/repos/{REPO}/issues/5/comments")]
    assert bodies == [f"comment {i}" for i in range(250)]
    assert len(github_server.seen("GET")) == 3


def test_comment_created_once_then_edited_even_on_a_later_page(github_server) -> None:
    github_server.add_comments(REPO, 7, [f"chatter {i}" for i in range(120)])
    api, _ = client(github_server)
    first = publish(results(), "first body", api=api, repo=REPO, sha=SHA, pr_number=7)
    assert first.comment_action == "created" and first.status_state == "failure"
    github_server.add_comments(REPO, 7, [f"more chatter {i}" for i in range(90)])
    second = publish(results(), "second body", api=api, repo=REPO, sha=SHA, pr_number=7)
    assert second.comment_action == "updated"
    ours = [c for c in github_server.comments[(REPO, 7)] if "perfgate:perfgate" in c["body"]]
    assert len(ours) == 1 and ours[0]["body"].endswith("second body")
    statuses = github_server.statuses[(REPO, SHA)]
    assert [s["context"] for s in statuses] == ["perfgate", "perfgate"]
    assert statuses[0]["description"] == "wall time +30.0% (regression)"


def test_a_second_gate_keeps_its_own_comment(github_server) -> None:
    api, _ = client(github_server)
    publish(results(), "time gate", api=api, repo=REPO, sha=SHA, pr_number=3)
    publish(results("pass"), "memory gate", api=api, repo=REPO, sha=SHA, pr_number=3,
            context="perfgate-memory")  # fmt: skip
    publish(results(), "time gate again", api=api, repo=REPO, sha=SHA, pr_number=3)
    bodies = [c["body"] for c in github_server.comments[(REPO, 3)]]
    assert len(bodies) == 2
    assert bodies[0].startswith("<!-- perfgate:perfgate -->") and "again" in bodies[0]
    assert bodies[1].startswith("<!-- perfgate:perfgate-memory -->")
    states = [(s["context"], s["state"]) for s in github_server.statuses[(REPO, SHA)]]
    assert ("perfgate-memory", "success") in states


def test_read_only_token_is_a_warning_not_a_crash(github_server) -> None:
    forbidden = {"message": "Resource not accessible by integration"}
    github_server.fail("GET", r".*/comments", 403, body=forbidden)
    github_server.fail("POST", r".*/statuses/.*", 403, body=forbidden)
    api, _ = client(github_server)
    report = publish(results(), "body", api=api, repo=REPO, sha=SHA, pr_number=9,
                     run_url="https://github.example/run/1")  # fmt: skip
    assert report.comment_action == "failed" and report.status_state is None
    assert len(report.warnings) == 2 and report.errors == ()
    assert "read-only token" in report.warnings[0]


def test_server_errors_are_reported_as_errors(github_server) -> None:
    github_server.fail("POST", r".*/statuses/.*", 500, times=10)
    api, _ = client(github_server, max_retries=1)
    report = publish(results("pass"), "b", api=api, repo=REPO, sha=SHA, pr_number=None)
    assert report.comment_action == "skipped"
    assert report.errors and "commit status" in report.errors[0]


def test_status_target_url_points_at_the_run(github_server) -> None:
    api, _ = client(github_server)
    publish(results(), "b", api=api, repo=REPO, sha=SHA, pr_number=None, comment=False,
            run_url="https://github.example/octo/widgets/actions/runs/42")  # fmt: skip
    status = github_server.statuses[(REPO, SHA)][0]
    assert status["target_url"].endswith("/actions/runs/42")


def test_description_and_body_limits() -> None:
    many = tuple(
        Comparison(f"metric_number_{i}", 1, 2, 1.0, (0.9, 1.1), 0.001, 0.05, "regression")
        for i in range(20)
    )
    long = Results("fail", {}, many)
    assert len(status_description(long)) == STATUS_DESCRIPTION_LIMIT
    error = Results("error", {}, error="the benchmark failed on head\nlong tail")
    assert status_description(error) == "error: the benchmark failed on head"
    assert status_description(Results("pass", {}, ())) == "no regression"
    body = fit_comment("x" * 100_000, "perfgate")
    assert len(body) <= GITHUB_COMMENT_LIMIT and body.startswith("<!-- perfgate:perfgate -->")


def run_publish(server, path, *args, token=TOKEN):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update({"GITHUB_API_URL": server.url, "GITHUB_REPOSITORY": REPO})
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
