"""Budgets through the Action: the `budgets` input, the step, the status, the comment."""

from __future__ import annotations

from pathlib import Path

from test_action_e2e import REPO, event, run_entrypoint, workspace


def test_a_budget_input_over_on_head_fails_the_step_the_status_and_heads_the_comment(
    tmp_path: Path, github_server
) -> None:
    repo, base, head = workspace(tmp_path)  # the same 5 MB benchmark on both sides
    result, outputs, summary = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        runs="7", **{"max-runs": "7", "budgets": "{peak-memory: 1MB, wall-time: 10min}"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert outputs["verdict"] == "fail" and outputs["regressions"] == ""
    assert "::error title=perfgate::over budget: peak memory over its 1MB budget" in result.stdout
    (status,) = github_server.statuses[(REPO, head)]
    assert status["state"] == "failure"
    assert status["description"].startswith("over budget: peak memory over its 1MB budget")
    (comment,) = github_server.comments[(REPO, 12)]
    for text in (comment["body"], summary):
        headline = next(line for line in text.splitlines() if line.startswith("### "))
        assert "fail: peak memory over its `1MB` budget" in headline
        assert "| peak memory | `1MB` |" in text and "🔴 over" in text
        assert "| wall time | `10min` |" in text and "✅ met" in text


def test_a_bad_budget_input_is_exit_2_naming_it(tmp_path: Path, github_server) -> None:
    repo, base, head = workspace(tmp_path)
    result, _, _ = run_entrypoint(
        tmp_path, github_server, repo, event(tmp_path, base, head), head,
        runs="7", **{"max-runs": "7", "budgets": "{peak-memory: 1 megabyte}"},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "budgets: peak-memory: '1 megabyte' is not allowed" in result.stdout + result.stderr
    assert not github_server.statuses
