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

from ..errors import ConfigError
from ..report.budgets import over_phrases
from ..report.format import GITHUB_COMMENT_LIMIT, label, one_line, percent
from ..report.markdown import marker_comment
from ..results import NO_VERDICT, Results
from .api import GitHubAPI, GitHubError
from .runner_contract import Event

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
    """success, failure, or error for a gate that could not measure (never a silent pass);
    no verdict is a success or a failure as the `inconclusive` setting says."""
    if results.decision == NO_VERDICT:
        return "failure" if results.fails else "success"
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
    moved = [f"over budget: {phrase}" for phrase in over_phrases(results, one_line)]
    rest = []
    for c in results.comparisons:
        phrase = _metric_phrase(c.metric, c.verdict, c.change)
        (moved if c.verdict in ("regression", "improvement") else rest).append(phrase)
    # No verdict reads so first, whatever the state: a green check must not say "pass".
    prefix = f"{NO_VERDICT}: " if results.decision == NO_VERDICT else ""
    text = "; ".join(moved + rest)
    if len(prefix + text) > STATUS_DESCRIPTION_LIMIT and moved:
        text = "; ".join(moved)
    if not text:
        text = "no regression" if results.verdict == "pass" else str(results.verdict)
    return _cut(prefix + text)


def _cut(text: str) -> str:
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        text = text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return text


def fit_comment(body: str, marker: str, stamp: str = "") -> str:
    """The body with its marker first (then the run's stamp), within GitHub's size limit.

    render_comment already fits its sections to the limit; this is the last
    guard, so that a body from anywhere can never be refused with a 422.  The
    limit is counted in UTF-8 bytes, which is never less than characters: a
    comment of emoji is cut, not refused, whichever GitHub counts.
    """
    tag = marker_comment(marker)
    lines = body.split("\n")
    if lines[0] == tag:
        lines = lines[1:]
    if lines and lines[0].startswith(STAMP_PREFIX):
        lines = lines[1:]
    body = "\n".join([tag, *([stamp] if stamp else []), *lines])
    if len(body.encode()) > GITHUB_COMMENT_LIMIT:
        room = GITHUB_COMMENT_LIMIT - len(CUT_NOTE.encode())
        body = body.encode()[:room].decode(errors="ignore") + CUT_NOTE
    return body


# --- Whose comment, which run ---------------------------------------------------------------

#: The login of the Actions token (GITHUB_TOKEN), an installation token: GET /user refuses
#: it (403 "Resource not accessible by integration"), and GitHub shows what it writes as
#: this bot, type "Bot".
ACTIONS_BOT = "github-actions[bot]"
#: The hidden second line of perfgate's comment: which head commit and which run wrote it.
STAMP_PREFIX = "<!-- perfgate-run:"


def comment_author(api: GitHubAPI) -> str:
    """The login whose comments are perfgate's: the token's own.

    A personal or OAuth token is a user, whom GET /user names.  An installation
    token (the Actions token, a GitHub App's) is refused there with 403; the
    Actions token writes as github-actions[bot].  A GitHub App's token writes
    as `SLUG[bot]`, which the REST API does not tell an installation token:
    give it as `comment_author` (the publish command's --comment-author).
    """
    try:
        user = api.get("/user")
    except GitHubError as error:
        if error.status == 403:
            return ACTIONS_BOT
        raise
    login = user.get("login") if isinstance(user, dict) else None
    if not isinstance(login, str) or not login:
        raise GitHubError("GET /user: the answer names no login")
    return login


def run_stamp(sha: str, run_id: str | None) -> str:
    """`<!-- perfgate-run: head=SHA run=ID -->`: what the next run compares before editing."""
    run = f" run={run_id}" if run_id and run_id.isdigit() else ""
    return f"{STAMP_PREFIX} head={sha.lower()}{run} -->"


def _stamp_of(body: str) -> dict[str, str]:
    lines = body.split("\n", 2)
    if len(lines) < 2 or not lines[1].startswith(STAMP_PREFIX):
        return {}
    words = lines[1][len(STAMP_PREFIX) :].removesuffix("-->").split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def newer_run_wrote(comment: dict, sha: str, run_id: str | None) -> bool:
    """True when `comment` holds the verdict of a later run of the same head commit.

    Run ids grow with time in a repository, so of two runs of one commit the
    higher id is the later.  A comment of another head is never "newer" here:
    publish() has checked that `sha` is the pull request's head now.
    """
    stamp = _stamp_of(comment.get("body") or "")
    theirs = stamp.get("run", "")
    return (
        stamp.get("head") == sha.lower()
        and theirs.isdigit()
        and bool(run_id and run_id.isdigit())
        and int(theirs) > int(run_id or 0)
    )


def _is_ours(comment: Any, tag: str, author: str) -> bool:
    """The marker on the first line (as GitHub compares contexts: in any case) and written
    by the token's own identity: anyone can type the marker, nobody else can be the author."""
    if not isinstance(comment, dict):
        return False
    first = (comment.get("body") or "").split("\n", 1)[0]
    login = (comment.get("user") or {}).get("login") or ""
    return first.lower() == tag.lower() and login.lower() == author.lower()


def our_comments(api: GitHubAPI, repo: str, pr_number: int, marker: str, author: str) -> list[dict]:
    """This gate's comments by `author`, oldest first, searched on every page."""
    tag = marker_comment(marker)
    return [
        c
        for c in api.paginate(f"/repos/{repo}/issues/{pr_number}/comments")
        if _is_ours(c, tag, author)
    ]


def find_comment(
    api: GitHubAPI, repo: str, pr_number: int, marker: str, author: str
) -> dict | None:
    """This gate's comment: the oldest one by `author` that starts with the marker."""
    found = our_comments(api, repo, pr_number, marker, author)
    return found[0] if found else None


def pull_head(api: GitHubAPI, repo: str, pr_number: int) -> str | None:
    """The pull request's head commit now, None when there is no such pull request."""
    try:
        pull = api.get(f"/repos/{repo}/pulls/{pr_number}")
    except GitHubError as error:
        if error.status == 404:
            return None
        raise
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(sha, str):
        raise GitHubError(f"GET /repos/{repo}/pulls/{pr_number}: no head commit in the answer")
    return sha.lower()


def publish_comment(
    api: GitHubAPI,
    body: str,
    *,
    repo: str,
    pr_number: int,
    context: str,
    author: str,
    sha: str = "",
    run_id: str | None = None,
) -> tuple[str | None, str]:
    """Edit this gate's comment if there is one, else create it: (url, 'updated'|'created'),
    or (url, 'skipped') when a later run of the same head already wrote it.

    Creating is the one call that must not be repeated blindly: when it times
    out or meets a 5xx, GitHub may have made the comment anyway.  So each new
    attempt first looks for the marker again, and edits what it finds.  Two
    runs at once can both find none and both create; so after creating, the
    run looks again, and when an older comment of its own is there, deletes
    its new one and edits that one: one comment whichever finishes first.
    """
    body = fit_comment(body, context, run_stamp(sha, run_id) if sha else "")
    attempts = api.max_retries + 1
    for attempt in range(attempts):
        existing = find_comment(api, repo, pr_number, context, author)
        if existing is not None:
            return _edit(api, repo, existing, body, sha, run_id)
        try:
            created = api.post(
                f"/repos/{repo}/issues/{pr_number}/comments", {"body": body}, safe_to_repeat=False
            )
        except GitHubError as error:
            if not error.ambiguous or attempt == attempts - 1:
                raise
            api.sleep(api.backoff(attempt))
            continue
        first = find_comment(api, repo, pr_number, context, author)
        if first is not None and isinstance(created, dict) and first.get("id") != created.get("id"):
            api.delete(f"/repos/{repo}/issues/comments/{created.get('id')}")
            return _edit(api, repo, first, body, sha, run_id)
        return _html_url(created), "created"
    raise AssertionError("unreachable")  # pragma: no cover


def _edit(
    api: GitHubAPI, repo: str, comment: dict, body: str, sha: str, run_id: str | None
) -> tuple[str | None, str]:
    if sha and newer_run_wrote(comment, sha, run_id):
        return _html_url(comment), "skipped"
    edited = api.patch(f"/repos/{repo}/issues/comments/{comment['id']}", {"body": body})
    return _html_url(edited), "updated"


def _html_url(comment: Any) -> str | None:
    return comment.get("html_url") if isinstance(comment, dict) else None


def _read_only(error: GitHubError) -> bool:
    """403 on a write: the token may not write here (a fork's pull request, or a workflow
    without `permissions: pull-requests: write, statuses: write`).  A 404 is not: it is
    a pull request, a repository or a commit that does not exist, an error."""
    return error.status == 403


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
    author: str | None = None,
    run_id: str | None = None,
) -> PublishReport:
    """Comment (on a pull request, when asked) and set the commit status; never raises.

    The comment is the pull request's latest verdict, so it is written only
    when `sha` is the pull request's head now: a run of an older push that
    finishes late sets its own commit's status and leaves the comment to the
    newer run.  It is found by its marker and by its author, the token's
    identity (`author`, else asked of GitHub), never by the marker alone.

    A read-only token (403 "Resource not accessible by integration", as on a
    fork's pull request) is a warning; anything else that fails (GitHub down,
    a bad token, a pull request that does not exist) is an error.  Either way
    the verdict is untouched.
    """
    warnings: list[str] = []
    errors: list[str] = []
    comment_url, action = None, "skipped"
    if comment and pr_number is not None:
        try:
            comment_url, action = _comment_if_current(
                api, body, repo=repo, pr_number=pr_number, context=context, sha=sha,
                author=author, run_id=run_id, warnings=warnings,
            )  # fmt: skip
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


def _comment_if_current(
    api: GitHubAPI,
    body: str,
    *,
    repo: str,
    pr_number: int,
    context: str,
    sha: str,
    author: str | None,
    run_id: str | None,
    warnings: list[str],
) -> tuple[str | None, str]:
    head = pull_head(api, repo, pr_number)
    if head is None:
        raise GitHubError(f"pull request #{pr_number} does not exist in {repo}", status=404)
    if head != sha.lower():
        warnings.append(
            f"pull request #{pr_number}'s head is now {head[:12]}, not {sha[:12]}: its "
            "comment is left to the newer run"
        )
        return None, "skipped"
    return publish_comment(
        api, body, repo=repo, pr_number=pr_number, context=context,
        author=author or comment_author(api), sha=sha, run_id=run_id,
    )  # fmt: skip


# --- Where to post: from the trusted side ----------------------------------------------------

#: What `perfgate publish` says above figures it did not measure.
CLAIM_NOTE = (
    "> These figures are the claim of the workflow run that measured {sha}: perfgate "
    "publish posts its results file as it was uploaded, having checked only that the "
    "commit is this pull request's head."
)


@dataclass(frozen=True)
class Target:
    """The commit whose status to set and the pull request to comment on (None: none)."""

    sha: str
    pr_number: int | None


def trusted_target(
    api: GitHubAPI,
    repo: str,
    event: Event,
    *,
    sha: str | None = None,
    pr_number: int | None = None,
    fallback_sha: str = "",
) -> Target:
    """Where a saved verdict goes, from the event and the API, never from the results file.

    In a workflow_run workflow (the fork-safe pattern) the commit is the one
    GitHub says the triggering run measured, and `sha` may only repeat it; the
    pull request is the one GitHub lists for that run, or, for a fork's (which
    GitHub does not list), the open pull request from its head branch whose
    head is that commit.  A pull request number given by hand must exist (a
    404 is a wrong number, exit 2); publish() then comments only if its head
    is that commit, so a number from a forged file reaches no one else's PR.
    """
    if event.name == "workflow_run":
        if not event.head_sha:
            raise ConfigError("publish: the workflow_run event names no head commit")
        if sha and sha.lower() != event.head_sha.lower():
            raise ConfigError(
                f"publish: --sha {sha[:12]} is not the commit the triggering run measured "
                f"({event.head_sha[:12]}); the status goes on that commit"
            )
        trusted = event.head_sha
    else:
        trusted = sha or fallback_sha
    if not trusted:
        raise ConfigError("publish: no commit for the status; give --sha")
    number = pr_number or event.pr_number
    if number is None and event.name == "workflow_run":
        number = _pull_of_branch(api, repo, event)
    if number is not None and pull_head(api, repo, number) is None:
        raise ConfigError(f"publish: pull request #{number} does not exist in {repo}")
    return Target(trusted.lower(), number)


def _pull_of_branch(api: GitHubAPI, repo: str, event: Event) -> int | None:
    """The open pull request whose head is the run's branch and commit (a fork's too)."""
    owner = (event.head_repository or "").split("/")[0]
    if not (owner and event.head_branch):
        return None
    query = {"state": "open", "head": f"{owner}:{event.head_branch}"}
    found = api.get(f"/repos/{repo}/pulls", params=query)
    for pull in found if isinstance(found, list) else []:
        head = pull.get("head") if isinstance(pull, dict) else None
        if (
            isinstance(head, dict)
            and str(head.get("sha", "")).lower() == str(event.head_sha).lower()
        ):
            number = pull.get("number")
            return number if isinstance(number, int) else None
    return None


def _sort(error: GitHubError, message: str, warnings: list[str], errors: list[str]) -> None:
    if _read_only(error):
        warnings.append(
            message + " (a read-only token: a fork's pull request, or missing "
            "`permissions: pull-requests: write, statuses: write`)"
        )
    else:
        errors.append(message)
