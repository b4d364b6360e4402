"""The GitHub Actions runner contract, as small functions.

How a Docker action hears and speaks: inputs arrive as `INPUT_<NAME>`
variables (upper-cased, spaces to underscores, hyphens kept, so
`github-token` is `INPUT_GITHUB-TOKEN`); the event is the JSON file at
`GITHUB_EVENT_PATH`; outputs and the job summary are appended to the files
named by `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`; workflow commands
(`::error::`) printed on stdout make the log readable.

Nothing here knows about benchmarks: these are the runner's rules, kept in one
place so the Action and `perfgate publish` read the run the same way.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .api import DEFAULT_API_URL, api_url_from_env

#: The SHA GitHub puts in `before` when a push created the branch.
NO_COMMIT = "0" * 40
DEFAULT_SERVER_URL = "https://github.com"


# --- Inputs ---------------------------------------------------------------------------------


def input_variable(name: str) -> str:
    """The variable the runner sets for an input: `github-token` -> `INPUT_GITHUB-TOKEN`."""
    return "INPUT_" + name.replace(" ", "_").upper()


def read_inputs(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The inputs that were given, stripped; an empty one is as good as absent, because the
    runner sets every declared input, to "" when the workflow leaves it out."""
    values = {}
    for name in names:
        value = environ.get(input_variable(name), "").strip()
        if value:
            values[name] = value
    return values


# --- The event ------------------------------------------------------------------------------


def read_event(environ: Mapping[str, str]) -> dict[str, Any]:
    """The event payload at GITHUB_EVENT_PATH ({} when there is none)."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"GITHUB_EVENT_PATH: cannot read the event {path}: {error}") from None
    if not isinstance(payload, dict):
        raise ConfigError(f"GITHUB_EVENT_PATH: the event {path} is not a JSON object")
    return payload


@dataclass(frozen=True)
class Event:
    """What an event says about the commits to compare.

    pull_request (and pull_request_target, pull_request_review): the base and
    head SHAs, the number, the repository and the head's repository (another
    one on a fork's pull request); push: `before` as base, `after` as head;
    merge_group: the queue's base and head; workflow_dispatch: its inputs (a
    `base` input is taken as the base); workflow_run: the run that triggered
    this one, as GitHub describes it (not as its artifacts claim): its head
    commit, branch and repository, its pull request when GitHub names one
    (never for a fork's), and its page.
    """

    name: str = ""
    base_sha: str | None = None
    head_sha: str | None = None
    pr_number: int | None = None
    repository: str | None = None
    head_repository: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    head_branch: str | None = None
    run_id: str | None = None
    run_url: str | None = None

    @property
    def from_fork(self) -> bool:
        """A pull request from another repository: its token can only read."""
        return bool(
            self.head_repository and self.repository and self.head_repository != self.repository
        )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != NO_COMMIT else None


def _number(value: Any) -> int | None:
    text = str(value) if isinstance(value, int | str) else ""
    return int(text) if text.isdigit() and int(text) > 0 else None


#: Events that name a base and a head commit: (the object holding them, base key, head key).
COMMIT_PAIRS = {
    "push": ("", "before", "after"),
    "merge_group": ("merge_group", "base_sha", "head_sha"),
}


def parse_event(name: str, payload: Mapping[str, Any]) -> Event:
    """Read the event the way its name says; an event perfgate does not know gives nothing."""
    repository = _dict(payload.get("repository")).get("full_name")
    pull = payload.get("pull_request")
    if isinstance(pull, dict):
        number = payload.get("number") or pull.get("number")
        head = _dict(pull.get("head"))
        return Event(
            name=name,
            base_sha=_sha(_dict(pull.get("base")).get("sha")),
            head_sha=_sha(head.get("sha")),
            pr_number=_number(number),
            repository=repository,
            head_repository=_dict(head.get("repo")).get("full_name"),
        )
    if name in COMMIT_PAIRS:
        source_key, base_key, head_key = COMMIT_PAIRS[name]
        source = _dict(payload.get(source_key)) if source_key else payload
        return Event(
            name=name,
            base_sha=_sha(source.get(base_key)),
            head_sha=_sha(source.get(head_key)),
            repository=repository,
        )
    if name == "workflow_run":
        return _workflow_run_event(payload, repository)
    if name == "workflow_dispatch":
        inputs = _dict(payload.get("inputs"))
        return Event(
            name=name,
            base_sha=str(inputs.get("base") or "").strip() or None,
            repository=repository,
            inputs=inputs,
        )
    return Event(name=name, repository=repository)


def _workflow_run_event(payload: Mapping[str, Any], repository: str | None) -> Event:
    """The measuring run as GitHub tells it; its pull request only when GitHub lists one
    whose head is the run's head (GitHub lists none for a fork's pull request)."""
    run = _dict(payload.get("workflow_run"))
    head_sha = _sha(run.get("head_sha"))
    numbers = [
        _number(_dict(pull).get("number"))
        for pull in run.get("pull_requests") or []
        if _dict(_dict(pull).get("head")).get("sha") == head_sha
    ]
    run_id = run.get("id")
    return Event(
        name="workflow_run",
        head_sha=head_sha,
        pr_number=next((n for n in numbers if n), None),
        repository=repository,
        head_repository=_dict(run.get("head_repository")).get("full_name"),
        head_branch=run.get("head_branch") if isinstance(run.get("head_branch"), str) else None,
        run_id=str(run_id) if isinstance(run_id, int) else None,
        run_url=run.get("html_url") if isinstance(run.get("html_url"), str) else None,
    )


# --- The run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitHubContext:
    """What the run is about: repository, event, the commits to compare, where to post."""

    repository: str = ""
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str = ""
    event_name: str = ""
    workspace: str = "."
    #: GITHUB_SHA: the checked-out commit (for a pull request, the merge commit).
    sha: str = ""
    base_sha: str | None = None
    head_ref: str = "HEAD"
    #: Where the commit status goes: the PR's head commit, where GitHub shows it.
    status_sha: str = ""
    pr_number: int | None = None
    event: Event = field(default_factory=Event)

    @property
    def run_url(self) -> str | None:
        """GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID: the status links here."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHubContext:
        """Read the run's variables and event: pull_request, push or workflow_dispatch.

        For a pull request, head is the checked-out merge commit (what will land)
        and the status goes on the PR's head commit, where GitHub shows it.
        """
        name = environ.get("GITHUB_EVENT_NAME", "")
        event = parse_event(name, read_event(environ))
        sha = environ.get("GITHUB_SHA", "")
        return cls(
            repository=environ.get("GITHUB_REPOSITORY") or event.repository or "",
            api_url=api_url_from_env(environ),
            server_url=(environ.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            event_name=name,
            workspace=environ.get("GITHUB_WORKSPACE", "."),
            sha=sha,
            base_sha=event.base_sha,
            status_sha=event.head_sha or sha,
            pr_number=event.pr_number,
            event=event,
        )


# --- Files the runner reads back ------------------------------------------------------------


def _append(path: str | None, text: str) -> bool:
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
    return True


def format_outputs(outputs: Mapping[str, str]) -> str:
    """Outputs in the heredoc form, each with a random delimiter, so that a multi-line value
    (or one that holds `=` or a forged delimiter line) cannot end early or set another."""
    lines = []
    for name, value in outputs.items():
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:  # pragma: no cover - 128 random bits
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(lines)


def set_outputs(environ: Mapping[str, str], outputs: Mapping[str, str]) -> bool:
    """Append outputs to GITHUB_OUTPUT; False when the runner gave no such file."""
    return _append(environ.get("GITHUB_OUTPUT"), format_outputs(outputs))


def append_summary(environ: Mapping[str, str], markdown: str) -> bool:
    """Append Markdown to the job summary (GITHUB_STEP_SUMMARY); False without one."""
    return _append(environ.get("GITHUB_STEP_SUMMARY"), markdown.rstrip("\n") + "\n")


# --- Workflow commands ----------------------------------------------------------------------


def escape_data(text: str) -> str:
    """A message: % first, then CR and LF, so a message is one command and cannot start
    another (outside text that holds `\\n::add-mask::` stays inside the message)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value: as a message, and `:` and `,` too, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str = "", **properties: str) -> str:
    """`::name key=value,key=value::message`, escaped."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def error(message: str, title: str = "perfgate") -> str:
    return workflow_command("error", message, title=title)


def warning(message: str, title: str = "perfgate") -> str:
    return workflow_command("warning", message, title=title)


def warn(message: str) -> None:
    """Print a warning annotation now: flushed, so that it lands in the log beside the
    step that caused it, not after the container's buffered output."""
    print(warning(message), flush=True)


def add_mask(value: str) -> str:
    return workflow_command("add-mask", value)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A foldable section of the log, closed even when the block raises."""
    print(workflow_command("group", title), flush=True)
    try:
        yield
    finally:
        print(workflow_command("endgroup"), flush=True)
