"""The stand-in for the runner's composite-action handling (tests/composite_runner.py),
tested on small actions written here, so that the on-runner action's tests rest on it."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from composite_runner import (
    CompositeRunner,
    UnsupportedExpression,
    evaluate,
    fill,
)

CONTEXTS = {
    "inputs": {"max-runs": "7", "empty": ""},
    "github": {"action_path": "/a/b", "token": "t0k"},
    "runner": {"temp": "/tmp/r"},
    "steps": {"install": {"outputs": {"python": "/v/bin/python"}}},
    "env": {"FOO": "bar"},
}


def test_context_paths_are_looked_up_as_the_runner_does() -> None:
    assert evaluate("inputs.max-runs", CONTEXTS) == "7"
    assert evaluate(" github.action_path ", CONTEXTS) == "/a/b"
    assert evaluate("GITHUB.Token", CONTEXTS) == "t0k"  # contexts ignore case
    assert evaluate("steps.install.outputs.python", CONTEXTS) == "/v/bin/python"
    assert evaluate("steps.other.outputs.python", CONTEXTS) is None  # missing is null
    assert evaluate("inputs.max-runs.deeper", CONTEXTS) is None


def test_fill_splices_each_expression_and_null_is_empty() -> None:
    text = "${{ runner.temp }}/x-${{inputs.max-runs}}-${{ steps.none.outputs.x }}-${{ env.FOO }}"
    assert fill(text, CONTEXTS) == "/tmp/r/x-7--bar"
    assert fill(None, CONTEXTS) == ""
    assert fill("no expression", CONTEXTS) == "no expression"
    assert fill("${{ inputs.flag }}", {"inputs": {"flag": True}}) == "true"


@pytest.mark.parametrize(
    "expression",
    ["inputs.a == 'b'", "format('{0}', inputs.a)", "secrets.TOKEN", "inputs['a']", "!inputs.a"],
)
def test_anything_but_a_context_path_is_refused(expression: str) -> None:
    with pytest.raises(UnsupportedExpression):
        evaluate(expression, CONTEXTS)


def write_action(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "action.yml").write_text(textwrap.dedent(body))
    return folder


def make_runner(tmp_path: Path, body: str) -> CompositeRunner:
    action = write_action(tmp_path / "action", body)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    temp = tmp_path / "temp"
    temp.mkdir()
    job_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "JOB": "job-value"}
    return CompositeRunner(
        action,
        job_env=job_env,
        github={"workspace": str(workspace), "token": "the-token"},
        runner_temp=temp,
    )


ACTION = """
name: t
description: t
inputs:
  who: {description: w, default: world}
  token: {description: t, default: "${{ github.token }}"}
  given: {description: g}
outputs:
  greeting: {description: g, value: "${{ steps.second.outputs.greeting }}"}
  first: {description: f, value: "${{ steps.first.outputs.multi }}"}
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      working-directory: ${{ runner.temp }}
      env:
        WHO: ${{ inputs.who }}
        TOKEN: ${{ inputs.token }}
        GIVEN: ${{ inputs.given }}
      run: |
        echo "cwd=$PWD" >> "$GITHUB_OUTPUT"
        printf 'multi<<END\\n%s\\n%s\\nEND\\n' "$WHO" "$TOKEN/$GIVEN" >> "$GITHUB_OUTPUT"
        echo "FROM_FIRST=set by first" >> "$GITHUB_ENV"
        mkdir -p "$RUNNER_TEMP/bin" && echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
        printf '#!/bin/sh\\necho tool-on-path\\n' > "$RUNNER_TEMP/bin/mytool"
        chmod +x "$RUNNER_TEMP/bin/mytool"
        echo "summary of first" >> "$GITHUB_STEP_SUMMARY"
    - id: second
      shell: bash
      env:
        ACTION_PATH: ${{ github.action_path }}
      run: |
        where="$(basename "$ACTION_PATH")"
        echo "greeting=hello $FROM_FIRST, $JOB, $(mytool), $where" >> "$GITHUB_OUTPUT"
        echo "cwd $PWD"
        test "$GITHUB_ACTION_PATH" = "$ACTION_PATH"
    - id: third
      shell: bash
      run: exit 3
    - id: never
      shell: bash
      run: echo never
"""


def test_steps_run_in_order_with_env_path_outputs_and_a_stop_at_failure(tmp_path) -> None:
    runner = make_runner(tmp_path, ACTION)
    run = runner.run({"given": "g!"})
    assert run.exit_code == 3
    assert [s.id for s in run.steps] == ["first", "second", "third"]
    first, second, _ = run.steps
    assert first.outputs["cwd"] == str(tmp_path / "temp")
    assert first.outputs["multi"] == "world\nthe-token/g!"  # the default filled from github
    assert second.outputs["greeting"] == "hello set by first, job-value, tool-on-path, action"
    assert f"cwd {tmp_path / 'workspace'}" in second.stdout  # default: the workspace
    assert run.summary == "summary of first\n"
    # A failed action still maps its outputs from the steps that ran.
    assert run.outputs == {"greeting": second.outputs["greeting"], "first": "world\nthe-token/g!"}


def test_outputs_come_from_the_steps_and_stop_after_ends_early(tmp_path) -> None:
    body = ACTION.replace("run: exit 3", "run: exit 0").replace("run: echo never", "run: exit 9")
    runner = make_runner(tmp_path, body)
    early = runner.run({}, stop_after="first")
    assert [s.id for s in early.steps] == ["first"] and early.exit_code == 0
    rest = runner.run({}, steps_done={"first": {"multi": "reused"}}, stop_after="third")
    assert [s.id for s in rest.steps] == ["second", "third"]
    assert rest.outputs == {"greeting": "hello , job-value, , action", "first": "reused"}
    assert runner.run({}).exit_code == 9


def test_an_expression_inside_run_is_spliced_into_the_script(tmp_path) -> None:
    """Why inputs go through env: the runner pastes `${{ inputs.x }}` into the script."""
    body = """
    name: t
    description: t
    inputs:
      title: {description: t}
    runs:
      using: composite
      steps:
        - shell: bash
          run: echo "title is ${{ inputs.title }}"
        - shell: bash
          env: {TITLE: "${{ inputs.title }}"}
          run: echo "title is $TITLE"
    """
    runner = make_runner(tmp_path, body)
    run = runner.run({"title": "$(echo INJECTED)"})
    assert run.exit_code == 0
    spliced, through_env = run.steps
    assert spliced.stdout == "title is INJECTED\n"
    assert through_env.stdout == "title is $(echo INJECTED)\n"
