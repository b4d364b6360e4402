"""Progress: a live line on a terminal, plain lines in logs."""

from __future__ import annotations

import io
import os

from perfgate.progress import Progress, format_seconds


def test_plain_lines_without_carriage_returns() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=False)
    progress.step("preparing base")
    progress.run("head", 3, 20, 75)
    progress.done()
    assert stream.getvalue() == "preparing base\nhead run 3 of 20 · ~1 min 15 s left\n"


def read_all(primary: int) -> str:
    """Everything written to a pseudo-terminal whose other end is closed.

    One read returns whatever the line discipline has passed on so far, which on
    a loaded machine can be the first write alone; read until the end (EIO).
    """
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return b"".join(chunks).decode()


def test_live_line_on_a_real_terminal(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        progress = Progress(terminal)
        assert progress.live
        progress.run("base", 1, 10, None)
        progress.run("head", 1, 10, 9)
        progress.step("done measuring")
        terminal.flush()
    written = read_all(primary)
    assert written.count("\r") >= 2
    assert "head run 1 of 10 · ~9 s left" in written
    assert written.rstrip().endswith("done measuring")


def test_ci_turns_the_live_line_off_even_on_a_terminal(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert not Progress(terminal).live
    os.close(primary)


def test_a_stream_without_isatty_is_not_live(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not Progress(object()).live  # type: ignore[arg-type]


def test_format_seconds() -> None:
    assert format_seconds(4.4) == "4 s"
    assert format_seconds(200) == "3 min 20 s"
    assert format_seconds(3900) == "1 h 05 min"
    assert format_seconds(-3) == "0 s"


def test_time_left_names_the_runs_that_may_still_be_added() -> None:
    stream = io.StringIO()
    Progress(stream, live=False).run("base", 12, 15, 30, max_runs=30, most_seconds=190)
    assert stream.getvalue() == (
        "base run 12 of 15 (up to 30) · ~30 s left, up to ~3 min 10 s if runs are added\n"
    )
