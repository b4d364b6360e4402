"""What machine the runs happened on, so that two results can be judged comparable."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from . import __version__
from .results import Environment


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name; platform.processor() is empty on most Linux builds."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def capture() -> Environment:
    """Describe this machine and interpreter for the results JSON and the report."""
    return Environment(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 0,
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}",
        perfgate=__version__,
    )


#: The longest machine field kept: a hostname or CPU name is a label, not a document.
MACHINE_FIELD_CHARS = 120


def machine() -> dict[str, Any]:
    """Which runner a shard ran on, for the merged report: hostname, CPU, cores, kernel,
    Python.  Nothing secret: no environment variable, user name or address."""
    environment = capture()
    fields = {
        "hostname": platform.node(),
        "cpu_model": environment.cpu_model,
        "kernel": platform.release(),
        "python": environment.python,
    }
    return {
        **{key: str(value)[:MACHINE_FIELD_CHARS] for key, value in fields.items()},
        "cores": environment.cores,
    }
