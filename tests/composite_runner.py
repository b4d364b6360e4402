"""A composite action run the way the GitHub Actions runner runs one.

Reads an `action.yml` with `runs.using: composite` and, for each step: fills
its `${{ ... }}` expressions from the contexts (inputs with their defaults,
github, runner, env, steps), writes its `run:` script to a file under
RUNNER_TEMP and starts it with the runner's command line for its `shell:`
(`bash --noprofile --norc -eo pipefail FILE`), in its `working-directory:`,
with the job's environment, what earlier steps appended to GITHUB_ENV and
GITHUB_PATH, the step's own `env:`, GITHUB_ACTION_PATH, and fresh
GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV / GITHUB_PATH files, read
back after the step.  The first failing step ends the action; then the
action's outputs are filled from `outputs.*.value`.

Only the expressions an action of this repository uses are understood: a
context path (`inputs.max-runs`, `github.action_path`, `steps.gate.outputs.verdict`).
Anything else raises, so a test cannot pass over an expression it misreads.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from test_runner_contract import read_outputs  # GITHUB_OUTPUT and GITHUB_ENV share a format

#: The runner's command line per `shell:` ({0} is the script file), as GitHub documents it.
SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
    "python": ["python", "{0}"],
}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
CONTEXT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
CONTEXTS = ("inputs", "github", "runner", "env", "steps", "job", "strategy", "matrix")


class UnsupportedExpression(ValueError):
    """An expression this stand-in does not evaluate (the test must not guess)."""


def _lookup(value: Any, name: str) -> Any:
    """Property access as the runner does it: case-insensitive, missing is null."""
    if not isinstance(value, Mapping):
        return None
    for key, item in value.items():
        if key.lower() == name.lower():
            return item
    return None


def evaluate(expression: str, contexts: Mapping[str, Any]) -> Any:
    """One expression (the text between `${{` and `}}`): a context path only."""
    text = expression.strip()
    if not CONTEXT_PATH.fullmatch(text):
        raise UnsupportedExpression(text)
    first, *rest = text.split(".")
    if first.lower() not in CONTEXTS:
        raise UnsupportedExpression(f"unknown context {first!r} in {text!r}")
    value = _lookup(contexts, first)
    for name in rest:
        value = _lookup(value, name)
    return value


def _as_string(value: Any) -> str:
    """A value spliced into a string: null is '', booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fill(template: Any, contexts: Mapping[str, Any]) -> str:
    """Every `${{ ... }}` of a string replaced by its value, as the runner does."""
    if template is None:
        return ""
    return EXPRESSION.sub(lambda m: _as_string(evaluate(m.group(1), contexts)), str(template))


@dataclass
class StepResult:
    id: str
    exit_code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    """What the job sees after the action: exit code, outputs, log, summary."""

    exit_code: int
    outputs: dict[str, str]
    steps: list[StepResult]
    summary: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def stdout(self) -> str:
        return "".join(step.stdout for step in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(step.stderr for step in self.steps)

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def load_action(path: Path) -> dict[str, Any]:
    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    if metadata["runs"]["using"] != "composite":
        raise ValueError(f"{path} is not a composite action")
    return metadata


def input_values(
    metadata: Mapping[str, Any], given: Mapping[str, str], contexts: Mapping[str, Any]
) -> dict[str, str]:
    """`with:` values, else the input's default (itself an expression), else ''."""
    values = {}
    for name, spec in (metadata.get("inputs") or {}).items():
        values[name] = given[name] if name in given else fill(spec.get("default"), contexts)
    return values


class CompositeRunner:
    """Runs one composite action's steps for a job described by its environment."""

    def __init__(
        self,
        action_dir: Path,
        *,
        job_env: Mapping[str, str],
        github: Mapping[str, Any],
        runner_temp: Path,
        timeout_s: float = 900,
    ) -> None:
        self.action_dir = action_dir
        self.metadata = load_action(action_dir / "action.yml")
        self.job_env = dict(job_env)
        self.github = {**github, "action_path": str(action_dir)}
        self.runner_temp = runner_temp
        self.timeout_s = timeout_s

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        steps_done: Mapping[str, Mapping[str, str]] | None = None,
        stop_after: str | None = None,
    ) -> ActionRun:
        """Run the steps in order; `steps_done` names steps already run, with their outputs,
        and `stop_after` the last step to run (a test module installs once and reuses that
        step's outputs)."""
        base = {"github": self.github, "runner": {"temp": str(self.runner_temp)}}
        contexts: dict[str, Any] = {
            **base,
            "inputs": input_values(self.metadata, inputs, base),
            "steps": {k: {"outputs": dict(v)} for k, v in (steps_done or {}).items()},
        }
        added_env: dict[str, str] = {}
        added_path: list[str] = []
        results: list[StepResult] = []
        summary: list[str] = []
        for index, step in enumerate(self.metadata["runs"]["steps"]):
            step_id = step.get("id", f"__{index}")
            if step_id in (steps_done or {}):
                continue
            contexts["env"] = {**self.job_env, **added_env}
            result, files = self._run_step(step_id, step, contexts, added_env, added_path)
            results.append(result)
            summary.append(files["summary"].read_text(encoding="utf-8"))
            added_env.update(read_outputs(files["env"]))
            added_path[:0] = reversed(
                [p for p in files["path"].read_text().splitlines() if p.strip()]
            )
            contexts["steps"][step_id] = {"outputs": result.outputs}
            if result.exit_code != 0 or step_id == stop_after:
                break
        # The runner maps the outputs after the steps, a failed step or not
        # (CompositeActionHandler: RunStepsAsync stops at the failure, ProcessOutputs follows).
        outputs = {
            name: fill(spec.get("value"), contexts)
            for name, spec in (self.metadata.get("outputs") or {}).items()
        }
        exit_code = results[-1].exit_code if results else 0
        return ActionRun(exit_code, outputs, results, "".join(summary), added_env)

    def _run_step(
        self,
        step_id: str,
        step: Mapping[str, Any],
        contexts: Mapping[str, Any],
        added_env: Mapping[str, str],
        added_path: list[str],
    ) -> tuple[StepResult, dict[str, Path]]:
        if "run" not in step:
            raise ValueError(f"step {step_id}: only run: steps are supported")
        shell = step["shell"]  # a composite action's run: step must name its shell
        files = self._file_commands()
        env = {**self.job_env, **added_env}
        if added_path:
            env["PATH"] = os.pathsep.join([*added_path, env.get("PATH", "")])
        env.update({name: fill(value, contexts) for name, value in (step.get("env") or {}).items()})
        env.update(
            GITHUB_ACTION_PATH=str(self.action_dir),
            GITHUB_OUTPUT=str(files["output"]),
            GITHUB_STEP_SUMMARY=str(files["summary"]),
            GITHUB_ENV=str(files["env"]),
            GITHUB_PATH=str(files["path"]),
            RUNNER_TEMP=str(self.runner_temp),
        )
        script = self.runner_temp / f"{uuid.uuid4()}.sh"
        script.write_text(fill(step["run"], contexts), encoding="utf-8")
        argv = [part.replace("{0}", str(script)) for part in SHELLS[shell]]
        cwd = fill(step.get("working-directory"), contexts) or self.github["workspace"]
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=self.timeout_s
        )
        script.unlink()
        outputs = read_outputs(files["output"])
        return StepResult(step_id, done.returncode, done.stdout, done.stderr, outputs), files

    def _file_commands(self) -> dict[str, Path]:
        folder = self.runner_temp / "_runner_file_commands"
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        names = {"output": "set_output", "summary": "step_summary", "env": "set_env",
                 "path": "add_path"}  # fmt: skip
        files = {key: folder / f"{name}_{token}" for key, name in names.items()}
        for path in files.values():
            path.write_text("", encoding="utf-8")
        return files
