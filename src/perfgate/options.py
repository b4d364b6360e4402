"""The one table of options: each key of `.perfgate.yml`, its parser, what it allows.

The same key is a CLI flag (`--runs`), a `.perfgate.yml` key (`runs:`) and an
Action input (`runs`): cli.py builds its flags from `KEYS`, github/action.py
its inputs, and tests/test_options.py holds both actions, the README and
docs/action.md to this table.  Each parser refuses a bad value with a
ConfigError naming the key, the value and what is allowed; config.py layers
the parsed values into one Config.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """One absolute limit: `metric` of the whole benchmark, or the time of the tests that
    `test` names (a test file, a test id, or a parametrized test's id without its brackets).

    `key` and `text` are what the user wrote (`wall-time`, `2s`), for naming the budget in
    every message and in the results; `limit` is in seconds or bytes.
    """

    key: str
    metric: str
    limit: float
    text: str
    test: str = ""


#: Budget keys for the whole benchmark, and the metric of `metrics.METRICS` each limits.
BUDGET_METRICS = {"wall-time": "wall_time", "cpu-time": "cpu_time", "peak-memory": "peak_memory"}


#: The metric of a per-test budget: the test's own time (setup, call and teardown).
TEST_TIME = "test_time"


#: Units, case-sensitive.  Memory units are SI (kB = KB = 1000 bytes, MB = 10^6) or binary
#: (KiB, MiB, GiB); `m`, `mb`, `Mb`, `M` and bare numbers are refused: each could mean two things.
TIME_UNITS = {"min": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6}


MEMORY_UNITS = {
    "B": 1, "kB": 1000, "KB": 1000, "KiB": 2**10, "MB": 1000**2, "MiB": 2**20,
    "GB": 1000**3, "GiB": 2**30,
}  # fmt: skip


_TIME_WORDS = "s, ms, us (or \u00b5s) or min, e.g. 2s or 200 ms"


_MEMORY_WORDS = (
    "B, kB (or KB), MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 200MB"
)


# key -> (Config field, parser).  Keys are spelt as in `.perfgate.yml` and as
# action inputs; CLI flags are the same with `--` in front.
def _parse_int(minimum: int) -> Any:
    def parse(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise _bad(key, value, f"a whole number of at least {minimum}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise _bad(key, value, f"a whole number of at least {minimum}") from None
        if number < minimum:
            raise _bad(key, value, f"a whole number of at least {minimum}")
        return number

    return parse


def _parse_seconds(key: str, value: Any) -> float:
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|min|h)?", text)
    if not match or isinstance(value, bool):
        raise _bad(key, value, "a positive number of seconds, e.g. 600, 90s, 10m or 1h")
    seconds = (
        float(match.group(1)) * {"s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[match.group(2)]
    )
    if seconds <= 0:
        raise _bad(key, value, "a positive number of seconds, e.g. 600, 90s, 10m or 1h")
    return seconds


def parse_threshold(key: str, value: Any) -> float:
    """`5%` or `0.05` -> 0.05.  A bare number above 1 is refused, not guessed at."""
    allowed = "a percentage such as 5% or a fraction such as 0.05, above 0 and below 100%"
    if isinstance(value, bool) or value is None:
        raise _bad(key, value, allowed)
    text = str(value).strip()
    try:
        fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise _bad(key, value, allowed) from None
    if not math.isfinite(fraction) or not 0 < fraction < 1:
        raise _bad(key, value, allowed)
    return fraction


def parse_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise _bad(key, value, "true or false")


def _parse_text(key: str, value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        raise _bad(key, value, "a string")
    return str(value)


def _parse_optional_text(key: str, value: Any) -> str | None:
    text = _parse_text(key, value).strip()
    return text or None


def _parse_path(key: str, value: Any) -> Path:
    text = _parse_text(key, value).strip()
    if not text:
        raise _bad(key, value, "a path")
    return Path(text)


def _parse_breakdown(key: str, value: Any) -> str | None:
    """pytest, auto or none; unset (None) is auto.  `none` must stay apart from unset:
    read as unset, it turned the per-test breakdown of a pytest command back on."""
    text = _parse_text(key, value).strip().lower()
    if not text:
        return None
    if text in ("none", "off", "false"):
        return "none"
    if text not in ("pytest", "auto"):
        raise _bad(key, value, "pytest, auto or none")
    return text


def parse_inconclusive(key: str, value: Any) -> str:
    text = _parse_text(key, value).strip().lower()
    if text not in ("pass", "fail"):
        raise _bad(key, value, "pass or fail")
    return text


def _parse_imports(key: str, value: Any) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)):
        raise _bad(key, value, "a list of importable module names")
    cleaned = tuple(str(n).strip() for n in names if str(n).strip())
    for name in cleaned:
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", name):
            raise _bad(key, name, "a list of importable module names, e.g. [mypkg, mypkg.api]")
    return cleaned


def parse_budgets(key: str, value: Any) -> tuple[Budget, ...]:
    """`budgets`: a mapping (`.perfgate.yml`), the same mapping as YAML text (the action
    input), or `KEY=LIMIT` strings (each `--budget` flag).  Everything is checked now:
    a budget misread as 2 ms instead of 2 s would fail every pull request."""
    entries = _budget_entries(key, value)
    return tuple(parse_budget(f"{key}: {name}", name, limit) for name, limit in entries)


def _budget_entries(key: str, value: Any) -> list[tuple[Any, Any]]:
    allowed = "a mapping such as {wall-time: 2s, peak-memory: 200MB}, or KEY=LIMIT per --budget"
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise _bad(key, value, allowed) from None
        if value is None:
            return []
        if not isinstance(value, Mapping):
            raise _bad(key, value, allowed)
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        entries = []
        for item in value:
            name, equals, limit = item.rpartition("=")  # a test id may hold '=', a limit never
            if not equals or not name.strip():
                raise _bad(key, item, "KEY=LIMIT, e.g. --budget wall-time=2s")
            entries.append((name.strip(), limit))
        return entries
    raise _bad(key, value, allowed)


def parse_budget(where: str, name: Any, limit: Any) -> Budget:
    """One budget: a metric of the whole benchmark with a unit of its kind, or a test
    file or test id (`tests/test_api.py`, `tests/test_api.py::test_x`) with a time."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: not a budget name; {_BUDGET_KEYS}")
    name = name.strip()
    metric = BUDGET_METRICS.get(name.replace("_", "-"))
    if metric is None and not _is_test_key(name):
        raise ConfigError(f"{where}: unknown budget {name!r}; {_BUDGET_KEYS}")
    if metric == "peak_memory":
        amount = _amount(where, limit, MEMORY_UNITS, _MEMORY_WORDS)
        return Budget(name, metric, amount, str(limit).strip())
    units_words = _TIME_WORDS if metric else f"{_TIME_WORDS} (a test's budget is its time)"
    seconds = _amount(where, limit, TIME_UNITS, units_words)
    if metric is None:
        return Budget(name, TEST_TIME, seconds, str(limit).strip(), test=name)
    return Budget(name, metric, seconds, str(limit).strip())


_BUDGET_KEYS = (
    "expected wall-time, cpu-time, peak-memory, a test file (tests/test_api.py) or a test id "
    "(tests/test_api.py::test_x)"
)


def _is_test_key(name: str) -> bool:
    """A test file path ending in .py, optionally followed by ::names (a pytest node id)."""
    path, separator, rest = name.partition("::")
    names_a_test = not separator or bool(rest.strip())  # `tests/x.py::` names nothing
    return path.endswith(".py") and not path.startswith("-") and names_a_test


def _amount(where: str, value: Any, units: Mapping[str, float], words: str) -> float:
    """A positive number with one of `units`; no unit, an unknown one or a unit of the other
    kind (a time for a memory budget) is refused, naming what is allowed."""
    text = value.strip() if isinstance(value, str) else None
    match = re.fullmatch(r"(\d+(?:\.\d+)?|\.\d+)\s*(\S+)", text or "")
    if isinstance(value, bool) or not match:
        hint = "; a number needs its unit" if isinstance(value, (int, float)) else ""
        raise ConfigError(f"{where}: {value!r} is not allowed{hint}; expected {words}")
    number, unit = float(match.group(1)), match.group(2)
    if unit not in units:
        raise ConfigError(
            f"{where}: {value!r} is not allowed; unknown unit {unit!r}; expected {words}"
        )
    amount = number * units[unit]
    if not math.isfinite(amount) or amount <= 0:
        raise ConfigError(f"{where}: {value!r} is not allowed; expected a limit above 0 in {words}")
    return amount


def _parse_shard(key: str, value: Any) -> tuple[int, int] | None:
    """`2/3` -> (2, 3): shard 2 of 3; empty or `none` -> no shards."""
    allowed = "K/N, this job's shard K of N shards (1 <= K <= N, N at most 100), e.g. 2/3"
    text = _parse_text(key, value).strip().lower()
    if text in ("", "none"):
        return None
    match = re.fullmatch(r"(\d{1,3})\s*/\s*(\d{1,3})", text)
    if not match:
        raise _bad(key, value, allowed)
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count <= 100:
        raise _bad(key, value, allowed)
    return index, count


def _parse_command(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        argv = tuple(str(v) for v in value)
        if not argv or not argv[0].strip():
            raise _bad(key, value, "a command to benchmark, e.g. pytest -q")
        return argv
    text = _parse_text(key, value).strip()
    if not text:
        raise _bad(key, value, "a command to benchmark, e.g. pytest -q")
    return ("sh", "-c", text)


PARSERS: Mapping[str, tuple[str, Any]] = {
    "command": ("command", _parse_command),
    "repo": ("repo", _parse_path),
    "base": ("base", _parse_optional_text),
    "head": ("head", _parse_text),
    "setup": ("setup", _parse_optional_text),
    "venv": ("venv", parse_bool),
    "working-directory": ("working_directory", _parse_text),
    "runs": ("runs", _parse_int(4)),
    "max-runs": ("max_runs", _parse_int(4)),
    "warmup": ("warmup", _parse_int(0)),
    "timeout": ("timeout_s", _parse_seconds),
    "setup-timeout": ("setup_timeout_s", _parse_seconds),
    "time-budget": ("time_budget_s", _parse_seconds),
    "time-threshold": ("time_threshold", parse_threshold),
    "memory-threshold": ("memory_threshold", parse_threshold),
    "instructions": ("instructions", parse_bool),
    "instructions-threshold": ("instructions_threshold", parse_threshold),
    "inconclusive": ("inconclusive", parse_inconclusive),
    "json": ("json_path", _parse_path),
    "markdown": ("markdown_path", _parse_path),
    "seed": ("seed", _parse_int(0)),
    "breakdown": ("breakdown", _parse_breakdown),
    "imports": ("imports", _parse_imports),
    "budgets": ("budgets", parse_budgets),
    "shard": ("shard", _parse_shard),
}


KEYS = tuple(PARSERS)


def _bad(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key}: {value!r} is not allowed; expected {allowed}")
