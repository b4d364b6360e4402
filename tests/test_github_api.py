"""The API client against a real HTTP server on 127.0.0.1 (tests/github_server.py).

Waits are recorded, not slept: the client takes its `sleep` and `clock` as
arguments, so a test can see that it waited 7 s for `Retry-After: 7` without
waiting.  Only the timeout tests really wait, a fraction of a second.
"""

from __future__ import annotations

import pytest
from github_server import PAT, TOKEN

from perfgate import __version__
from perfgate.github.api import MAX_WAIT_S, GitHubAPI, GitHubError, api_url_from_env

REPO = "octo/widgets"
SHA = "c" * 40
NOW = 1_000.0
STATUS = f"/repos/{REPO}/statuses/{SHA}"
COMMENTS = f"/repos/{REPO}/issues/1/comments"


@pytest.fixture(autouse=True)
def pull_request(github_server) -> None:
    """Pull requests 1 and 5 of REPO with SHA as their head (GitHub refuses others)."""
    github_server.add_pull(REPO, 1, SHA)
    github_server.add_pull(REPO, 5, SHA)


def client(server, **kwargs) -> tuple[GitHubAPI, list[float]]:
    waits: list[float] = []
    api = GitHubAPI(server.url, TOKEN, sleep=waits.append, clock=lambda: NOW, **kwargs)
    return api, waits


def test_every_request_carries_github_headers(github_server) -> None:
    api, _ = client(github_server)
    api.post(STATUS, {"state": "success", "context": "perfgate"})
    (request,) = github_server.requests
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Accept") == "application/vnd.github+json"
    assert request.header("X-GitHub-Api-Version") == "2022-11-28"
    assert request.header("User-Agent") == f"perfgate/{__version__}"
    assert request.body == {"state": "success", "context": "perfgate"}


def test_one_session_is_reused(github_server) -> None:
    api, _ = client(github_server)
    for _ in range(3):
        api.get(COMMENTS)
    assert len(api.session.adapters["http://"].poolmanager.pools) == 1
    assert len(github_server.requests) == 3


def test_retries_5xx_then_succeeds(github_server) -> None:
    github_server.server_errors("POST", r"/repos/.*/statuses/.*", times=2, status=502)
    api, waits = client(github_server)
    status = api.post(STATUS, {"state": "success", "context": "perfgate"})
    assert status["state"] == "success"
    assert len(github_server.seen("POST")) == 3
    assert waits == [1.0, 2.0]
    assert len(github_server.statuses[(REPO, SHA)]) == 1


def test_backoff_is_exponential_and_capped(github_server) -> None:
    api, _ = client(github_server)
    assert [api.backoff(k) for k in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_429_honours_retry_after(github_server) -> None:
    github_server.rate_limited("GET", r".*/comments", retry_after_s=7)
    api, waits = client(github_server)
    assert list(api.paginate(COMMENTS)) == []
    assert waits == [7.0]


def test_secondary_rate_limit_waits_until_reset(github_server) -> None:
    github_server.secondary_rate_limit("GET", r".*/comments", reset_epoch_s=int(NOW) + 12)
    api, waits = client(github_server)
    list(api.paginate(COMMENTS))
    assert waits == [12.0]
    assert len(github_server.requests) == 2


def test_secondary_rate_limit_without_advice_waits_a_minute(github_server) -> None:
    github_server.fail(
        "POST", r".*", 403, body={"message": "You have exceeded a secondary rate limit."}
    )
    api, waits = client(github_server)
    api.post(STATUS, {"state": "success"})
    assert waits == [MAX_WAIT_S]


def test_a_rate_limit_longer_than_the_cap_fails_at_once(github_server) -> None:
    github_server.secondary_rate_limit("POST", r".*", reset_epoch_s=int(NOW) + 3600)
    api, waits = client(github_server)
    with pytest.raises(GitHubError, match=r"HTTP 403.*rate limited for 3600 s") as raised:
        api.post(STATUS, {"state": "success"})
    assert waits == [] and raised.value.status == 403 and not raised.value.ambiguous
    assert len(github_server.requests) == 1


def test_a_plain_403_is_not_retried(github_server) -> None:
    github_server.read_only()
    api, waits = client(github_server)
    with pytest.raises(GitHubError, match="Resource not accessible by integration") as raised:
        api.post(STATUS, {"state": "success"})
    assert raised.value.status == 403 and waits == []


def test_gives_up_after_max_retries_with_a_clear_error(github_server) -> None:
    github_server.server_errors("POST", r".*", times=10)
    api, waits = client(github_server, max_retries=2)
    with pytest.raises(GitHubError, match=f"POST {github_server.url}{STATUS}: HTTP 500") as raised:
        api.post(STATUS, {"state": "success"})
    assert raised.value.status == 500 and raised.value.ambiguous
    assert waits == [1.0, 2.0]
    assert len(github_server.requests) == 3


def test_slow_response_times_out_and_is_retried(github_server) -> None:
    github_server.slow("GET", r".*/comments", delay_s=1.5)
    api, waits = client(github_server, timeout_s=0.3)
    assert api.get(COMMENTS) == []
    assert waits == [1.0]
    assert len(github_server.requests) == 2


def test_a_call_unsafe_to_repeat_is_not_retried_after_a_timeout(github_server) -> None:
    github_server.slow("POST", r".*/comments", delay_s=1.5)
    api, waits = client(github_server, timeout_s=0.3)
    with pytest.raises(GitHubError, match="timed out") as raised:
        api.post(COMMENTS, {"body": "hello"}, safe_to_repeat=False)
    assert raised.value.ambiguous and raised.value.status is None
    assert waits == [] and len(github_server.requests) == 1


def test_a_call_unsafe_to_repeat_is_retried_when_it_surely_did_nothing(github_server) -> None:
    github_server.rate_limited("POST", r".*/comments", retry_after_s=3)
    api, waits = client(github_server)
    created = api.post(COMMENTS, {"body": "hello"}, safe_to_repeat=False)
    assert created["body"] == "hello" and waits == [3.0]
    assert len(github_server.comments[(REPO, 1)]) == 1


def test_unreachable_api_is_retried_then_a_clear_error() -> None:
    waits: list[float] = []
    api = GitHubAPI("http://127.0.0.1:9", TOKEN, max_retries=2, sleep=waits.append)
    with pytest.raises(GitHubError, match="could not be reached .connection failed. after 3") as e:
        api.post("/repos/x/y/statuses/" + SHA, {"state": "success"}, safe_to_repeat=False)
    assert e.value.status is None and not e.value.ambiguous  # never sent: safe to try later
    assert waits == [1.0, 2.0]
    assert TOKEN not in str(e.value)


def test_bad_token_is_refused_without_retry(github_server) -> None:
    waits: list[float] = []
    api = GitHubAPI(github_server.url, "wrong", sleep=waits.append)
    with pytest.raises(GitHubError, match="HTTP 401: Bad credentials") as raised:
        api.get(COMMENTS)
    assert raised.value.status == 401 and waits == []
    assert "wrong" not in str(raised.value)


def test_pagination_follows_link_headers(github_server) -> None:
    github_server.add_comments(REPO, 5, [f"comment {i}" for i in range(250)])
    api, _ = client(github_server)
    bodies = [c["body"] for c in api.paginate(f"/repos/{REPO}/issues/5/comments")]
    assert bodies == [f"comment {i}" for i in range(250)]
    pages = [(r.query.get("per_page"), r.query.get("page")) for r in github_server.seen("GET")]
    assert pages == [(["100"], None), (["100"], ["2"]), (["100"], ["3"])]


def test_pagination_stops_early_when_the_caller_does(github_server) -> None:
    github_server.add_comments(REPO, 5, [f"comment {i}" for i in range(250)])
    api, _ = client(github_server)
    first = next(iter(api.paginate(f"/repos/{REPO}/issues/5/comments")))
    assert first["body"] == "comment 0"
    assert len(github_server.requests) == 1


def test_a_non_json_answer_is_a_github_error(github_server) -> None:
    github_server.fail("GET", r".*", 200, times=1)  # a JSON object where a list belongs
    api, _ = client(github_server)
    with pytest.raises(GitHubError, match="not a JSON list"):
        list(api.paginate(COMMENTS))


def test_enterprise_server_base_url(github_server) -> None:
    github_server.prefix = "/api/v3"
    github_server.add_comments(REPO, 5, [f"c{i}" for i in range(150)])
    base = api_url_from_env({"GITHUB_API_URL": github_server.url + "/api/v3/"})
    assert base == github_server.url + "/api/v3"
    api = GitHubAPI(base, TOKEN, sleep=lambda s: None)
    assert len(list(api.paginate(f"/repos/{REPO}/issues/5/comments"))) == 150
    api.post(STATUS, {"state": "pending"})
    assert github_server.statuses[(REPO, SHA)][0]["state"] == "pending"


def test_default_api_url() -> None:
    assert api_url_from_env({}) == "https://api.github.com"
    assert api_url_from_env({"GITHUB_API_URL": ""}) == "https://api.github.com"


# --- The stand-in refuses what GitHub refuses -------------------------------------------------


def test_the_stand_in_refuses_a_pull_request_it_does_not_have(github_server) -> None:
    api, _ = client(github_server)
    for call in (
        lambda: api.get(f"/repos/{REPO}/pulls/99"),
        lambda: list(api.paginate(f"/repos/{REPO}/issues/99/comments")),
        lambda: api.post(f"/repos/{REPO}/issues/99/comments", {"body": "x"}),
    ):
        with pytest.raises(GitHubError, match="HTTP 404: Not Found") as caught:
            call()
        assert caught.value.status == 404 and not caught.value.ambiguous
    assert (REPO, 99) not in github_server.comments


def test_the_stand_in_refuses_a_sha_that_is_no_commit_of_the_repo(github_server) -> None:
    api, _ = client(github_server)
    stranger = "9" * 40
    with pytest.raises(GitHubError, match="HTTP 422: Validation Failed") as caught:
        api.post(f"/repos/{REPO}/statuses/{stranger}", {"state": "success"})
    assert caught.value.status == 422
    assert github_server.statuses == {}
    assert api.post(STATUS, {"state": "success"})["creator"]["type"] == "Bot"


def test_the_stand_in_tells_users_from_bots_per_token(github_server) -> None:
    actions_token, _ = client(github_server)
    with pytest.raises(GitHubError, match="Resource not accessible by integration"):
        actions_token.get("/user")
    maintainer = GitHubAPI(github_server.url, PAT, sleep=lambda s: None)
    assert maintainer.get("/user") == {"login": "octo-maintainer", "id": 1001, "type": "User"}
    made = maintainer.post(COMMENTS, {"body": "hi"})
    assert made["user"]["type"] == "User" and made["user"]["login"] == "octo-maintainer"
    bot = actions_token.post(COMMENTS, {"body": "hi"})
    assert bot["user"] == {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
    unknown = GitHubAPI(github_server.url, "ghp_nobody", sleep=lambda s: None)
    with pytest.raises(GitHubError, match="HTTP 401: Bad credentials"):
        unknown.get("/user")


def test_a_pull_request_list_is_filtered_by_head_label(github_server) -> None:
    github_server.add_pull(REPO, 8, "e" * 40, head_repo="mallory/widgets", head_ref="evil")
    api, _ = client(github_server)
    found = api.get(f"/repos/{REPO}/pulls", params={"state": "open", "head": "mallory:evil"})
    assert [p["number"] for p in found] == [8]
    assert api.get(f"/repos/{REPO}/pulls", params={"head": "octo:evil"}) == []
