"""The perfgate/1 JSON: what is written is read back, and foreign files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfgate.results import SCHEMA, Comparison, Environment, Results, Sample, Side


def sample(order: int, wall: float = 0.4) -> Sample:
    return Sample(
        wall_s=wall,
        cpu_s=wall * 0.9,
        max_rss_bytes=28_000_000,
        tree_peak_rss_bytes=30_000_000,
        exit_code=0,
        order=order,
    )


def gate_results() -> Results:
    return Results(
        verdict="fail",
        sides={
            "base": Side("main", "a" * 40, (sample(0), sample(3))),
            "head": Side("HEAD", "b" * 40, (sample(1, 0.5), sample(2, 0.5))),
        },
        comparisons=(
            Comparison("wall_time", 0.4, 0.5, 0.25, (0.2, 0.3), 0.001, 0.05, "regression", 0.04),
        ),
        command="pytest -q",
        environment=Environment("cpu", 2, "3.11.7", "Linux 6", "0.1.0"),
        seed=7,
        settings={"runs": 2},
        breakdown={"tests": []},
    )


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    results = gate_results()
    path = tmp_path / "results.json"
    results.write(path)
    again = Results.read(path)
    assert again == results
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert data["comparisons"][0]["ci"] == [0.2, 0.3]
    assert data["sides"]["base"]["samples"][1]["order"] == 3
    assert data["sides"]["head"]["samples"][0]["wall_s"] == 0.5


def test_design_example_is_readable() -> None:
    """The example of DESIGN.md, with only the keys it shows, reads without error."""
    data = {
        "schema": "perfgate/1",
        "verdict": "pass",
        "sides": {
            "base": {
                "ref": "main",
                "sha": "abc",
                "samples": [
                    {
                        "wall_s": 0.41,
                        "cpu_s": 0.40,
                        "max_rss_bytes": 28311552,
                        "tree_peak_rss_bytes": 28311552,
                        "exit_code": 0,
                        "order": 3,
                        "from_the_future": 1,
                    }
                ],
            },
            "head": {"ref": "HEAD", "sha": "def", "samples": []},
        },
        "comparisons": [
            {
                "metric": "wall_time",
                "base_median": 0.41,
                "head_median": 0.45,
                "change": 0.097,
                "ci": [0.05, 0.14],
                "p_value": 0.001,
                "threshold": 0.05,
                "verdict": "regression",
            }
        ],
    }
    results = Results.from_json(data)
    assert results.sides["base"].samples[0].value("peak_memory") == 28311552
    assert results.comparison("wall_time").ci == (0.05, 0.14)
    assert results.regressions[0].metric == "wall_time"
    assert results.comparison("cpu_time") is None


def test_other_schemas_are_refused() -> None:
    with pytest.raises(ValueError, match="not a perfgate/1"):
        Results.from_json({"schema": "other/2"})


def test_failed_and_timed_out_samples_are_not_ok() -> None:
    assert sample(0).ok
    assert not Sample(1, 1, 1, 1, exit_code=1, order=0).ok
    assert not Sample(1, 1, 1, 1, exit_code=0, order=0, timed_out=True).ok
