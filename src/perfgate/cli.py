"""Command line: arguments -> Config -> pipeline -> files and exit code.

A thin shell over the library.  This module and `github/` are the only places
that write files; every output path is checked before the first run, so a
typo costs a second, not a benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, config, options, shards
from .errors import (
    EXIT_INFRASTRUCTURE,
    EXIT_PASS,
    EXIT_REGRESSION,
    EXIT_USAGE,
    ConfigError,
    PerfgateError,
)
from .github import runner_contract
from .github.api import GitHubAPI, GitHubError
from .github.publish import CLAIM_NOTE, publish, trusted_target
from .pipeline import Outcome, compare_saved, run_gate, run_only
from .progress import Progress
from .report import console, markdown
from .report.breakdown import render_breakdown_markdown
from .results import Results

#: Help for each configuration key; the same key is a flag, a `.perfgate.yml` key
#: and an action input, so the three cannot drift apart.
KEY_HELP: dict[str, str] = {
    "command": "the benchmark as one shell string (run by sh -c); or give it after --",
    "repo": "the git repository to gate (default: .)",
    "base": "the base ref or SHA (default: origin/main, main, origin/master or master)",
    "head": "the head ref or SHA (default: HEAD)",
    "setup": "shell command run in each side's checkout before measuring (e.g. pip install -e .)",
    "venv": "give each side a virtual environment of its own (default: true when there is "
    "a setup, which never runs outside one)",
    "working-directory": "folder inside the repository to run the benchmark in (default: .)",
    "runs": "runs per side at least (default: 10)",
    "max-runs": "runs per side at most, while the verdict is inconclusive (default: 30)",
    "warmup": "warm-up runs per side, not measured (default: 1)",
    "timeout": "seconds one run may take before its process group is killed (default: 600)",
    "setup-timeout": "seconds setup may take on each side (default: 1800)",
    "time-budget": "stop adding runs after this many seconds in all (e.g. 10m)",
    "time-threshold": "smallest wall/CPU time change that counts, 5%% or 0.05 (default: 5%%)",
    "memory-threshold": "smallest peak memory change that counts (default: 10%%)",
    "instructions": "also count the benchmark's instructions, a metric that barely varies "
    "(perf or valgrind; --instructions alone means true)",
    "instructions-threshold": "smallest instruction count change that counts (default: 1%%)",
    "inconclusive": "what no verdict (too noisy to tell) does to the exit code and the "
    "status: pass or fail (default: pass)",
    "json": "write the results JSON (schema perfgate/1) to this path",
    "markdown": "write the Markdown report to this path",
    "seed": "seed of the shuffled run order (default: random, recorded in the results)",
    "breakdown": "per-test breakdown: auto (default: when the command runs pytest), pytest or none",
    "imports": "comma-separated modules whose import time and memory to compare",
    "budgets": "an absolute limit, KEY=LIMIT, repeatable: wall-time=2s, cpu-time=1.5s, "
    "peak-memory=200MB, tests/test_api.py=200ms; over it (the median's interval wholly "
    "above) exits 1",
    "shard": "run shard K of N of a gate spread over a CI matrix (e.g. 2/3): exactly `runs` "
    "pairs, no verdict, exit 0 once the results are written; then perfgate merge",
}
CONFIG_HELP = "configuration file (default: .perfgate.yml in the repository)"
#: Switches: `--venv` alone means true; `--venv false` still says it outright.
BOOL_KEYS = ("venv", "instructions")
RUN_KEYS = (
    "command", "runs", "warmup", "timeout", "json", "markdown", "working-directory",
    "instructions", "budgets",
)  # fmt: skip
MERGE_KEYS = ("json", "markdown")
COMPARE_KEYS = (
    "time-threshold", "memory-threshold", "instructions-threshold", "inconclusive", "json",
    "markdown",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perfgate",
        description="A performance regression gate: base against head, interleaved, "
        "with statistics you can trust.",
        epilog="Exit codes: 0 pass, 1 regression, 2 bad usage, 3 benchmark failed, "
        "4 infrastructure (git, setup). Docs: README.md",
    )
    parser.add_argument("--version", action="version", version=f"perfgate {__version__}")
    commands = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)

    gate = commands.add_parser(
        "gate",
        help="measure base and head, compare, decide",
        description="Measure the benchmark on base and head, interleaved, and decide. "
        "Example: perfgate gate --base main -- pytest -q",
    )
    _add_keys(gate, options.KEYS)
    gate.add_argument(
        "--config", metavar="PATH", help="configuration file (default: .perfgate.yml)"
    )

    run = commands.add_parser(
        "run",
        help="run one command N times and print time and memory statistics",
        description="Run the command N times in the current folder and print, for time and "
        "memory, the average, median, min, max and standard deviation. "
        "Example: perfgate run --runs 20 -- pytest -q",
    )
    _add_keys(run, RUN_KEYS)
    run.add_argument("--config", metavar="PATH", help=CONFIG_HELP)

    publish = commands.add_parser(
        "publish",
        help="post a saved verdict to GitHub (comment and commit status)",
        description="Post RESULTS.json to GitHub: one comment on the pull request, edited in "
        "place, and a commit status. The token is read from GITHUB_TOKEN, never from a flag. "
        "For fork pull requests run this from a workflow_run workflow (docs/action.md).",
    )
    publish.add_argument("results_json", metavar="RESULTS.json")
    publish.add_argument("--repository", help="owner/name (default: GITHUB_REPOSITORY)")
    publish.add_argument(
        "--sha",
        help="commit for the status (default: from the event: a workflow_run's head commit, "
        "a pull request's head, else GITHUB_SHA; never from the results file)",
    )
    publish.add_argument(
        "--pr",
        type=int,
        help="pull request to comment on (default: from the event); it must exist, and is "
        "commented on only while the commit is its head",
    )
    publish.add_argument(
        "--comment-author",
        help="login whose comment is perfgate's (default: the token's user, or "
        "github-actions[bot] for an installation token; a GitHub App's: SLUG[bot])",
    )
    publish.add_argument("--context", default="perfgate", help="status context (default: perfgate)")
    publish.add_argument("--no-comment", action="store_true", help="set the status only")
    publish.add_argument("--run-url", help="link for the status (default: this Actions run)")

    compare = commands.add_parser(
        "compare",
        help="compare two saved results files",
        description="Compare BASE.json (its run or base side) against HEAD.json (its run or "
        "head side); with one gate results file, re-judge its base and head.",
    )
    merge = commands.add_parser(
        "merge",
        help="merge the results of every shard of a gate into one verdict",
        description="Merge the results files of `perfgate gate --shard K/N` (one per shard, "
        "each from its own runner) into one verdict, report and exit code, as gate would "
        "give them: base and head are compared within each shard (van Elteren's stratified "
        "test), so that runners of different speeds do not count as change. Example: "
        "perfgate merge shard-*.json --json perf.json",
    )
    merge.add_argument("shard_json", metavar="SHARD.json", nargs="+")
    _add_keys(merge, MERGE_KEYS)

    compare.add_argument("base_json", metavar="BASE.json")
    compare.add_argument("head_json", metavar="HEAD.json", nargs="?")
    _add_keys(compare, COMPARE_KEYS)
    return parser


def _add_keys(parser: argparse.ArgumentParser, keys: Sequence[str]) -> None:
    for key in keys:
        metavar = (
            "N" if key in ("runs", "max-runs", "warmup", "seed") else key.split("-")[0].upper()
        )
        if key == "budgets":  # `--budget wall-time=2s --budget peak-memory=200MB`
            parser.add_argument(
                "--budget", "--budgets", dest=key, metavar="KEY=LIMIT", action="append",
                help=KEY_HELP[key],
            )  # fmt: skip
            continue
        if key in BOOL_KEYS:
            parser.add_argument(
                f"--{key}", dest=key, metavar="BOOL", nargs="?", const="true", help=KEY_HELP[key]
            )
            continue
        parser.add_argument(f"--{key}", dest=key, metavar=metavar, help=KEY_HELP[key])


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split at the first `--`: perfgate's own arguments, then the benchmark's argv."""
    argv = list(argv)
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def _flag_values(args: argparse.Namespace, keys: Sequence[str], command: list[str]) -> dict:
    values: dict[str, Any] = {key: getattr(args, key, None) for key in keys}
    if command:
        if values.get("command"):
            raise ConfigError(
                "command: give the benchmark either after -- or with --command, not both"
            )
        values["command"] = command
    return {k: v for k, v in values.items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    own, command = split_command(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(own)
    try:
        if args.subcommand == "gate":
            return gate_command(args, command)
        if args.subcommand == "run":
            return run_command(args, command)
        if command:
            raise ConfigError(f"{args.subcommand}: takes no command after --")
        if args.subcommand == "publish":
            return publish_command(args)
        if args.subcommand == "merge":
            return merge_command(args)
        return compare_command(args)
    except ConfigError as error:
        print(f"perfgate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PerfgateError as error:
        print(f"perfgate: {error}", file=sys.stderr)
        tail = getattr(error, "log_tail", "")
        if tail:
            print(tail.rstrip(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(
            "perfgate: interrupted; checkouts removed, nothing measured was kept", file=sys.stderr
        )
        return 130
    except Exception:  # noqa: BLE001 - a crash must never read as exit 1, "regressed"
        traceback.print_exc()
        print("perfgate: internal error (a bug: please report it)", file=sys.stderr)
        return EXIT_INFRASTRUCTURE


def _load(
    args: argparse.Namespace, keys: Sequence[str], command: list[str], *, needs_command: bool = True
) -> config.Config:
    flags = _flag_values(args, keys, command)
    config_path = Path(args.config) if getattr(args, "config", None) else None
    return config.load(
        config_path=config_path,
        layers=(("command line", flags),),
        require_command=needs_command,
    )


def gate_command(args: argparse.Namespace, command: list[str]) -> int:
    cfg = _load(args, options.KEYS, command)
    if cfg.shard is not None and cfg.json_path is None:
        raise ConfigError(
            "shard: give --json FILE (or json: in .perfgate.yml): a shard's results file is "
            "what perfgate merge reads, and without one its runs would be lost"
        )
    outcome = run_gate(cfg, Progress())
    if outcome.results.shard is not None and outcome.results.verdict != "error":
        return _finish_shard(outcome, cfg)
    return _finish(outcome, cfg)


def _finish_shard(outcome: Outcome, cfg: config.Config) -> int:
    """A shard decides nothing: say what it measured and where its results went."""
    results = outcome.results
    index, count = results.shard["index"], results.shard["count"]
    runs = ", ".join(f"{name} {len(side.samples)}" for name, side in results.sides.items())
    print(
        f"shard {shards.label(index, count)}: runs {runs}; seed {results.seed}; results in "
        f"{cfg.json_path}; no verdict until every shard is merged (perfgate merge)"
    )
    return outcome.exit_code if _write_outputs(results, cfg) else EXIT_INFRASTRUCTURE


def merge_command(args: argparse.Namespace) -> int:
    """The shards' results into one verdict, exactly as `gate` gives it."""
    cfg = _load(args, MERGE_KEYS, [], needs_command=False)
    named = [(path, shards.read(Path(path))) for path in args.shard_json]
    results, code = shards.merge(named)
    return _finish(Outcome(results, code), cfg)


def run_command(args: argparse.Namespace, command: list[str]) -> int:
    """The seed's benchmark script grown up: N runs of one command, statistics printed."""
    cfg = _load(args, RUN_KEYS, command)
    results = run_only(cfg, Progress())
    print(console.render_run(results))
    if not _write_outputs(results, cfg):
        return EXIT_INFRASTRUCTURE
    return EXIT_REGRESSION if results.fails else EXIT_PASS  # a budget over its limit


def compare_command(args: argparse.Namespace) -> int:
    cfg = _load(args, COMPARE_KEYS, [], needs_command=False)
    first = _read_results(Path(args.base_json))
    second = _read_results(Path(args.head_json)) if args.head_json is not None else None
    outcome = compare_saved(first, second, cfg, (args.base_json, args.head_json))
    return _finish(outcome, cfg)


def publish_command(args: argparse.Namespace) -> int:
    """Post a saved verdict: publishing is this command's whole job, so any trouble, a
    read-only token's 403 included, is exit 4 (a misconfigured workflow_run job should
    go red), while a wrong pull request number or commit is exit 2 before any post."""
    results = _read_results(Path(args.results_json), "publish")
    if results.shard is not None:
        raise ConfigError(
            f"publish: {args.results_json} is the results of shard "
            f"{results.shard.get('index')!r} of {results.shard.get('count')!r}, which decides "
            "nothing alone; merge every shard first (perfgate merge) and publish that"
        )
    environ = os.environ
    token = environ.get("GITHUB_TOKEN", "")
    if not token:
        raise ConfigError("publish: GITHUB_TOKEN is not set; it needs pull-requests and statuses")
    context = runner_contract.GitHubContext.from_env(environ)
    repository = args.repository or context.repository
    if not repository or "/" not in repository:
        raise ConfigError("publish: --repository owner/name (or GITHUB_REPOSITORY) is required")
    api = GitHubAPI(context.api_url, token)
    event = context.event
    try:
        target = trusted_target(
            api, repository, event, sha=args.sha, pr_number=args.pr,
            fallback_sha=context.status_sha,
        )  # fmt: skip
    except GitHubError as error:
        print(f"perfgate: error: {error}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    sha = target.sha
    run_url = args.run_url or event.run_url or context.run_url
    note = CLAIM_NOTE.format(sha=f"`{sha[:12]}`")
    body = markdown.render_comment(results, marker=args.context, run_url=run_url, note=note)
    report = publish(
        results, body, api=api, repo=repository, sha=sha, pr_number=target.pr_number,
        context=args.context, run_url=run_url, comment=not args.no_comment,
        author=args.comment_author, run_id=event.run_id or context.run_id or None,
    )  # fmt: skip
    if report.comment_url:
        print(f"comment {report.comment_action}: {report.comment_url}")
    if report.status_state:
        print(f"status {args.context!r} on {sha[:12]}: {report.status_state}")
    for message in report.warnings:
        print(f"perfgate: warning: {message}", file=sys.stderr)
    for message in report.errors:
        print(f"perfgate: error: {message}", file=sys.stderr)
    failed = report.errors or report.status_state is None or report.comment_action == "failed"
    return EXIT_INFRASTRUCTURE if failed else EXIT_PASS


def _read_results(path: Path, command: str = "compare") -> Results:
    """A results file, refused (exit 2, the field named) when any part of it is unreadable.

    The breakdown is rendered once here, so that a corrupt one stops now with its
    field named, not later as a traceback in the middle of publishing.
    """
    try:
        results = Results.read(path)
    except FileNotFoundError:
        raise ConfigError(f"{command}: {path} does not exist") from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        raise ConfigError(f"{command}: {path} is not a perfgate results file: {error}") from None
    if results.breakdown is not None:
        try:
            render_breakdown_markdown(results.breakdown)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
            what = f"field {error.args[0]!r} missing" if isinstance(error, KeyError) else error
            raise ConfigError(
                f"{command}: {path} is not a perfgate results file: breakdown: {what}"
            ) from None
    return results


def _finish(outcome: Outcome, cfg: config.Config) -> int:
    results = outcome.results
    print(console.render_gate(results))
    if results.verdict == "error" and results.error:
        print(f"perfgate: {results.error}", file=sys.stderr)
    if not _write_outputs(results, cfg):
        return EXIT_INFRASTRUCTURE
    return outcome.exit_code


def _write_outputs(results: Results, cfg: config.Config) -> bool:
    """Write the files asked for; a failure is loud, never a lost verdict or a crash."""
    try:
        if cfg.json_path is not None:
            results.write(cfg.json_path)
        if cfg.markdown_path is not None:
            cfg.markdown_path.write_text(markdown.render_comment(results), encoding="utf-8")
    except OSError as error:
        print(f"perfgate: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
