"""The GitHub Actions runner contract, as small functions.

How a Docker action hears and speaks: inputs arrive as `INPUT_<NAME>`
variables (upper-cased, spaces to underscores, hyphens kept, so
`github-token` is `INPUT_GITHUB-TOKEN`); the event is the JSON file at
`GITHUB_EVENT_PATH`; outputs and the job summary are appended to the files
named by `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`; workflow commands
(`::error::`) printed on stdout make the log readable.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def input_variable(name: str) -> str:
    return "INPUT_" + name.replace(" ", "_").upper()


def read_inputs(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The inputs that were given (empty ones are as good as absent)."""
    values = {}
    for name in names:
        value = environ.get(input_variable(name), "").strip()
        if value:
            values[name] = value
    return values


def read_event(environ: Mapping[str, str]) -> dict[str, Any]:
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"GITHUB_EVENT_PATH: cannot read the event {path}: {error}") from None


NO_COMMIT = "0" * 40


@dataclass(frozen=True)
class GitHubContext:
    """What the run is about: repository, event, the commits to compare, where to post."""

    repository: str = ""
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_id: str = ""
    event_name: str = ""
    workspace: str = "."
    base_sha: str | None = None
    head_ref: str = "HEAD"
    status_sha: str = ""
    pr_number: int | None = None

    @property
    def run_url(self) -> str | None:
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHubContext:
        """Read the run's variables and event: pull_request, push or workflow_dispatch.

        For a pull request, head is the checked-out merge commit (what will land)
        and the status goes on the PR's head commit, where GitHub shows it.
        """
        event = read_event(environ)
        name = environ.get("GITHUB_EVENT_NAME", "")
        sha = environ.get("GITHUB_SHA", "")
        base: str | None = None
        status_sha = sha
        number = None
        pull = event.get("pull_request")
        if isinstance(pull, dict):
            base = pull.get("base", {}).get("sha")
            status_sha = pull.get("head", {}).get("sha") or sha
            number = event.get("number") or pull.get("number")
        elif name == "push":
            before = event.get("before")
            base = before if before and before != NO_COMMIT else None
            status_sha = event.get("after") or sha
        elif name == "workflow_dispatch":
            base = (event.get("inputs") or {}).get("base") or None
        return cls(
            repository=environ.get("GITHUB_REPOSITORY", ""),
            api_url=environ.get("GITHUB_API_URL", "https://api.github.com"),
            server_url=environ.get("GITHUB_SERVER_URL", "https://github.com"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            event_name=name,
            workspace=environ.get("GITHUB_WORKSPACE", "."),
            base_sha=base,
            status_sha=status_sha,
            pr_number=int(number) if number else None,
        )


def _append(path: str | None, text: str) -> bool:
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
    return True


def set_outputs(environ: Mapping[str, str], outputs: Mapping[str, str]) -> bool:
    """Append outputs to GITHUB_OUTPUT, each in the heredoc form with a random delimiter,
    so a multi-line value (or one that contains `=`) cannot forge another output."""
    lines = []
    for name, value in outputs.items():
        delimiter = f"perfgate_{secrets.token_hex(8)}"
        lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return _append(environ.get("GITHUB_OUTPUT"), "".join(lines))


def append_summary(environ: Mapping[str, str], markdown: str) -> bool:
    return _append(environ.get("GITHUB_STEP_SUMMARY"), markdown.rstrip("\n") + "\n")


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str = "", **properties: str) -> str:
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def error(message: str, title: str = "perfgate") -> str:
    return workflow_command("error", message, title=title)


def warning(message: str, title: str = "perfgate") -> str:
    return workflow_command("warning", message, title=title)


def add_mask(value: str) -> str:
    return workflow_command("add-mask", value)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A foldable section of the log."""
    print(workflow_command("group", title), flush=True)
    try:
        yield
    finally:
        print(workflow_command("endgroup"), flush=True)
