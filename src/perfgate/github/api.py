"""The GitHub REST API through one session, with retries that respect rate limits.

GitHub answers 5xx during incidents, 429 and 403 with `Retry-After` or
`x-ratelimit-remaining: 0` when a token is throttled; a gate that gives up at
the first hiccup loses the comment a reviewer waits for, and one that retries
blindly gets the token throttled harder.  So: back off exponentially, honour
what the server says, cap the wait, and then fail with a clear message.

One call is not safe to repeat blindly: creating a comment.  When such a call
times out or meets a 5xx, GitHub may have acted anyway, so the client hands the
ambiguity back (`GitHubError.ambiguous`) and lets the caller look before it
tries again (see `publish.publish_comment`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from .. import __version__

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
RETRY_STATUSES = frozenset({500, 502, 503, 504, 429})
#: Longest single wait perfgate accepts from Retry-After or x-ratelimit-reset; a longer one
#: (a primary rate limit that resets in an hour) fails at once instead of holding the job.
#: Also the wait after a rate limit that gives no advice: GitHub asks for at least a minute.
MAX_WAIT_S = 60.0
#: The most one client waits in all, over every retry: a job is not held for longer.
MAX_TOTAL_WAIT_S = 180.0


class GitHubError(Exception):
    """The API refused or could not be reached.

    `status` is the HTTP status, None when no answer came.  `ambiguous` is True
    when the request may have taken effect although it failed (a timeout, a 5xx).
    """

    def __init__(self, message: str, status: int | None = None, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.ambiguous = ambiguous


def api_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """GITHUB_API_URL as the runner sets it (GitHub Enterprise Server: https://HOST/api/v3)."""
    environ = os.environ if environ is None else environ
    return (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


class GitHubAPI:
    """A small client: JSON in and out, retries, pagination through the `Link` header.

    `sleep` and `clock` are the client's sense of time; tests pass ones that
    record the waits instead of sleeping.  The token lives only in the session's
    headers: no message this class makes contains it.
    """

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
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.waited_s = 0.0
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"perfgate/{__version__}",
                "Authorization": f"Bearer {token}",
            }
        )

    def close(self) -> None:
        self.session.close()

    def url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"

    def request(
        self, method: str, path_or_url: str, *, safe_to_repeat: bool = True, **kwargs: Any
    ) -> requests.Response:
        """One call, retried on 5xx, 429, secondary rate limits and network errors.

        With `safe_to_repeat=False` a timeout or a 5xx is not retried here but
        raised as an ambiguous GitHubError, since the server may have acted.
        """
        url = self.url(path_or_url)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except requests.RequestException as error:
                sent = not _never_sent(error)
                if last or (sent and not safe_to_repeat):
                    raise GitHubError(
                        f"{method} {url}: GitHub could not be reached "
                        f"({_describe(error)}) after {attempt + 1} attempt(s)",
                        ambiguous=sent,
                    ) from None
                self.sleep(self.backoff(attempt))
                continue
            wait = self._retry_wait(response, attempt)
            if wait is None or last:
                return _checked(method, url, response)
            if response.status_code >= 500 and not safe_to_repeat:
                raise _error(method, url, response, ambiguous=True)
            if wait > MAX_WAIT_S or self.waited_s + wait > MAX_TOTAL_WAIT_S:
                raise _error(
                    method,
                    url,
                    response,
                    note=f"rate limited for {wait:.0f} s more, longer than perfgate waits",
                )
            self.waited_s += wait
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def backoff(self, attempt: int) -> float:
        return min(2.0**attempt, MAX_WAIT_S)

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None when it is final.

        GitHub's advice: wait `Retry-After` seconds when it is given; else, with
        `x-ratelimit-remaining: 0`, until `x-ratelimit-reset` (epoch seconds);
        else back off exponentially.
        """
        status = response.status_code
        headers = response.headers
        exhausted = headers.get("x-ratelimit-remaining") == "0"
        throttled = status == 403 and (
            exhausted or "Retry-After" in headers or "secondary rate limit" in response.text.lower()
        )
        if status not in RETRY_STATUSES and not throttled:
            return None
        retry_after = _number(headers.get("Retry-After"))
        if retry_after is not None:
            return max(retry_after, 0.0)
        reset = _number(headers.get("x-ratelimit-reset"))
        if exhausted and reset is not None:
            return max(reset - self.clock(), 1.0)
        if throttled or status == 429:  # a limit without advice: GitHub says wait a minute
            return max(self.backoff(attempt), MAX_WAIT_S)
        return self.backoff(attempt)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(
                f"{method} {self.url(path)}: HTTP {response.status_code} but not JSON "
                f"({response.headers.get('Content-Type', 'no content type')})",
                status=response.status_code,
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.json("GET", path, **kwargs)

    def post(self, path: str, payload: dict[str, Any], *, safe_to_repeat: bool = True) -> Any:
        return self.json("POST", path, json=payload, safe_to_repeat=safe_to_repeat)

    def patch(self, path: str, payload: dict[str, Any]) -> Any:
        return self.json("PATCH", path, json=payload)

    def delete(self, path: str) -> None:
        """DELETE, answered 204 without a body."""
        self.request("DELETE", path)

    def paginate(self, path: str, per_page: int = 100) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: <...>; rel="next"`."""
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": per_page}
        while url:
            response = self.request("GET", url, params=params)
            try:
                page = response.json()
            except ValueError:
                page = None
            if not isinstance(page, list):
                raise GitHubError(f"GET {self.url(url)}: not a JSON list", response.status_code)
            yield from page
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries its own query


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _never_sent(error: requests.RequestException) -> bool:
    """True when the request surely never reached GitHub (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _describe(error: requests.RequestException) -> str:
    """The kind of network failure, without the library's long nested repr."""
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return type(error).__name__


def _error(
    method: str, url: str, response: requests.Response, *, ambiguous: bool = False, note: str = ""
) -> GitHubError:
    try:
        body = response.json()
        message = body.get("message", "") if isinstance(body, dict) else ""
    except ValueError:
        message = response.text[:200]
    text = f"{method} {url}: HTTP {response.status_code}: {message}"
    if note:
        text += f" ({note})"
    return GitHubError(text, status=response.status_code, ambiguous=ambiguous)


def _checked(method: str, url: str, response: requests.Response) -> requests.Response:
    if response.status_code < 400:
        return response
    raise _error(method, url, response, ambiguous=response.status_code >= 500)
