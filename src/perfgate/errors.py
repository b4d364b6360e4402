"""Failures that end a gate, each with the exit code the design promises.

The CLI turns these into exit codes and messages; the library raises them.
Keeping the codes here means no module guesses at another's meaning.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_BENCHMARK_FAILED = 3
EXIT_INFRASTRUCTURE = 4


class PerfgateError(Exception):
    """Base of every failure perfgate reports on purpose."""

    exit_code = EXIT_INFRASTRUCTURE


class ConfigError(PerfgateError):
    """Bad configuration or usage, found before anything runs (exit 2)."""

    exit_code = EXIT_USAGE


class BenchmarkFailed(PerfgateError):
    """The benchmark itself failed on one side: never a silent pass (exit 3).

    `side` names the side ("base", "head" or "run"), `log_tail` holds the end
    of that run's output so the reader sees why without opening the log.
    """

    exit_code = EXIT_BENCHMARK_FAILED

    def __init__(self, message: str, *, side: str = "", log_tail: str = "") -> None:
        super().__init__(message)
        self.side = side
        self.log_tail = log_tail
        #: The runs measured before the failure, per side, kept for the results.
        self.samples: dict[str, tuple] = {}


class InfrastructureError(PerfgateError):
    """git, setup or the machine failed, not the benchmark (exit 4)."""

    exit_code = EXIT_INFRASTRUCTURE

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail
