"""Numbers as a reader wants them: units, signs and intervals.

Every renderer (Markdown, console, the breakdown section) formats through
these helpers, so a figure reads the same wherever it appears.  Memory is
shown in MB (10^6 bytes), as `/usr/bin/time` and most dashboards print it;
`mebibytes` is there for readers who compare with tools that use 2^20.
"""

from __future__ import annotations

import math
import re

from .. import metrics
from ..compare import counts, stats
from ..results import NO_VERDICT

VERDICT_ICONS = {
    "regression": "🔴",
    "improvement": "🟢",
    "unchanged": "⚪",
    "inconclusive": "🟡",
    "too short": "⚫",
}
#: The typographic minus: a hyphen in front of a number is easy to miss.
MINUS = "−"


#: The longest piece of outside text shown (a test id, a module, a ref, a machine); a
#: longer one is cut, so that a 10,000-character test id cannot crowd out the verdict.
OUTSIDE_CHARS = 200
#: Characters that are invisible or reorder what a reader sees (controls, zero-width
#: and bidirectional marks): outside text shows each as U+FFFD, never acts on it.
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def code_span(text: str) -> str:
    """`text` as inline code, whatever backticks it holds (CommonMark: a longer fence)."""
    text = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def one_line(text: object, limit: int = OUTSIDE_CHARS) -> str:
    """Outside text as one line of at most `limit` characters, nothing hidden in it
    (also what a terminal is shown: an escape sequence there is a control character)."""
    text = _HIDDEN.sub("\ufffd", " ".join(str(text).splitlines()))
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def untrusted(text: object, *, limit: int = OUTSIDE_CHARS, cell: bool = False) -> str:
    """Text from outside perfgate (the run, a results file, a ref) as Markdown that is text.

    The one escaping function of the reports.  Inline code is the only Markdown
    in which nothing is read: no HTML (`<img>`, `</details>`), no link or
    autolink, no image, no emphasis, no heading; and GitHub looks for
    @mentions and #references only outside code, so `@org/team` cannot ping.
    What is left to close is the span itself (a longer backtick fence than
    any run inside), the line (newlines become spaces), and, in a table
    cell (`cell=True`), the cell: GFM splits cells on `|` before it reads
    code spans, and `\\|` is its escape.  Longer than `limit`: cut, with "…".
    """
    text = one_line(text, limit)
    if cell:
        text = text.replace("|", "\\|")
    return code_span(text)


def label(metric: str) -> str:
    known = metrics.BY_NAME.get(metric)
    return known.label if known else metric.replace("_", " ")


def _finite(value: float) -> bool:
    return value is not None and math.isfinite(value)


def three_figures(value: float) -> str:
    """3 significant figures, trailing zeros kept: 2.20 beside 2.21, never 2.2 beside 2.21.

    A table whose cells have different precision reads as if some were measured
    more exactly than others; they were not.
    """
    text = f"{value:#.3g}"
    return text[:-1] if text.endswith(".") else text


def _fits(value: float) -> bool:
    """Whether `value` keeps its unit at 3 figures (999.96 rounds to 1000: the next unit)."""
    return float(f"{abs(value):.3g}") < 1000


def seconds(value: float) -> str:
    """3 significant figures in a unit that needs no exponent: 12.3 µs, 41.2 ms, 12.0 s."""
    if not _finite(value):
        return "n/a"
    size = abs(value)
    if size < 5e-10:  # below a nanosecond nothing was measured
        return "0 s"
    for scale, unit in ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1, "s")):
        if _fits(value / scale):
            return f"{three_figures(value / scale)} {unit}"
    return f"{value:,.0f} s"


def megabytes(value: float) -> str:
    """Bytes as MB (10^6) with one decimal: 31.5 MB, 1,234.5 MB."""
    if not _finite(value):
        return "n/a"
    return f"{value / 1e6:,.1f} MB"


def mebibytes(value: float) -> str:
    """Bytes as MiB (2^20) with one decimal, for comparison with tools that use them."""
    if not _finite(value):
        return "n/a"
    return f"{value / 2**20:,.1f} MiB"


def instructions(value: float) -> str:
    """An instruction count with 3 significant figures and an SI prefix: 1.23 G instr.

    Billions are what a test suite executes; all ten digits would hide which
    ones changed.
    """
    if not _finite(value):
        return "n/a"
    size = abs(value)
    if size >= 999.5e9:
        return f"{value / 1e9:,.0f} G instr"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if float(f"{size / factor:.3g}") >= 1:  # 999,999 is 1.00 M, not 1.00e+03 k
            return f"{three_figures(value / factor)} {prefix} instr"
    return f"{value:.0f} instr"


#: How a figure of each unit of the registry is written.
BY_UNIT = {metrics.SECONDS: seconds, metrics.BYTES: megabytes, metrics.COUNT: instructions}


def quantity(metric: str, value: float) -> str:
    """`value` of `metric` in the metric's unit (seconds for a name perfgate does not know)."""
    return BY_UNIT[metrics.unit(metric) or metrics.SECONDS](value)


def percent(fraction: float, digits: int = 1) -> str:
    """A change with its sign: +12.3%, −4.0%, ±0.0%; whole percents from 100% on (+715%,
    +108,246%: a tenth of a percent of a tenfold change is noise, not precision)."""
    if not _finite(fraction):
        return "n/a"
    if abs(fraction) >= 1:
        digits = 0
    if round(fraction * 100, digits) == 0:
        return f"±{0:.{digits}f}%"
    return f"{fraction * 100:+,.{digits}f}%".replace("-", MINUS)


def share(fraction: float, digits: int = 1) -> str:
    """A proportion without a sign (a coefficient of variation, a threshold): 4.2%.

    A small share that is not zero keeps one significant figure (0.02%), or
    reads <0.0001% below that, so that "0.0%" only ever means none at all.
    """
    if not _finite(fraction):
        return "n/a"
    value = fraction * 100
    if value and round(value, digits) == 0:
        text = f"{value:.1g}"
        # An instruction count's CV can be 1e-7: say "tiny", not 1e-07.
        return "<0.0001%" if "e" in text else f"{text}%"
    return f"{value:.{digits}f}%"


def interval(ci: tuple[float, float]) -> str:
    """A 95% interval of a change: −1.0% … +2.0%."""
    return f"{percent(ci[0])} … {percent(ci[1])}"


def delta(metric: str, base: float, head: float) -> str:
    """The absolute difference with its sign: a reviewer thinks of memory in MB, not in %."""
    difference = head - base
    text = quantity(metric, abs(difference))
    if text == "n/a":
        return text
    if not any(ch in "123456789" for ch in text):
        return f"±{text}"
    return f"+{text}" if difference >= 0 else f"{MINUS}{text}"


def plain_number(value: float, significant: int = 4) -> str:
    """A decimal without exponent or thousands separator, for machine-read text (Mermaid)."""
    if not _finite(value) or value == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- Markdown that outside text cannot break --------------------------------------------------

#: GitHub refuses a comment (or a job summary) longer than this.
GITHUB_COMMENT_LIMIT = 65_536


def code_block(text: str, info: str = "text") -> str:
    """`text` in a fenced block that no line of it can close."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


#: Words perfgate itself writes into results; any other value came from elsewhere.
VERDICTS = frozenset({"pass", "fail", "error", NO_VERDICT, *VERDICT_ICONS})


SIDES = frozenset({"base", "head", "run"})


METHODS = frozenset(
    {
        stats.PAIRED_METHOD,
        stats.UNPAIRED_METHOD,
        "stratified by shard: van Elteren, weighted Hodges-Lehmann interval",
        counts.METHOD,
    }
)


def known(value: object, words: frozenset[str], *, cell: bool = False) -> str:
    """`value` as it is when perfgate wrote it, else as outside text."""
    return value if isinstance(value, str) and value in words else untrusted(value, cell=cell)


def metric_label(metric: str, *, cell: bool = False) -> str:
    """A metric's name for running text; a results file from elsewhere may name anything."""
    return label(metric) if metric in metrics.BY_NAME else untrusted(metric, cell=cell)
