"""Post a verdict to GitHub: one comment per gate, edited in place, and a commit status.

Publishing never decides anything and never loses anything: the verdict and
the files are made before it runs, and every failure here (a fork's read-only
token, GitHub down) comes back as a warning or an error in the report, not as
an exception that would hide the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..report.format import label, percent
from ..report.markdown import GITHUB_COMMENT_LIMIT, marker_comment
from ..results import Results
from .api import GitHubAPI, GitHubError

#: GitHub cuts a commit status description at 140 characters.
STATUS_DESCRIPTION_LIMIT = 140
STATES = {"pass": "success", "fail": "failure"}


@dataclass(frozen=True)
class PublishReport:
    """What publishing did; `warnings` and `errors` are for the log, never for the verdict."""

    comment_url: str | None = None
    comment_action: str = "skipped"
    status_state: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def status_state(results: Results) -> str:
    return STATES.get(results.verdict or "", "error")


def status_description(results: Results) -> str:
    """'wall time +32.1% (regression); peak memory unchanged', within 140 characters."""
    if results.verdict == "error":
        first = (results.error or "the gate failed").strip().splitlines()[0]
        text = f"error: {first}"
    else:
        parts = []
        for c in results.comparisons:
            if c.verdict in ("regression", "improvement"):
                parts.append(f"{label(c.metric)} {percent(c.change)} ({c.verdict})")
        unsure = [label(c.metric) for c in results.comparisons if c.verdict == "inconclusive"]
        if unsure:
            parts.append("too noisy: " + ", ".join(unsure))
        text = "; ".join(parts) or "no regression"
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return text


def fit_comment(body: str, marker: str) -> str:
    """The body with its marker first, within GitHub's comment size limit."""
    tag = marker_comment(marker)
    if not body.startswith(tag):
        body = f"{tag}\n{body}"
    if len(body) > GITHUB_COMMENT_LIMIT:
        body = body[: GITHUB_COMMENT_LIMIT - 40] + "\n\n… cut to fit GitHub's limit"
    return body


def find_comment(api: GitHubAPI, repo: str, pr_number: int, marker: str) -> dict | None:
    """This gate's earlier comment, searched on every page (a busy PR has hundreds)."""
    tag = marker_comment(marker)
    for comment in api.paginate(f"/repos/{repo}/issues/{pr_number}/comments"):
        if (comment.get("body") or "").startswith(tag):
            return comment
    return None


def _read_only(error: GitHubError) -> bool:
    return error.status in (401, 403, 404)


def publish_comment(
    api: GitHubAPI, body: str, *, repo: str, pr_number: int, context: str
) -> tuple[str | None, str]:
    """Edit this gate's comment if there is one, else create it: (url, 'updated'|'created')."""
    body = fit_comment(body, context)
    existing = find_comment(api, repo, pr_number, context)
    if existing is not None:
        edited = api.patch(f"/repos/{repo}/issues/comments/{existing['id']}", {"body": body})
        return edited.get("html_url"), "updated"
    created = api.post(f"/repos/{repo}/issues/{pr_number}/comments", {"body": body})
    return created.get("html_url"), "created"


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
    """Comment (on a pull request, when asked) and set the commit status; never raises."""
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
            (warnings if _read_only(error) else errors).append(
                f"could not comment on pull request #{pr_number}: {error}"
                + (
                    " (a read-only token, as on a fork's pull request?)"
                    if _read_only(error)
                    else ""
                )
            )
    state = status_state(results)
    payload = {
        "state": state,
        "context": context,
        "description": status_description(results),
    }
    if run_url:
        payload["target_url"] = run_url
    posted: str | None = None
    try:
        api.post(f"/repos/{repo}/statuses/{sha}", payload)
        posted = state
    except GitHubError as error:
        (warnings if _read_only(error) else errors).append(
            f"could not set the commit status {context!r} on {sha[:12]}: {error}"
        )
    return PublishReport(comment_url, action, posted, tuple(warnings), tuple(errors))
