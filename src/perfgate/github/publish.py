"""Post a verdict to GitHub: one comment per gate, edited in place, and a commit status.

Publishing never decides anything and never loses anything: the verdict and
the files are made before it runs, and every failure here (a fork's read-only
token, GitHub down) comes back as a warning or an error in the report, not as
an exception that would hide the verdict.

One comment per gate, not one per push: a reviewer reads the latest verdict
in the same place, and the conversation is not buried under bot comments.  The
comment is found again by a hidden marker, `<!-- perfgate:CONTEXT -->`, so two
gates in one pull request (two status contexts) keep a comment each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..report.format import label, percent
from ..report.markdown import GITHUB_COMMENT_LIMIT, marker_comment
from ..results import Results
from .api import GitHubAPI, GitHubError

#: GitHub refuses a commit status description over 140 characters.
STATUS_DESCRIPTION_LIMIT = 140
STATES = {"pass": "success", "fail": "failure"}
CUT_NOTE = "\n\n… cut to fit GitHub's comment size limit"


@dataclass(frozen=True)
class PublishReport:
    """What publishing did; `warnings` and `errors` are for the log, never for the verdict.

    `comment_action` is "created", "updated", "skipped" (not asked, or no pull
    request) or "failed"; `status_state` is the state GitHub accepted, or None.
    """

    comment_url: str | None = None
    comment_action: str = "skipped"
    status_state: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def status_state(results: Results) -> str:
    """success, failure, or error for a gate that could not measure (never a silent pass)."""
    return STATES.get(results.verdict or "", "error")


def _metric_phrase(metric: str, verdict: str, change: float) -> str:
    name = label(metric)
    if verdict in ("regression", "improvement"):
        return f"{name} {percent(change)} ({verdict})"
    if verdict == "inconclusive":
        return f"{name} too noisy to tell"
    return f"{name} {verdict}"


def status_description(results: Results) -> str:
    """'wall time +32.1% (regression); CPU time unchanged; peak memory unchanged', or
    shorter: what moved comes first, and the unchanged metrics go when space runs out."""
    if results.verdict == "error":
        lines = (results.error or "the gate failed").strip().splitlines() or ["the gate failed"]
        return _cut(f"error: {lines[0]}")
    moved, rest = [], []
    for c in results.comparisons:
        phrase = _metric_phrase(c.metric, c.verdict, c.change)
        (moved if c.verdict in ("regression", "improvement") else rest).append(phrase)
    text = "; ".join(moved + rest)
    if len(text) > STATUS_DESCRIPTION_LIMIT and moved:
        text = "; ".join(moved)
    if not text:
        text = "no regression" if results.verdict == "pass" else str(results.verdict)
    return _cut(text)


def _cut(text: str) -> str:
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return text


def fit_comment(body: str, marker: str) -> str:
    """The body with its marker first, within GitHub's comment size limit.

    render_comment already fits its sections to the limit; this is the last
    guard, so that a body from anywhere can never be refused with a 422.
    """
    tag = marker_comment(marker)
    if not body.startswith(tag):
        body = f"{tag}\n{body}"
    if len(body) > GITHUB_COMMENT_LIMIT:
        body = body[: GITHUB_COMMENT_LIMIT - len(CUT_NOTE)] + CUT_NOTE
    return body


def find_comment(api: GitHubAPI, repo: str, pr_number: int, marker: str) -> dict | None:
    """This gate's earlier comment, searched on every page (a busy PR has hundreds)."""
    tag = marker_comment(marker)
    for comment in api.paginate(f"/repos/{repo}/issues/{pr_number}/comments"):
        if isinstance(comment, dict) and (comment.get("body") or "").startswith(tag):
            return comment
    return None


def publish_comment(
    api: GitHubAPI, body: str, *, repo: str, pr_number: int, context: str
) -> tuple[str | None, str]:
    """Edit this gate's comment if there is one, else create it: (url, 'updated'|'created').

    Creating is the one call that must not be repeated blindly: when it times
    out or meets a 5xx, GitHub may have made the comment anyway.  So each new
    attempt first looks for the marker again, and edits what it finds.
    """
    body = fit_comment(body, context)
    attempts = api.max_retries + 1
    for attempt in range(attempts):
        existing = find_comment(api, repo, pr_number, context)
        if existing is not None:
            edited = api.patch(f"/repos/{repo}/issues/comments/{existing['id']}", {"body": body})
            return _html_url(edited), "updated"
        try:
            created = api.post(
                f"/repos/{repo}/issues/{pr_number}/comments", {"body": body}, safe_to_repeat=False
            )
        except GitHubError as error:
            if not error.ambiguous or attempt == attempts - 1:
                raise
            api.sleep(api.backoff(attempt))
            continue
        return _html_url(created), "created"
    raise AssertionError("unreachable")  # pragma: no cover


def _html_url(comment: Any) -> str | None:
    return comment.get("html_url") if isinstance(comment, dict) else None


def _read_only(error: GitHubError) -> bool:
    """403/404 on a write: the token may not write here (a fork's pull request)."""
    return error.status in (403, 404)


def publish(
    results: Results,
    body: str,
    *,
    api: GitHubAPI,
    repo: str,
    sha: str,
    pr_number: int | None,
    context: str = "perfgate",
    run_url: str | None = None,
    comment: bool = True,
) -> PublishReport:
    """Comment (on a pull request, when asked) and set the commit status; never raises.

    A read-only token (403 "Resource not accessible by integration", as on a
    fork's pull request) is a warning; anything else that fails (GitHub down,
    a bad token) is an error.  Either way the verdict is untouched.
    """
    warnings: list[str] = []
    errors: list[str] = []
    comment_url, action = None, "skipped"
    if comment and pr_number is not None:
        try:
            comment_url, action = publish_comment(
                api, body, repo=repo, pr_number=pr_number, context=context
            )
        except GitHubError as error:
            action = "failed"
            _sort(
                error,
                f"could not comment on pull request #{pr_number}: {error}",
                warnings,
                errors,
            )
    state = status_state(results)
    payload = {"state": state, "context": context, "description": status_description(results)}
    if run_url:
        payload["target_url"] = run_url
    posted: str | None = None
    try:
        api.post(f"/repos/{repo}/statuses/{sha}", payload)
        posted = state
    except GitHubError as error:
        _sort(
            error,
            f"could not set the commit status {context!r} on {sha[:12]}: {error}",
            warnings,
            errors,
        )
    return PublishReport(comment_url, action, posted, tuple(warnings), tuple(errors))


def _sort(error: GitHubError, message: str, warnings: list[str], errors: list[str]) -> None:
    if _read_only(error):
        warnings.append(
            message + " (a read-only token: a fork's pull request, or missing "
            "`permissions: pull-requests: write, statuses: write`)"
        )
    else:
        errors.append(message)
