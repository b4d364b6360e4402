"""A real HTTP server on 127.0.0.1 that speaks the part of the GitHub REST API perfgate uses.

List, create and edit issue comments (with `Link` pagination), create commit
statuses; GitHub's status codes, headers and JSON shapes; and the faults a
test asks for: 5xx then success, 429 with Retry-After, a secondary rate limit,
a read-only token (403 "Resource not accessible by integration"), a response
slower than the client's timeout.  Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "ghs_test_token_0123456789"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


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


@dataclass
class FakeGitHub:
    """State of the fake: comments per issue, statuses per sha, faults queued, requests seen."""

    url: str = ""
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, path_pattern: str, status: int, **kwargs: Any) -> None:
        self.faults.append(Fault(method, path_pattern, status, **kwargs))

    def add_comments(self, repo: str, number: int, bodies: list[str]) -> None:
        for body in bodies:
            self._new_comment(repo, number, body, login="someone")

    def _new_comment(self, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "node_id": f"IC_{self.next_id}",
            "url": f"{self.url}/repos/{repo}/issues/comments/{self.next_id}",
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{self.next_id}",
            "body": body,
            "user": {"login": login, "type": "Bot"},
            "created_at": "2026-11-25T00:00:00Z",
            "updated_at": "2026-11-25T00:00:00Z",
        }
        self.comments.setdefault((repo, number), []).append(comment)
        return comment

    def seen(self, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if method is None or r.method == method]


def _handler(state: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            request = Request(
                method, parts.path, parse_qs(parts.query), dict(self.headers.items()), body
            )
            with state.lock:
                state.requests.append(request)
                fault = next(
                    (
                        f
                        for f in state.faults
                        if f.method == method and re.fullmatch(f.path_pattern, parts.path)
                    ),
                    None,
                )
                if fault is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        state.faults.remove(fault)
            if fault is not None:
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                message = fault.body or {"message": "Server Error"}
                self._send(fault.status, message, fault.headers)
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"message": "Bad credentials"})
                return
            self._route(method, parts.path, parse_qs(parts.query), body)

        def _route(self, method: str, path: str, query: dict, body: Any) -> None:
            if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path):
                repo, number = m.group(1), int(m.group(2))
                if method == "GET":
                    return self._list(repo, number, query)
                if method == "POST":
                    with state.lock:
                        comment = state._new_comment(repo, number, body["body"], "perfgate[bot]")
                    return self._send(201, comment)
            m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
            if m and method == "PATCH":
                return self._edit(m.group(1), int(m.group(2)), body)
            m = re.fullmatch(r"/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})", path)
            if m and method == "POST":
                return self._status(m.group(1), m.group(2), body)
            self._send(404, {"message": "Not Found"})

        def _list(self, repo: str, number: int, query: dict) -> None:
            per_page = min(int(query.get("per_page", ["30"])[0]), 100)
            page = int(query.get("page", ["1"])[0])
            items = state.comments.get((repo, number), [])
            last = max(1, -(-len(items) // per_page))
            chunk = items[(page - 1) * per_page : page * per_page]
            base = f"{state.url}/repos/{repo}/issues/{number}/comments?per_page={per_page}"
            links = []
            if page < last:
                links.append(f'<{base}&page={page + 1}>; rel="next"')
                links.append(f'<{base}&page={last}>; rel="last"')
            if page > 1:
                links.append(f'<{base}&page=1>; rel="first"')
                links.append(f'<{base}&page={page - 1}>; rel="prev"')
            self._send(200, chunk, {"Link": ", ".join(links)} if links else None)

        def _edit(self, repo: str, comment_id: int, body: Any) -> None:
            for (owner_repo, _), items in state.comments.items():
                for comment in items:
                    if comment["id"] == comment_id and owner_repo == repo:
                        comment["body"] = body["body"]
                        comment["updated_at"] = "2026-11-25T00:01:00Z"
                        return self._send(200, comment)
            self._send(404, {"message": "Not Found"})

        def _status(self, repo: str, sha: str, body: Any) -> None:
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return self._send(422, {"message": "Validation Failed"})
            if len(body.get("description") or "") > 140:
                return self._send(422, {"message": "description is too long (maximum is 140)"})
            status = {"id": len(state.requests), "context": "default", **body}
            state.statuses.setdefault((repo, sha), []).append(status)
            self._send(201, status)

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._handle("PATCH")

    return Handler


@pytest.fixture
def github_server() -> Iterator[FakeGitHub]:
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
