"""The Action: inputs and event in, gate run, files and outputs written, then GitHub told.

The order is the point.  The job summary, the results JSON and the step
outputs are written before any API call, so a GitHub outage or a fork's
read-only token can cost the comment but never the verdict or its evidence.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .. import config, options, shards
from .. import workspace as git_workspace
from ..errors import (
    EXIT_INFRASTRUCTURE,
    EXIT_PASS,
    EXIT_REGRESSION,
    ConfigError,
    PerfgateError,
)
from ..pipeline import Outcome, run_gate
from ..progress import Progress
from ..report.budgets import over_phrases
from ..report.format import one_line
from ..report.markdown import render_comment
from ..results import Results, Side
from . import image, runner_contract
from .api import GitHubAPI
from .publish import publish

#: Keys of `.perfgate.yml` that are no input: the Action gates the checkout it runs in,
#: and always writes the results JSON and the report (its results-json and
#: report-markdown outputs name them).
NOT_INPUTS = ("repo", "json", "markdown")
#: Inputs that are gate settings: the same names as `.perfgate.yml` keys and CLI flags.
GATE_INPUTS = tuple(key for key in options.KEYS if key not in NOT_INPUTS)
#: Inputs that only the Action has.
ACTION_ONLY_INPUTS = (
    "config", "github-token", "comment", "status-context", "fail-on-regression", "merge",
)  # fmt: skip
INPUTS = GATE_INPUTS + ACTION_ONLY_INPUTS
OUTPUTS = ("verdict", "results-json", "report-markdown", "regressions")
RESULTS_DIR = ".perfgate"
T = TypeVar("T")


def _flag(inputs: Mapping[str, str], name: str, default: bool) -> bool:
    if name not in inputs:
        return default
    return options.parse_bool(name, inputs[name])


def mark_safe_directory(workspace: Path) -> None:
    """The checkout belongs to the runner's user, not to the container's root: git
    refuses to work in it until it is marked safe.  On the runner itself (the on-runner
    action) the checkout is the user's own: nothing to do.

    Through GIT_CONFIG_COUNT in perfgate's own environment (git reads it as
    command-line configuration), not `git config --global`: that would leave a
    root-owned .gitconfig in the runner's home folder, which is the host's.
    """
    if workspace.stat().st_uid == os.geteuid():
        return
    count = os.environ.get("GIT_CONFIG_COUNT", "0")
    index = int(count) if count.isdigit() else 0
    os.environ[f"GIT_CONFIG_KEY_{index}"] = "safe.directory"
    os.environ[f"GIT_CONFIG_VALUE_{index}"] = str(workspace)
    os.environ["GIT_CONFIG_COUNT"] = str(index + 1)


def load_config(
    inputs: Mapping[str, str], context: runner_contract.GitHubContext, workspace: Path
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
        runner_contract.warn(
            f"{name} differs in this pull request; the base commit's copy is used "
            "until the change lands"
        )
    trusted = folder / Path(name).name
    trusted.write_text(shown.stdout, encoding="utf-8")
    return trusted


class Cancelled(BaseException):
    """The runner cancelled the job: SIGINT, then SIGTERM 7.5 s later (then SIGKILL)."""

    exit_code = 130


def _cancel(signum: int, frame: object) -> None:
    # perfgate is PID 1 in the container: without a handler, SIGTERM would be ignored.
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)  # one cancellation; the cleanup must finish
    raise Cancelled(f"cancelled ({signal.Signals(signum).name})")


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Run the Action; the exit code is the gate's (see DESIGN.md "Exit codes").

    Nothing after the measuring changes it: the files and outputs are written
    before the first API call, and a failure writing one of them, or publishing,
    is a warning in the log.  A crash or a cancellation still posts status
    `error`.  Whatever perfgate wrote in the checkout is handed to the
    checkout's owner on the way out (the next step runs as that user).
    """
    inputs = runner_contract.read_inputs(environ, INPUTS)
    token = inputs.get("github-token", "")
    if token:
        print(runner_contract.add_mask(token), flush=True)
    workspace = Path(environ.get("GITHUB_WORKSPACE") or ".").resolve()
    context_name = inputs.get("status-context", "perfgate")
    context = runner_contract.GitHubContext()
    publish_to = None
    with _cancellable():
        try:
            comment = _flag(inputs, "comment", True)
            fail_on_regression = _flag(inputs, "fail-on-regression", True)
            context = runner_contract.GitHubContext.from_env(environ)
            publish_to = _Target(token, context, context_name, comment)
            mark_safe_directory(workspace)
            if inputs.get("merge", "").strip():
                with runner_contract.group("perfgate: merging the shards' results"):
                    outcome = merge_files(workspace, inputs["merge"], context.sha)
            else:
                cfg = load_config(inputs, context, workspace)
                image.check_python(environ, cfg)  # the Docker action's one Python, else no-op
                with runner_contract.group("perfgate: measuring base and head"):
                    outcome = run_gate(cfg, Progress(sys.stdout, live=False))
        except ConfigError as problem:  # nothing ran: no status (docs/action.md)
            message = f"configuration: {problem}"
            return _stop(environ, workspace, message, problem.exit_code, None, context_name)
        except PerfgateError as problem:
            return _stop(environ, workspace, str(problem), problem.exit_code, publish_to)
        except (Cancelled, SystemExit) as stop:  # SystemExit: SIGTERM inside the checkouts
            reason = stop if isinstance(stop, Cancelled) else "cancelled (SIGTERM)"
            code = stop.exit_code if isinstance(stop, Cancelled) else 128 + signal.SIGTERM
            return _stop(environ, workspace, f"perfgate was {reason}", code, publish_to)
        except Exception as problem:  # a bug must still leave a summary, a status, exit code 4
            traceback.print_exc()
            message = f"perfgate crashed: {type(problem).__name__}: {problem}"
            return _stop(environ, workspace, message, EXIT_INFRASTRUCTURE, publish_to)
        try:
            body = _write_all(environ, outcome.results, workspace, context_name, context.run_url)
            _annotate(outcome)
        finally:
            give_back(workspace)
        if publish_to is not None and outcome.results.shard is None:  # a shard decides nothing
            publish_to.post(outcome.results, body)
    if outcome.exit_code == EXIT_REGRESSION and not fail_on_regression:
        return EXIT_PASS
    return outcome.exit_code


def merge_files(workspace: Path, pattern: str, checked_out: str = "") -> Outcome:
    """The `merge` input: every results file the glob matches in the workspace (the
    artifacts of the shard jobs), merged into one verdict as `perfgate merge` does."""
    matches = sorted(glob.glob(pattern.strip(), root_dir=workspace, recursive=True))
    files = [workspace / name for name in matches if (workspace / name).is_file()]
    if not files:
        raise ConfigError(
            f"merge: no file in the workspace matches {pattern.strip()!r}; expected the "
            "shards' results files (downloaded artifacts), e.g. shards/*/perfgate-results.json"
        )
    named = [(_relative(path, workspace), shards.read(path)) for path in files]
    outcome = Outcome(*shards.merge(named))
    check_measured_commit(outcome.results, checked_out)
    return outcome


def check_measured_commit(results: Results, checked_out: str) -> None:
    """The shards must have measured the commit this run is about (GITHUB_SHA, the same in
    every job of a workflow run), or the merge would post their verdict on another commit.

    This is what stops a results file the pull request carries in its own tree (say at
    the path a workflow uploads): it cannot name the commit that contains it.
    """
    head = results.sides.get("head")
    if not checked_out or results.verdict == "error":
        return  # a failed shard fails the merge already; outside Actions nothing to check
    measured = head.sha if head is not None else ""
    if measured != checked_out:
        raise ConfigError(
            f"merge: the shards measured head {one_line(measured, 40) or 'none'}, but this run is "
            f"about {checked_out[:12]}; merge the results of this workflow run's shard jobs"
        )


@contextlib.contextmanager
def _cancellable() -> Iterator[None]:
    """SIGINT and SIGTERM raise Cancelled in the block (the main thread's only)."""
    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _cancel)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass(frozen=True)
class _Target:
    """Where and how to publish; `post` never raises."""

    token: str
    context: runner_contract.GitHubContext
    name: str
    comment: bool

    def post(self, results: Results, body: str) -> None:
        if not self.token:
            runner_contract.warn("no github-token: nothing posted to GitHub")
            return
        if not (self.context.repository and self.context.status_sha):
            return
        try:
            _publish(results, body, self.token, self.context, self.name, self.comment)
        except Exception as problem:  # e.g. a token no HTTP header can carry
            runner_contract.warn(f"publishing failed: {type(problem).__name__}: {problem}")


def _stop(
    environ: Mapping[str, str],
    workspace: Path,
    message: str,
    exit_code: int,
    publish_to: _Target | None,
    context_name: str = "perfgate",
) -> int:
    """The gate did not reach a verdict: say why everywhere, and with `publish_to`, on
    GitHub too (status `error`)."""
    print(runner_contract.error(message), flush=True)
    results = _error_results(message)
    context_name = publish_to.name if publish_to else context_name
    run_url = publish_to.context.run_url if publish_to else None
    try:
        body = _write_all(environ, results, workspace, context_name, run_url)
    finally:
        give_back(workspace)
    if publish_to is not None:
        publish_to.post(results, body)
    return exit_code


def _error_results(message: str) -> Results:
    return Results(
        verdict="error", sides={"base": Side("", ""), "head": Side("", "")}, error=message
    )


def _write_all(
    environ: Mapping[str, str],
    results: Results,
    workspace: Path,
    context_name: str,
    run_url: str | None,
) -> str:
    """Results JSON, Markdown, job summary and outputs: all before any API call.

    Each is written on its own: one that fails is a warning and the others stand.
    The outputs are paths relative to the workspace, which is where the next step
    (on the host, where /github/workspace means nothing) starts.
    """
    body = render_comment(results, marker=context_name, run_url=run_url)
    folder = _attempt("results folder", results_folder, workspace)
    paths = {"results-json": "", "report-markdown": ""}
    if folder is not None:
        stem = file_stem(context_name)
        files = {
            "results-json": (folder / f"{stem}-results.json", results.dumps()),
            "report-markdown": (folder / f"{stem}-report.md", body),
        }
        for output, (path, text) in files.items():
            if _attempt(path.name, write_file, path, text) is not None:
                paths[output] = _relative(path, workspace)
    _attempt("job summary", runner_contract.append_summary, environ, body)
    regressions = ",".join(c.metric for c in results.regressions)
    verdict = results.verdict or ("shard" if results.shard is not None else "error")
    outputs = {"verdict": verdict, **paths, "regressions": regressions}
    _attempt("step outputs", runner_contract.set_outputs, environ, outputs)
    return body


def _attempt(what: str, action: Callable[..., T], *args: Any) -> T | None:
    """`action(*args)`, or None and a warning naming `what` when it fails."""
    try:
        return action(*args)
    except Exception as problem:
        runner_contract.warn(f"could not write the {what}: {type(problem).__name__}: {problem}")
        return None


def _relative(path: Path, workspace: Path) -> str:
    try:
        return str(path.relative_to(workspace))
    except ValueError:
        return str(path)


def results_folder(workspace: Path) -> Path:
    """`.perfgate` in the workspace, if it is a real folder or perfgate makes it now.

    The checkout is the pull request's: a file or a symlink named `.perfgate` that
    it ships must neither stop perfgate from writing its results nor send them
    elsewhere (a symlink to the runner's file-command files).  Then the results
    go to a new folder of perfgate's own, `.perfgate-XXXXXXXX`, named in the outputs.
    """
    path = workspace / RESULTS_DIR
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        return path
    if path.is_dir() and not path.is_symlink():
        return path
    fresh = Path(tempfile.mkdtemp(prefix=f"{RESULTS_DIR}-", dir=workspace))
    fresh.chmod(0o755)
    runner_contract.warn(
        f"{RESULTS_DIR} in the checkout is not a folder; the results are in {fresh.name}"
    )
    return fresh


def write_file(path: Path, text: str) -> Path:
    """Write `text` to `path` through a new file renamed over it: a symlink already at
    `path` (the pull request's) is replaced, never followed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with open(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def give_back(workspace: Path) -> None:
    """Hand what perfgate (root in the container) wrote in the checkout to its owner.

    The job's next step runs as the runner's user: a root-owned `.perfgate/` or
    object in `.git` (a fetch of the base commit, the worktrees' bookkeeping) would
    refuse its writes, `git gc` included.  Only entries owned by perfgate's own user
    change hands; nothing happens when perfgate is not root or owns the checkout.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    try:
        owner = workspace.stat()
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for top in workspace.iterdir():
        if top.name.startswith(RESULTS_DIR) or top.name == ".git":
            _chown_ours(top, owner.st_uid, owner.st_gid)


def _chown_ours(top: Path, uid: int, gid: int) -> None:
    me = os.geteuid()
    paths = [str(top)]
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, files in os.walk(top):
            paths += [os.path.join(folder, name) for name in (*dirs, *files)]
    for path in paths:
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == me:
                os.lchown(path, uid, gid)


def file_stem(context_name: str) -> str:
    """A status context as a file name: any text may name a context, not any text a file."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", context_name).strip(".-") or "perfgate"


def _annotate(outcome: Outcome) -> None:
    results = outcome.results
    for c in results.regressions:
        print(
            runner_contract.error(
                f"{c.metric} regressed by {c.change:+.1%} "
                f"(95% interval {c.ci[0]:+.1%} to {c.ci[1]:+.1%}, threshold {c.threshold:.0%})"
            ),
            flush=True,
        )
    for phrase in over_phrases(results, one_line):
        print(runner_contract.error(f"over budget: {phrase}"), flush=True)
    if results.verdict == "error":
        print(runner_contract.error(results.error or "the gate failed"), flush=True)


def _publish(
    results: Results,
    body: str,
    token: str,
    context: runner_contract.GitHubContext,
    context_name: str,
    comment: bool,
) -> None:
    with runner_contract.group("perfgate: publishing to GitHub"):
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
            runner_contract.warn(f"publishing: {message}")
        if report.warnings and context.event.from_fork:
            runner_contract.warn(
                "a fork's pull request gets a read-only token: see docs/action.md, "
                "'Pull requests from forks', for the two-workflow pattern"
            )


if __name__ == "__main__":
    sys.exit(main())
