"""A real HTTP server on 127.0.0.1 that speaks the part of the GitHub REST API perfgate uses.

Endpoints (shapes and status codes as docs.github.com/en/rest documents them):

- GET   /user                                            200, the token's user; 403
  "Resource not accessible by integration" for an installation token (GITHUB_TOKEN)
- GET   /repos/{owner}/{repo}/pulls/{number}             200, the pull request (number,
  state, head and base with sha, ref, label, repo); 404 for one that does not exist
- GET   /repos/{owner}/{repo}/pulls?state=&head=owner:ref  200, the matching list
- GET   /repos/{owner}/{repo}/issues/{number}/comments   200, a JSON list; `per_page`
  (default 30, at most 100) and `page`; a `Link` header with rel="next", "last",
  "first", "prev" when there is more than one page; 404 for a pull request that
  does not exist
- POST  /repos/{owner}/{repo}/issues/{number}/comments   201, the comment (id, node_id,
  url, html_url, issue_url, body, user, author_association, created_at, updated_at),
  its user the token's; 404 for a pull request that does not exist
- PATCH /repos/{owner}/{repo}/issues/comments/{id}       200, the edited comment
- DELETE /repos/{owner}/{repo}/issues/comments/{id}      204
- POST  /repos/{owner}/{repo}/statuses/{sha}             201, the status (state, context,
  description, target_url, creator, ...); 422 for a bad state, a description over
  140, or a SHA that is no commit of the repository ("No commit found for SHA")

The repository knows only the pull requests and commits a test gives it
(`add_pull`, `add_commit`, `serve_event`), as GitHub knows only real ones.
Every request needs `Authorization: Bearer TOKEN` with a token the server
knows (`USERS`: the Actions token is github-actions[bot], type Bot; a personal
token is a User), else 401 "Bad credentials"; a body that is JSON (else 400
"Problems parsing JSON"); and is recorded (method, path, query, headers, JSON
body).  Faults on demand, in the order a
test queues them: `server_errors`, `rate_limited` (429 + Retry-After),
`secondary_rate_limit` (403 + x-ratelimit-remaining: 0 and x-ratelimit-reset),
`read_only` (403 "Resource not accessible by integration", what a fork's token
gets), `slow` (an answer later than the client waits), and `fail` for anything
else.  A fault with `then_apply=True` lets the request take effect before the
fault answers, as when GitHub's front end times out on a request that its back
end carried out.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "ghs_test_token_0123456789"
#: A personal access token of a maintainer, and one of a stranger who comments on the PR.
PAT = "ghp_maintainer_token_0123456789"
STRANGER = "ghp_stranger_token_0123456789"
ACTIONS_BOT = {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"}
#: Who each token is; None for an installation token, which GET /user refuses.
USERS: dict[str, dict[str, Any] | None] = {
    TOKEN: None,
    PAT: {"login": "octo-maintainer", "id": 1001, "type": "User"},
    STRANGER: {"login": "mallory", "id": 6666, "type": "User"},
}
#: The author of what each token writes.
AUTHORS = {TOKEN: ACTIONS_BOT, PAT: USERS[PAT], STRANGER: USERS[STRANGER]}
READ_ONLY = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
    "status": "403",
}
STATES = ("error", "failure", "pending", "success")
COMMENT_LIMIT = 65_536
DESCRIPTION_LIMIT = 140


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        """Header lookup without regard to case, as HTTP means it."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status` (and headers, body, delay)."""

    method: str
    path_pattern: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    then_apply: bool = False


@dataclass
class FakeGitHub:
    """State of the fake: comments per issue, statuses per sha, faults queued, requests seen."""

    url: str = ""
    #: A path prefix the server is mounted under, as GitHub Enterprise Server's /api/v3.
    prefix: str = ""
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    commits: set[tuple[str, str]] = field(default_factory=set)
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    next_id: int = 1000
    #: Called with each request before it is answered (a test's look at the world meanwhile).
    on_request: Callable[[Request], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- Faults -------------------------------------------------------------------------------

    def fail(self, method: str, path_pattern: str, status: int, **kwargs: Any) -> None:
        """Queue a fault for requests whose method and path (a full regex match) fit."""
        with self.lock:
            self.faults.append(Fault(method, path_pattern, status, **kwargs))

    def server_errors(self, method: str, path_pattern: str, times: int, status: int = 500) -> None:
        self.fail(method, path_pattern, status, times=times, body={"message": "Server Error"})

    def rate_limited(self, method: str, path_pattern: str, retry_after_s: int) -> None:
        """429 Too Many Requests with Retry-After, as GitHub throttles an abusive client."""
        self.fail(
            method,
            path_pattern,
            429,
            headers={"Retry-After": str(retry_after_s)},
            body={"message": "API rate limit exceeded"},
        )

    def secondary_rate_limit(self, method: str, path_pattern: str, reset_epoch_s: int) -> None:
        """403 with x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch seconds)."""
        self.fail(
            method,
            path_pattern,
            403,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(reset_epoch_s),
                "x-ratelimit-resource": "core",
            },
            body={"message": "You have exceeded a secondary rate limit."},
        )

    def read_only(self, method: str = r"POST|PATCH", path_pattern: str = r".*") -> None:
        """Every write refused as with a fork's read-only GITHUB_TOKEN (reads still work)."""
        self.fail(method, path_pattern, 403, times=10**6, body=READ_ONLY)

    def slow(self, method: str, path_pattern: str, delay_s: float, **kwargs: Any) -> None:
        """One answer that comes `delay_s` late (by default after the request took effect)."""
        kwargs.setdefault("then_apply", True)
        self.fail(method, path_pattern, 200, delay_s=delay_s, **kwargs)

    # --- State --------------------------------------------------------------------------------

    def add_commit(self, repo: str, *shas: str) -> None:
        with self.lock:
            self.commits.update((repo, sha.lower()) for sha in shas)

    def add_pull(
        self,
        repo: str,
        number: int,
        head_sha: str,
        base_sha: str = "b" * 40,
        *,
        head_repo: str | None = None,
        head_ref: str = "feature",
    ) -> dict[str, Any]:
        """A pull request of `repo` (its head from `head_repo`, a fork, when given); its
        head and base are commits of `repo`, as GitHub fetches a fork's head into it."""
        head_repo = head_repo or repo
        pull = {
            "number": number,
            "state": "open",
            "head": {
                "sha": head_sha,
                "ref": head_ref,
                "label": f"{head_repo.split('/')[0]}:{head_ref}",
                "repo": {"full_name": head_repo},
            },
            "base": {"sha": base_sha, "ref": "main", "repo": {"full_name": repo}},
        }
        self.add_commit(repo, head_sha, base_sha)
        with self.lock:
            self.pulls[(repo, number)] = pull
        return pull

    def push(self, repo: str, number: int, head_sha: str) -> None:
        """A new head for the pull request, as a push to its branch makes."""
        self.add_commit(repo, head_sha)
        with self.lock:
            self.pulls[(repo, number)]["head"]["sha"] = head_sha

    def serve_event(self, path: Any) -> None:
        """Know the pull request a pull_request event file describes (its number, head, base)."""
        payload = json.loads(Path(path).read_text())
        pull = payload.get("pull_request")
        if isinstance(pull, dict):
            repo = payload["repository"]["full_name"]
            head = pull["head"]
            self.add_pull(
                repo, int(pull["number"]), head["sha"], pull["base"]["sha"],
                head_repo=(head.get("repo") or {}).get("full_name"),
            )  # fmt: skip

    def add_comments(
        self, repo: str, number: int, bodies: list[str], token: str = STRANGER
    ) -> None:
        """Comments written by the holder of `token` (by default a stranger, a User)."""
        with self.lock:
            for body in bodies:
                self._new_comment(repo, number, body, AUTHORS[token])

    def _new_comment(
        self, repo: str, number: int, body: str, user: dict[str, Any]
    ) -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "node_id": f"IC_kwDO{self.next_id}",
            "url": f"{self.url}/repos/{repo}/issues/comments/{self.next_id}",
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{self.next_id}",
            "issue_url": f"{self.url}/repos/{repo}/issues/{number}",
            "body": body,
            "user": dict(user),
            "author_association": "NONE",
            "created_at": "2026-11-25T00:00:00Z",
            "updated_at": "2026-11-25T00:00:00Z",
        }
        self.comments.setdefault((repo, number), []).append(comment)
        return comment

    def seen(self, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if method is None or r.method == method]

    def log(self) -> list[str]:
        """The requests as one line each, `METHOD /path?query`, for reports and assertions."""
        lines = []
        for r in self.requests:
            query = "&".join(f"{k}={v}" for k, values in r.query.items() for v in values)
            lines.append(f"{r.method} {r.path}{'?' + query if query else ''}")
        return lines

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if re.fullmatch(fault.method, method) and re.fullmatch(fault.path_pattern, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None


Answer = tuple[int, Any, dict[str, str]]
NOT_FOUND: Answer = (404, {"message": "Not Found"}, {})


def _route(state: FakeGitHub, method: str, path: str, query: dict, body: Any, token: str) -> Answer:
    """What GitHub would answer a well-formed, authorised request (state lock held)."""
    if path == "/user" and method == "GET":
        user = USERS[token]
        if user is None:
            return 403, {**READ_ONLY, "documentation_url": "https://docs.github.com/rest/users"}, {}
        return 200, dict(user), {}
    if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)", path):
        pull = state.pulls.get((m.group(1), int(m.group(2))))
        return (200, json.loads(json.dumps(pull)), {}) if pull and method == "GET" else NOT_FOUND
    if (m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", path)) and method == "GET":
        head = query.get("head", [""])[0]
        found = [
            json.loads(json.dumps(pull))
            for (repo, _), pull in sorted(state.pulls.items())
            if repo == m.group(1) and (not head or pull["head"]["label"] == head)
        ]
        return 200, found, {}
    if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path):
        repo, number = m.group(1), int(m.group(2))
        if (repo, number) not in state.pulls:
            return NOT_FOUND
        if method == "GET":
            return _list(state, repo, number, query)
        if method == "POST":
            if error := _comment_body_error(body):
                return error
            return 201, state._new_comment(repo, number, body["body"], AUTHORS[token]), {}
    m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
    if m and method == "PATCH":
        if error := _comment_body_error(body):
            return error
        return _edit(state, m.group(1), int(m.group(2)), body["body"])
    if m and method == "DELETE":
        return _delete(state, m.group(1), int(m.group(2)))
    m = re.fullmatch(r"/repos/([^/]+/[^/]+)/statuses/([0-9a-fA-F]{40})", path)
    if m and method == "POST":
        if (m.group(1), m.group(2).lower()) not in state.commits:
            return _invalid("Status", "sha", f"No commit found for SHA: {m.group(2)}")
        return _status(state, m.group(1), m.group(2).lower(), body, AUTHORS[token])
    return NOT_FOUND


def _invalid(resource: str, field_name: str, message: str) -> Answer:
    """422 Validation Failed, with GitHub's `errors` list."""
    error = {"resource": resource, "code": "custom", "field": field_name, "message": message}
    return 422, {"message": "Validation Failed", "errors": [error]}, {}


def _comment_body_error(body: Any) -> Answer | None:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        return 422, {"message": 'Invalid request.\n\n"body" wasn\'t supplied.'}, {}
    if len(body["body"]) > COMMENT_LIMIT:
        return _invalid(
            "IssueComment", "data", f"Body is too long (maximum is {COMMENT_LIMIT} characters)"
        )
    return None


def _list(state: FakeGitHub, repo: str, number: int, query: dict) -> Answer:
    per_page = max(1, min(int(query.get("per_page", ["30"])[0]), 100))
    page = max(1, int(query.get("page", ["1"])[0]))
    items = state.comments.get((repo, number), [])
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    base = f"{state.url}{state.prefix}/repos/{repo}/issues/{number}/comments?per_page={per_page}"
    links = []
    if page < last:
        links.append(f'<{base}&page={page + 1}>; rel="next"')
        links.append(f'<{base}&page={last}>; rel="last"')
    if page > 1:
        links.append(f'<{base}&page=1>; rel="first"')
        links.append(f'<{base}&page={page - 1}>; rel="prev"')
    return 200, [dict(c) for c in chunk], {"Link": ", ".join(links)} if links else {}


def _edit(state: FakeGitHub, repo: str, comment_id: int, text: str) -> Answer:
    for (owner_repo, _), items in state.comments.items():
        for comment in items:
            if comment["id"] == comment_id and owner_repo == repo:
                comment["body"] = text
                comment["updated_at"] = "2026-11-25T00:01:00Z"
                return 200, dict(comment), {}
    return 404, {"message": "Not Found"}, {}


def _delete(state: FakeGitHub, repo: str, comment_id: int) -> Answer:
    for (owner_repo, _), items in state.comments.items():
        for comment in items:
            if comment["id"] == comment_id and owner_repo == repo:
                items.remove(comment)
                return 204, None, {}
    return NOT_FOUND


def _status(state: FakeGitHub, repo: str, sha: str, body: Any, creator: dict) -> Answer:
    if not isinstance(body, dict) or body.get("state") not in STATES:
        return 422, {"message": "Validation Failed"}, {}
    if len(body.get("description") or "") > DESCRIPTION_LIMIT:
        too_long = f"description is too long (maximum is {DESCRIPTION_LIMIT} characters)"
        return _invalid("Status", "description", too_long)
    state.next_id += 1
    status = {
        "url": f"{state.url}/repos/{repo}/statuses/{sha}",
        "id": state.next_id,
        "node_id": f"SC_kwDO{state.next_id}",
        "state": body["state"],
        "description": body.get("description"),
        "target_url": body.get("target_url"),
        "context": body.get("context") or "default",
        "created_at": "2026-11-25T00:00:00Z",
        "updated_at": "2026-11-25T00:00:00Z",
        "creator": dict(creator),
    }
    state.statuses.setdefault((repo, sha), []).append(status)
    return 201, status, {}


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GitHub.com"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if status == 204 else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
                self.send_header("X-GitHub-Request-Id", f"FAKE:{len(state.requests)}")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped waiting (a timeout test): nobody to answer

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if state.prefix:
                if not path.startswith(state.prefix + "/"):
                    self._send(404, {"message": "Not Found"})
                    return
                path = path[len(state.prefix) :]
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                parsed = True
            except ValueError:
                body, parsed = raw.decode(errors="replace"), False
            request = Request(method, path, query, dict(self.headers.items()), body)
            if state.on_request is not None:
                state.on_request(request)
            with state.lock:
                state.requests.append(request)
                fault = state._take_fault(method, path)
                answer: Answer | None = None
                if fault is None or fault.then_apply:
                    answer = self._answer(method, path, query, body, parsed)
            if fault is not None:
                time.sleep(fault.delay_s)
                if fault.status < 400 and answer is not None:
                    self._send(*answer)  # only late
                else:
                    self._send(
                        fault.status, fault.body or {"message": "Server Error"}, fault.headers
                    )
                return
            assert answer is not None
            self._send(*answer)

        def _answer(self, method: str, path: str, query: dict, body: Any, parsed: bool) -> Answer:
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if token not in USERS:
                return 401, {"message": "Bad credentials"}, {}
            if not parsed:
                return 400, {"message": "Problems parsing JSON"}, {}
            return _route(state, method, path, query, body, token)

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._handle("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._handle("DELETE")

    return Handler


@pytest.fixture
def github_server() -> Iterator[FakeGitHub]:
    """The fake GitHub on 127.0.0.1 (a free port), stopped when the test ends."""
    with serve() as state:
        yield state


@contextlib.contextmanager
def serve() -> Iterator[FakeGitHub]:
    """The fake GitHub on 127.0.0.1 (a free port) for the block (a module's, say)."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
