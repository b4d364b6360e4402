"""Reading a comment the way GitHub shows it, to see what outside text could do there.

GitHub turns a comment into HTML with a CommonMark parser (GFM: tables,
autolinks, raw HTML for a few tags), then looks for @mentions and #references
in the text that is not inside `code`, `pre` or a link.  markdown-it-py with
HTML, tables and linkify on is an independent CommonMark renderer; the
`Shown` parser then lists what a reader would meet: the tags (a link, an
image, a heading, a closed `<details>`) and the words outside code (a ping).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

#: What GitHub reads as a mention: @login or @org/team after a non-word character.
MENTION = re.compile(r"(?<![\w@`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w.-]*)?")
#: What GitHub reads as an issue or pull request reference (a cross-reference on that issue).
REFERENCE = re.compile(r"(?<![\w&])(?:[\w.-]+/[\w.-]+)?#\d+\b")
#: Tags of perfgate's own reports; anything else came from outside.
OWN_TAGS = frozenset(
    {"p", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong", "em"}
    | {"code", "pre", "details", "summary", "sub"}
)
CODE_TAGS = frozenset({"code", "pre"})


def github_html(markdown: str) -> str:
    renderer = MarkdownIt("commonmark", {"html": True, "linkify": True})
    return renderer.enable(["table", "linkify", "strikethrough"]).render(markdown)


class Shown(HTMLParser):
    """The tags of the rendered comment, and its text outside code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.closed: list[str] = []
        self.text: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001
        if self.depth == 0:
            self.tags.append(tag)
        self.depth += tag in CODE_TAGS

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag in CODE_TAGS
        if self.depth == 0:
            self.closed.append(tag)

    def handle_data(self, data: str) -> None:
        if self.depth == 0:
            self.text.append(data)


def shown(markdown: str) -> Shown:
    parser = Shown()
    parser.feed(github_html(markdown))
    parser.close()
    return parser


def outside_markup(markdown: str) -> list[str]:
    """Everything in `markdown` that acts as more than text: foreign tags, links,
    images, headings beyond perfgate's, unbalanced sections, mentions, references."""
    seen = shown(markdown)
    problems = [f"<{tag}>" for tag in seen.tags if tag not in OWN_TAGS]
    if seen.tags.count("details") != seen.closed.count("details"):
        problems.append(f"details opened {seen.tags.count('details')}, closed "
                        f"{seen.closed.count('details')}")  # fmt: skip
    text = " ".join(seen.text)
    problems += [f"mention {m}" for m in MENTION.findall(text)]
    problems += [f"reference {m}" for m in REFERENCE.findall(text)]
    return problems
