"""What tests leave behind and which module files load twice, as sentences (pure).

One sentence per finding, shared by the comment (outside text as inline
code) and the console (one plain line): "`tests/test_pool.py::test_connect`
leaves 4 threads and 1 socket open (5 of 5 runs); base left none".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..compare.leftovers import DuplicateModule, LeftBehind
from . import format as fmt

#: Singular and plural of each kind a test can leave behind.
KIND_WORDS = {
    "threads": ("thread", "threads"),
    "processes": ("child process", "child processes"),
    "sockets": ("socket", "sockets"),
    "event_loops": ("event loop", "event loops"),
    "fds": ("other file descriptor", "other file descriptors"),
}


def _counted(kind: str, count: int) -> str:
    one, many = KIND_WORDS.get(kind, (kind, kind))
    return f"{count} {one if count == 1 else many}"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def left_sentence(item: LeftBehind, quote: Callable[[str], str]) -> str:
    """`t` leaves 4 threads and 1 socket open (5 of 5 runs); base left none."""
    kinds = _and([_counted(kind, count) for kind, count in item.kinds])
    base = (
        "base left none"
        if item.base_runs == 0
        else f"base did in {item.base_runs} of {item.base_of} runs"
    )
    return (
        f"{quote(item.nodeid)} leaves {kinds} open after its teardown "
        f"({item.head_runs} of {item.head_of} runs); {base}"
    )


def duplicate_sentence(item: DuplicateModule, quote: Callable[[str], str]) -> str:
    """`pkg/util.py` is loaded twice, as `pkg.util` and `util`: +5.0 MB ...; new on head."""
    copies = "twice" if len(item.names) == 2 else f"{len(item.names)} times"
    names = _and([quote(name) for name in item.names])
    cost = f"+{fmt.megabytes(item.extra_bytes)} of module-level objects in the extra copies"
    if item.new:
        when = "new on head (base loads it once)"
    else:
        when = f"base too ({item.base_runs} of {item.base_of} runs)"
    return f"{quote(item.file)} is loaded {copies}, as {names}: {cost}; {when}"


def markdown_parts(
    left: Sequence[LeftBehind], duplicates: Sequence[DuplicateModule], top: int
) -> list[str]:
    """The comment's paragraphs: 🔴 for what head introduced, plain for what base had too."""
    parts = []
    new = [d for d in duplicates if d.new]
    old = [d for d in duplicates if not d.new]
    for items, heading in (
        (new, "🔴 **Module files loaded twice** (under two names: `sys.path` or import mode)"),
        (old, "**Module files loaded twice** on both sides"),
    ):
        if items:
            parts.append(
                _listing(heading, [duplicate_sentence(d, fmt.untrusted) for d in items], top)
            )
    if left:
        parts.append(
            _listing(
                "🔴 **Left behind** (alive after the test's teardown, not before its setup; "
                "in most of head's runs, Holm-corrected against base's)",
                [left_sentence(t, fmt.untrusted) for t in left],
                top,
            )
        )
    return parts


def _listing(heading: str, sentences: Sequence[str], top: int) -> str:
    more = len(sentences) - top
    lines = [f"- {s}" for s in sentences[:top]]
    if more > 0:
        lines.append(f"- …and {more} more")
    return heading + "\n\n" + "\n".join(lines)


def console_lines(
    left: Sequence[LeftBehind], duplicates: Sequence[DuplicateModule], top: int
) -> list[str]:
    """The same findings for a terminal: what head introduced only."""
    lines = [f"loaded twice: {duplicate_sentence(d, fmt.one_line)}" for d in duplicates if d.new]
    lines = lines[:top]
    lines += [f"left behind: {left_sentence(t, fmt.one_line)}" for t in left[:top]]
    return lines


def red_findings(
    left: Sequence[LeftBehind], duplicates: Sequence[DuplicateModule], quote: Callable[..., str]
) -> list[str]:
    """The headline's few words for each: `t` leaves threads, `util` loaded twice."""
    found = [f"{quote(d.names[-1])} loaded twice" for d in duplicates if d.new and d.names]
    if len(left) == 1:
        kinds = _and([KIND_WORDS.get(k, (k, k))[1].split()[-1] for k, _ in left[0].kinds])
        found.append(f"{quote(left[0].nodeid)} leaves {kinds} behind")
    elif left:
        found.append(f"{len(left)} tests leave resources behind")
    return found
