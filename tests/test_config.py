"""Config: defaults < .perfgate.yml < action inputs < flags, and every bad value refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfgate import config, options
from perfgate.errors import ConfigError
from perfgate.evidence import wants_pytest_breakdown


def write_yaml(folder: Path, text: str) -> Path:
    path = folder / ".perfgate.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_only_a_command(tmp_path: Path) -> None:
    cfg = config.load(repo=tmp_path, layers=(("flags", {"command": ["pytest", "-q"]}),))
    assert cfg.command == ("pytest", "-q")
    assert cfg.command_text == "pytest -q"
    assert (cfg.runs, cfg.max_runs, cfg.warmup) == (10, 30, 1)
    assert cfg.thresholds == {
        "wall_time": 0.05, "cpu_time": 0.05, "peak_memory": 0.10, "instructions": 0.01,
    }  # fmt: skip
    assert cfg.instructions is False
    assert cfg.head == "HEAD" and cfg.base is None


def test_string_command_runs_through_the_shell(tmp_path: Path) -> None:
    cfg = config.load(repo=tmp_path, layers=(("input", {"command": "pytest -q tests"}),))
    assert cfg.command == ("sh", "-c", "pytest -q tests")
    assert cfg.command_text == "pytest -q tests"


def test_file_then_inputs_then_flags_in_rising_priority(tmp_path: Path) -> None:
    write_yaml(
        tmp_path,
        "command: pytest -q\nruns: 12\nmax-runs: 40\ntime-threshold: 3%\nmemory-threshold: 0.2\n",
    )
    cfg = config.load(
        repo=tmp_path,
        layers=(("action input", {"runs": "15", "warmup": "2"}), ("command line", {"runs": "20"})),
    )
    assert cfg.runs == 20
    assert cfg.warmup == 2
    assert cfg.max_runs == 40
    assert cfg.time_threshold == pytest.approx(0.03)
    assert cfg.memory_threshold == pytest.approx(0.2)
    assert cfg.sources["runs"] == "command line"
    assert cfg.sources["max-runs"].endswith(".perfgate.yml")
    assert cfg.config_path == tmp_path / ".perfgate.yml"


def test_underscored_keys_are_accepted(tmp_path: Path) -> None:
    write_yaml(tmp_path, "command: [python, bench.py]\nmax_runs: 11\ntime_threshold: 0.07\n")
    cfg = config.load(repo=tmp_path)
    assert cfg.command == ("python", "bench.py")
    assert cfg.max_runs == 11 and cfg.time_threshold == pytest.approx(0.07)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5%", 0.05), ("0.05", 0.05), (" 12.5% ", 0.125), (0.3, 0.3), ("99%", 0.99)],
)
def test_thresholds_as_percent_or_fraction(text: object, expected: float) -> None:
    assert options.parse_threshold("time-threshold", text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"runs": "-1"}, ["runs", "'-1'", "whole number of at least 4"]),
        ({"runs": "3"}, ["runs", "at least 4"]),
        ({"runs": True}, ["runs"]),
        ({"warmup": "two"}, ["warmup", "'two'"]),
        ({"time-threshold": "abc"}, ["time-threshold", "'abc'", "5%"]),
        ({"time-threshold": "5"}, ["time-threshold", "'5'"]),
        ({"memory-threshold": "0%"}, ["memory-threshold", "'0%'"]),
        ({"memory-threshold": "nan"}, ["memory-threshold"]),
        ({"timeout": "soon"}, ["timeout", "'soon'", "seconds"]),
        ({"timeout": "0"}, ["timeout"]),
        ({"venv": "maybe"}, ["venv", "true or false"]),
        ({"instructions": "sometimes"}, ["instructions", "'sometimes'", "true or false"]),
        ({"instructions": 3}, ["instructions", "3"]),
        ({"instructions-threshold": "1"}, ["instructions-threshold", "'1'", "0.05"]),
        ({"instructions-threshold": "-2%"}, ["instructions-threshold", "'-2%'"]),
        ({"breakdown": "unittest"}, ["breakdown", "pytest"]),
        ({"imports": ["ok", "not a module"]}, ["imports", "'not a module'"]),
        ({"imports": 3}, ["imports"]),
        ({"head": ["a"]}, ["head", "a string"]),
        ({"command": ""}, ["command"]),
        ({"command": []}, ["command"]),
        ({"runs": "12", "max-runs": "5"}, ["max-runs", "5", "runs (12)"]),
        ({"working-directory": "/etc"}, ["working-directory", "/etc"]),
        ({"working-directory": "../elsewhere"}, ["working-directory"]),
        ({"json": "/no/such/folder/out.json"}, ["json", "/no/such/folder"]),
        ({"rusn": "3"}, ["unknown key", "'rusn'", "runs"]),
    ],
)
def test_bad_values_are_refused_naming_key_and_value(
    tmp_path: Path, values: dict, names: list[str]
) -> None:
    layer = {"command": "true", **values}
    with pytest.raises(ConfigError) as raised:
        config.load(repo=tmp_path, layers=(("command line", layer),))
    message = str(raised.value)
    for name in names:
        assert name in message


def test_missing_command_names_the_ways_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="command: missing.*--command"):
        config.load(repo=tmp_path)


def test_bad_yaml_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "command: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as raised:
        config.load(repo=tmp_path)
    assert str(path) in str(raised.value)


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    write_yaml(tmp_path, "- runs\n- 3\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        config.load(repo=tmp_path)


def test_unsafe_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write_yaml(tmp_path, f"command: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(repo=tmp_path)
    assert not marker.exists()


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "command: x\nthreshold: 5%\n")
    with pytest.raises(ConfigError, match="unknown key 'threshold'") as raised:
        config.load(repo=tmp_path)
    assert str(path) in str(raised.value)


def test_explicit_config_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(repo=tmp_path, config_path=tmp_path / "missing.yml")


def test_explicit_config_path_is_read(tmp_path: Path) -> None:
    other = tmp_path / "perf.yml"
    other.write_text("command: make bench\nruns: 7\n", encoding="utf-8")
    cfg = config.load(repo=tmp_path, config_path=other)
    assert cfg.runs == 7 and cfg.command_text == "make bench"


def test_empty_file_is_no_settings(tmp_path: Path) -> None:
    write_yaml(tmp_path, "")
    cfg = config.load(repo=tmp_path, layers=(("flags", {"command": "true"}),))
    assert cfg.runs == 10


def test_repo_from_a_layer_locates_the_file(tmp_path: Path) -> None:
    write_yaml(tmp_path, "command: make bench\nruns: 4\n")
    cfg = config.load(layers=(("command line", {"repo": str(tmp_path)}),))
    assert cfg.repo == tmp_path and cfg.runs == 4


def test_time_units_for_timeout_and_budget(tmp_path: Path) -> None:
    cfg = config.load(
        repo=tmp_path,
        layers=(("flags", {"command": "true", "timeout": "90s", "time-budget": "10m"}),),
    )
    assert cfg.timeout_s == 90 and cfg.time_budget_s == 600


def test_imports_from_a_comma_separated_input(tmp_path: Path) -> None:
    cfg = config.load(
        repo=tmp_path, layers=(("input", {"command": "true", "imports": "mypkg, mypkg.api"}),)
    )
    assert cfg.imports == ("mypkg", "mypkg.api")


def test_settings_record_what_a_reader_needs(tmp_path: Path) -> None:
    cfg = config.load(repo=tmp_path, layers=(("flags", {"command": "true", "runs": "5"}),))
    settings = cfg.settings()
    assert settings["runs"] == 5 and settings["time_threshold"] == 0.05


def test_instructions_from_the_file_and_its_threshold_from_a_flag(tmp_path: Path) -> None:
    write_yaml(tmp_path, "command: make bench\ninstructions: true\n")
    cfg = config.load(repo=tmp_path, layers=(("command line", {"instructions-threshold": "0.5%"}),))
    assert cfg.instructions is True
    assert cfg.thresholds["instructions"] == pytest.approx(0.005)
    assert cfg.settings()["instructions"] is True
    assert cfg.settings()["instructions_threshold"] == pytest.approx(0.005)
    off = config.load(repo=tmp_path, layers=(("action input", {"instructions": "false"}),))
    assert off.instructions is False


@pytest.mark.parametrize(
    ("breakdown", "command", "per_test"),
    [
        (None, "pytest -q", True),  # the default is auto: on for pytest
        ("auto", "python -m pytest -q", True),
        ("auto", "python bench.py", False),
        ("none", "pytest -q", False),  # was on: none read as unset
        ("off", "pytest -q", False),
        ("pytest", "python bench.py", True),
    ],
)
def test_breakdown_none_turns_the_per_test_breakdown_off(
    tmp_path, breakdown: str | None, command: str, per_test: bool
) -> None:
    values = {"command": command, "breakdown": breakdown}
    cfg = config.load(repo=tmp_path, layers=(("test", values),), read_repo_file=False)
    assert wants_pytest_breakdown(cfg) is per_test
