"""The GitHub REST API through one session, with retries that respect rate limits.

GitHub answers 5xx during incidents, 429 and 403 with `Retry-After` or
`x-ratelimit-remaining: 0` when a token is throttled; a gate that gives up at
the first hiccup loses the comment a reviewer waits for, and one that retries
blindly gets the token throttled harder.  So: back off exponentially, honour
what the server says, cap the wait, and then fail with a clear message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from .. import __version__

DEFAULT_API_URL = "https://api.github.com"
RETRY_STATUSES = frozenset({500, 502, 503, 504, 429})
#: Longest single wait perfgate accepts from Retry-After or x-ratelimit-reset.
MAX_WAIT_S = 60.0


class GitHubError(Exception):
    """The API refused or could not be reached; `status` is None when unreachable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubAPI:
    """A small client: JSON in and out, retries, pagination through the `Link` header."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"perfgate/{__version__}",
                "Authorization": f"Bearer {token}",
            }
        )

    def request(self, method: str, path_or_url: str, **kwargs: Any) -> requests.Response:
        """One call, retried on 5xx, 429, secondary rate limits and network errors."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except requests.RequestException as error:
                if last:
                    raise GitHubError(
                        f"{method} {url}: GitHub could not be reached ({type(error).__name__})"
                    ) from None
                self.sleep(self._backoff(attempt))
                continue
            wait = self._retry_wait(response, attempt)
            if wait is None or last:
                return _checked(method, url, response)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return min(2.0**attempt, MAX_WAIT_S)

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None when it is final."""
        status = response.status_code
        headers = response.headers
        throttled = status == 403 and (
            headers.get("x-ratelimit-remaining") == "0"
            or "Retry-After" in headers
            or "secondary rate limit" in response.text.lower()
        )
        if status not in RETRY_STATUSES and not throttled:
            return None
        if "Retry-After" in headers:
            try:
                return min(max(float(headers["Retry-After"]), 0.0), MAX_WAIT_S)
            except ValueError:
                pass
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                reset = float(headers["x-ratelimit-reset"])
            except ValueError:
                reset = 0.0
            return min(max(reset - self.clock(), 1.0), MAX_WAIT_S)
        return self._backoff(attempt)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return self.request("POST", path, json=payload).json()

    def patch(self, path: str, payload: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=payload).json()

    def paginate(self, path: str, per_page: int = 100) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: <...>; rel="next"`."""
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": per_page}
        while url:
            response = self.request("GET", url, params=params)
            yield from response.json()
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries its own query


def _checked(method: str, url: str, response: requests.Response) -> requests.Response:
    if response.status_code < 400:
        return response
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text[:200]
    raise GitHubError(
        f"{method} {url}: HTTP {response.status_code}: {message}", status=response.status_code
    )
