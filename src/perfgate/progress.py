"""Progress of long work: a live line on a terminal, a plain line per step in CI logs.

Carriage returns turn CI logs into one unreadable line, and silence for ten
minutes looks like a hang; so a terminal gets one line rewritten in place and
anything else gets one ordinary line per run.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def _is_live(stream: TextIO) -> bool:
    if os.environ.get("CI"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def format_seconds(seconds: float) -> str:
    """'45 s', '3 min 20 s', '1 h 05 min': a human estimate, not a timestamp."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Reports steps and runs to `stream` (stderr by default, so stdout stays data)."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_live(self.stream) if live is None else live
        self._line_open = False

    def step(self, message: str) -> None:
        """A plain line: a stage begins or ends."""
        self._close_line()
        print(message, file=self.stream, flush=True)

    def run(
        self,
        side: str,
        k: int,
        n: int,
        seconds_left: float | None,
        *,
        max_runs: int | None = None,
        most_seconds: float | None = None,
    ) -> None:
        """Run k of n on `side` starts; n may grow up to `max_runs` while the verdict is
        unsettled, and then the time left may grow up to `most_seconds`."""
        left = f" · ~{format_seconds(seconds_left)} left" if seconds_left is not None else ""
        if most_seconds is not None:
            left += f", up to ~{format_seconds(most_seconds)} if runs are added"
        up_to = f" (up to {max_runs})" if max_runs is not None and max_runs > n else ""
        text = f"{side} run {k} of {n}{up_to}{left}"
        if self.live:
            self.stream.write(f"\r\x1b[2K{text}")
            self.stream.flush()
            self._line_open = True
        else:
            print(text, file=self.stream, flush=True)

    def done(self) -> None:
        """End the live line so that what follows starts on a line of its own."""
        self._close_line()

    def _close_line(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False
