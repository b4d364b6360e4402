"""The runner contract: inputs, the event, outputs, the job summary, workflow commands.

The expected strings come from the runner's documented rules (docs.github.com,
"Workflow commands for GitHub Actions" and "Metadata syntax"), not from the
code under test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from perfgate.errors import ConfigError
from perfgate.github import runner_contract
from perfgate.github.runner_contract import GitHubContext, parse_event

BASE, HEAD, MERGE = "b" * 40, "d" * 40, "e" * 40


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it: `name=value` lines and `name<<DELIM` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
            i += 1
        else:
            i += 1
    return values


def pull_request_event(head_repo: str = "octo/widgets") -> dict:
    return {
        "action": "synchronize",
        "number": 12,
        "pull_request": {
            "number": 12,
            "base": {"sha": BASE, "ref": "main", "repo": {"full_name": "octo/widgets"}},
            "head": {"sha": HEAD, "ref": "feature", "repo": {"full_name": head_repo}},
        },
        "repository": {"full_name": "octo/widgets"},
    }


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("github-token", "INPUT_GITHUB-TOKEN"),
        ("time-threshold", "INPUT_TIME-THRESHOLD"),
        ("command", "INPUT_COMMAND"),
        ("my input", "INPUT_MY_INPUT"),
    ],
)
def test_input_variable_names(name: str, variable: str) -> None:
    assert runner_contract.input_variable(name) == variable


def test_read_inputs_keeps_given_values_and_drops_empty_ones() -> None:
    environ = {
        "INPUT_GITHUB-TOKEN": "t0k",
        "INPUT_COMMAND": "  pytest -q  ",
        "INPUT_SETUP": "",
        "INPUT_RUNS": "   ",
        "INPUT_GITHUB_TOKEN": "not this one",
    }
    names = ("github-token", "command", "setup", "runs", "base")
    assert runner_contract.read_inputs(environ, names) == {
        "github-token": "t0k",
        "command": "pytest -q",
    }


def test_pull_request_event() -> None:
    event = parse_event("pull_request", pull_request_event())
    assert (event.base_sha, event.head_sha, event.pr_number) == (BASE, HEAD, 12)
    assert event.repository == "octo/widgets" and not event.from_fork


def test_a_fork_is_recognised() -> None:
    event = parse_event("pull_request", pull_request_event(head_repo="someone/widgets"))
    assert event.from_fork


def test_push_event_and_a_new_branch() -> None:
    push = parse_event("push", {"before": BASE, "after": HEAD})
    assert (push.base_sha, push.head_sha, push.pr_number) == (BASE, HEAD, None)
    created = parse_event("push", {"before": "0" * 40, "after": HEAD})
    assert created.base_sha is None and created.head_sha == HEAD


def test_workflow_dispatch_event() -> None:
    event = parse_event("workflow_dispatch", {"inputs": {"base": " v1.2 ", "runs": "20"}})
    assert event.base_sha == "v1.2" and event.inputs == {"base": " v1.2 ", "runs": "20"}
    assert parse_event("workflow_dispatch", {"inputs": None}).base_sha is None


def test_unknown_or_malformed_events_give_nothing() -> None:
    assert parse_event("schedule", {"schedule": "0 0 * * *"}).base_sha is None
    odd = parse_event("pull_request", {"pull_request": {"base": "x", "number": "twelve"}})
    assert (odd.base_sha, odd.head_sha, odd.pr_number) == (None, None, None)


def test_context_from_a_pull_request_run(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(pull_request_event()))
    environ = {
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_SHA": MERGE,
        "GITHUB_REPOSITORY": "octo/widgets",
        "GITHUB_API_URL": "https://ghe.example/api/v3",
        "GITHUB_SERVER_URL": "https://ghe.example/",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_WORKSPACE": "/github/workspace",
    }
    context = GitHubContext.from_env(environ)
    assert context.sha == MERGE and context.base_sha == BASE
    assert context.status_sha == HEAD  # the status goes where GitHub shows it: the PR's head
    assert context.pr_number == 12 and context.event_name == "pull_request"
    assert context.api_url == "https://ghe.example/api/v3"
    assert context.run_url == "https://ghe.example/octo/widgets/actions/runs/4242"
    assert context.workspace == "/github/workspace"


def test_context_defaults_outside_actions() -> None:
    context = GitHubContext.from_env({})
    assert context.api_url == "https://api.github.com" and context.run_url is None
    assert context.pr_number is None and context.base_sha is None


def test_an_unreadable_event_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="GITHUB_EVENT_PATH"):
        GitHubContext.from_env({"GITHUB_EVENT_PATH": str(bad)})
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        GitHubContext.from_env({"GITHUB_EVENT_PATH": str(bad)})


def test_outputs_round_trip_through_the_runners_format(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=kept\n")
    forged = "line one\nverdict=pass\nghadelimiter_x\nregressions<<EOF\nwall_time\nEOF"
    outputs = {"verdict": "fail", "report": forged, "empty": "", "eq": "a=b<<c"}
    assert runner_contract.set_outputs({"GITHUB_OUTPUT": str(path)}, outputs)
    assert read_outputs(path) == {"earlier": "kept", **outputs}
    delimiters = re.findall(r"^(?:verdict|report|empty|eq)<<(\S+)$", path.read_text(), flags=re.M)
    assert len(set(delimiters)) == 4 and all(d.startswith("ghadelimiter_") for d in delimiters)


def test_no_output_file_is_not_an_error() -> None:
    assert runner_contract.set_outputs({}, {"verdict": "pass"}) is False
    assert runner_contract.append_summary({}, "# hi") is False


def test_summary_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    environ = {"GITHUB_STEP_SUMMARY": str(path)}
    runner_contract.append_summary(environ, "# first\n\n\n")
    runner_contract.append_summary(environ, "second")
    assert path.read_text() == "# first\nsecond\n"


def test_escaping_of_messages_and_properties() -> None:
    assert runner_contract.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert runner_contract.escape_property("a: b, c%\n") == "a%3A b%2C c%25%0A"
    assert runner_contract.escape_data("%0A") == "%250A"  # an escape in the text stays text


def test_workflow_commands() -> None:
    assert runner_contract.error("wall_time regressed\nby 30%") == (
        "::error title=perfgate::wall_time regressed%0Aby 30%25"
    )
    assert runner_contract.warning("x", title="perfgate: forks, PRs") == (
        "::warning title=perfgate%3A forks%2C PRs::x"
    )
    assert runner_contract.add_mask("ghs_abc") == "::add-mask::ghs_abc"
    assert runner_contract.workflow_command("endgroup") == "::endgroup::"


def test_outside_text_cannot_start_a_command_of_its_own() -> None:
    line = runner_contract.error("log tail:\n::add-mask::x\n::stop-commands::y")
    # The runner reads a command only at the start of a line: one line, one command.
    assert "\n" not in line and "\r" not in line and line.startswith("::error title=perfgate::")


def test_group_is_closed_even_when_the_block_raises(capsys) -> None:
    with pytest.raises(RuntimeError), runner_contract.group("measuring"):
        print("inside")
        raise RuntimeError("boom")
    assert capsys.readouterr().out == "::group::measuring\ninside\n::endgroup::\n"
