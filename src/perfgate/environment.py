"""What machine the runs happened on, so that two results can be judged comparable."""

from __future__ import annotations

import os
import platform
from pathlib import Path

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
