"""The Action: inputs and event in, gate run, files and outputs written, then GitHub told.

The order is the point.  The job summary, the results JSON and the step
outputs are written before any API call, so a GitHub outage or a fork's
read-only token can cost the comment but never the verdict or its evidence.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path

from .. import config
from .. import workspace as git_workspace
from ..errors import (
    EXIT_INFRASTRUCTURE,
    EXIT_PASS,
    EXIT_REGRESSION,
    ConfigError,
    PerfgateError,
)
from ..gate import Outcome, run_gate
from ..progress import Progress
from ..report.markdown import render_comment
from ..results import Results, Side
from . import actions, image
from .api import GitHubAPI
from .publish import publish

#: Inputs that are gate settings: the same names as `.perfgate.yml` keys and CLI flags.
GATE_INPUTS = (
    "command", "setup", "setup-timeout", "base", "head", "runs", "max-runs", "warmup", "timeout",
    "time-threshold", "memory-threshold", "instructions", "instructions-threshold",
    "inconclusive", "working-directory",
)  # fmt: skip
#: Inputs that only the Action has.
ACTION_ONLY_INPUTS = (
    "config", "github-token", "comment", "status-context", "fail-on-regression",
)  # fmt: skip
INPUTS = GATE_INPUTS + ACTION_ONLY_INPUTS
OUTPUTS = ("verdict", "results-json", "report-markdown", "regressions")
RESULTS_DIR = ".perfgate"


def _flag(inputs: Mapping[str, str], name: str, default: bool) -> bool:
    if name not in inputs:
        return default
    return config.parse_bool(name, inputs[name])


def mark_safe_directory(workspace: Path) -> None:
    """The checkout belongs to the runner's user, not to the container's root: git
    refuses to work in it until it is marked safe.  On the runner itself (the on-runner
    action) the checkout is the user's own, and their ~/.gitconfig is left as it was."""
    if workspace.stat().st_uid == os.geteuid():
        return
    subprocess.run(
        ["git", "config", "--global", "--add", "safe.directory", str(workspace)],
        capture_output=True,
        check=False,
    )


def load_config(
    inputs: Mapping[str, str], context: actions.GitHubContext, workspace: Path
) -> config.Config:
    """The gate's settings: action inputs over the base commit's configuration file.

    The file is read from the base commit only (the event's base: a pull
    request's, a merge queue's), never from the checkout.  A `config:` input
    that names a file the base does not have is an error, not a quiet fall
    back to the pull request's copy.
    """
    values = {k: v for k, v in inputs.items() if k in GATE_INPUTS}
    if "base" not in values and context.base_sha:
        values["base"] = context.base_sha
    base = values.get("base")
    if base and base.startswith("-"):
        raise ConfigError(f"base: {base!r} starts with '-': a ref or a SHA, not an option")
    if base and len(base) == 40:
        git_workspace.ensure_commit(workspace, base)
    name = inputs.get("config", config.CONFIG_FILE)
    with tempfile.TemporaryDirectory(prefix="perfgate-config-") as folder:
        config_path = trusted_config_file(workspace, base, name, Path(folder))
        if config_path is None and "config" in inputs:
            if base:
                raise ConfigError(
                    f"config: {name} is not in the base commit {base[:12]}; the gate reads "
                    "its settings from the base only (a pull request's copy counts once it "
                    "lands)"
                )
            config_path = workspace / name
        return config.load(
            repo=workspace,
            config_path=config_path,
            layers=(("action input", values),),
            read_repo_file=not base,  # with a base, only its copy counts
        )


def trusted_config_file(workspace: Path, base: str | None, name: str, folder: Path) -> Path | None:
    """The configuration as the base commit has it, written to a file of its own.

    The pull request is untrusted: read from its checkout, `.perfgate.yml`
    would let it loosen the gate that judges it (`time-threshold: 99%`).  A
    change to the file takes effect once it has landed.  The copy goes into
    `folder`, which the caller removes once the file is read.
    """
    if not base:
        return None
    shown = subprocess.run(
        ["git", "show", "--end-of-options", f"{base}:{name}"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        return None
    head_copy = workspace / name
    if head_copy.is_file() and head_copy.read_text(encoding="utf-8") != shown.stdout:
        print(
            actions.warning(
                f"{name} differs in this pull request; the base commit's copy is used "
                "until the change lands"
            ),
            flush=True,
        )
    trusted = folder / Path(name).name
    trusted.write_text(shown.stdout, encoding="utf-8")
    return trusted


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Run the Action; the exit code is the gate's (see DESIGN.md "Exit codes").

    Publishing trouble never changes it: the files and outputs are written
    before the first API call, and a failed call is a warning in the log.
    """
    inputs = actions.read_inputs(environ, INPUTS)
    token = inputs.get("github-token", "")
    if token:
        print(actions.add_mask(token), flush=True)
    workspace = Path(environ.get("GITHUB_WORKSPACE") or ".").resolve()
    results_dir = workspace / RESULTS_DIR
    context_name = inputs.get("status-context", "perfgate")
    try:
        comment = _flag(inputs, "comment", True)
        fail_on_regression = _flag(inputs, "fail-on-regression", True)
        context = actions.GitHubContext.from_env(environ)
        mark_safe_directory(workspace)
        cfg = load_config(inputs, context, workspace)
        image.check_python(environ, cfg)  # the Docker action's one Python; no-op elsewhere
        with actions.group("perfgate: measuring base and head"):
            outcome = run_gate(cfg, Progress(sys.stdout, live=False))
    except PerfgateError as problem:
        prefix = "configuration: " if isinstance(problem, ConfigError) else ""
        print(actions.error(f"{prefix}{problem}"), flush=True)
        _write_all(environ, _error_results(str(problem)), results_dir, context_name, None)
        return problem.exit_code
    except Exception as problem:  # a bug must still leave a summary and an exit code of 4
        traceback.print_exc()
        message = f"perfgate crashed: {type(problem).__name__}: {problem}"
        print(actions.error(message), flush=True)
        _write_all(environ, _error_results(message), results_dir, context_name, None)
        return EXIT_INFRASTRUCTURE
    body = _write_all(environ, outcome.results, results_dir, context_name, context.run_url)
    _annotate(outcome)
    if token and context.repository and context.status_sha:
        _publish(outcome.results, body, token, context, context_name, comment)
    elif not token:
        print(actions.warning("no github-token: nothing posted to GitHub"), flush=True)
    if outcome.exit_code == EXIT_REGRESSION and not fail_on_regression:
        return EXIT_PASS
    return outcome.exit_code


def _error_results(message: str) -> Results:
    return Results(
        verdict="error", sides={"base": Side("", ""), "head": Side("", "")}, error=message
    )


def _write_all(
    environ: Mapping[str, str],
    results: Results,
    results_dir: Path,
    context_name: str,
    run_url: str | None,
) -> str:
    """Results JSON, Markdown, job summary and outputs: all before any API call."""
    body = render_comment(results, marker=context_name, run_url=run_url)
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(context_name)
    json_path = results_dir / f"{stem}-results.json"
    markdown_path = results_dir / f"{stem}-report.md"
    results.write(json_path)
    markdown_path.write_text(body, encoding="utf-8")
    actions.append_summary(environ, body)
    regressions = ",".join(c.metric for c in results.regressions)
    actions.set_outputs(
        environ,
        {
            "verdict": results.verdict or "error",
            "results-json": str(json_path),
            "report-markdown": str(markdown_path),
            "regressions": regressions,
        },
    )
    return body


def file_stem(context_name: str) -> str:
    """A status context as a file name: any text may name a context, not any text a file."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", context_name).strip(".-") or "perfgate"


def _annotate(outcome: Outcome) -> None:
    results = outcome.results
    for c in results.regressions:
        print(
            actions.error(
                f"{c.metric} regressed by {c.change:+.1%} "
                f"(95% interval {c.ci[0]:+.1%} to {c.ci[1]:+.1%}, threshold {c.threshold:.0%})"
            ),
            flush=True,
        )
    if results.verdict == "error":
        print(actions.error(results.error or "the gate failed"), flush=True)


def _publish(
    results: Results,
    body: str,
    token: str,
    context: actions.GitHubContext,
    context_name: str,
    comment: bool,
) -> None:
    with actions.group("perfgate: publishing to GitHub"):
        api = GitHubAPI(context.api_url, token)
        report = publish(
            results,
            body,
            api=api,
            repo=context.repository,
            sha=context.status_sha,
            pr_number=context.pr_number,
            context=context_name,
            run_url=context.run_url,
            comment=comment,
            run_id=context.run_id or None,
        )
        if report.comment_url:
            print(f"comment {report.comment_action}: {report.comment_url}", flush=True)
        if report.status_state:
            print(f"status {context_name!r}: {report.status_state}", flush=True)
        # Publishing trouble is a warning: the verdict, the summary and the files stand.
        for message in (*report.warnings, *report.errors):
            print(actions.warning(f"publishing: {message}"), flush=True)
        if report.warnings and context.event.from_fork:
            print(
                actions.warning(
                    "a fork's pull request gets a read-only token: see docs/action.md, "
                    "'Pull requests from forks', for the two-workflow pattern"
                ),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
