"""Draw perfgate's pull request comments as GitHub shows them, to look at what ships.

    .venv/bin/python bench/render_comments.py --out /tmp/comments          # the six samples
    .venv/bin/python bench/render_comments.py --out /tmp/comments r.json   # results files

For each comment it writes NAME.md (the comment as posted) and NAME.html, and an
index.html linking them all: GitHub-flavoured Markdown (tables, the few HTML tags
GitHub keeps) rendered by markdown-it-py under a stylesheet close to GitHub's, with
the Mermaid charts drawn by Mermaid 11 in the browser (loaded from jsDelivr: open
the pages online to see the charts; offline they show as their source).  Without
results files it renders the six samples of the rendering tests
(tests/sample_comments.py): fail, pass, no verdict, an import-only regression, a
bimodal peak memory and a suite of thousands of slower tests.

It needs the test extras (`make install`), for markdown-it-py.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt

from perfgate.report import markdown
from perfgate.results import Results

ROOT = Path(__file__).resolve().parent.parent

MERMAID = "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs"
#: GitHub's comment look, in the few rules that matter for perfgate's comments.
STYLE = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica,
  Arial, sans-serif; font-size: 14px; line-height: 1.5; color: #1f2328; max-width: 880px;
  margin: 24px auto; padding: 16px; border: 1px solid #d1d9e0; border-radius: 6px; }
h3 { font-size: 1.25em; font-weight: 600; margin: 0 0 16px; }
h4 { font-size: 1em; font-weight: 600; margin: 24px 0 16px; }
table { border-collapse: collapse; display: block; overflow: auto; margin: 0 0 16px; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 85%;
  background: rgba(129, 139, 152, 0.12); padding: 0.2em 0.4em; border-radius: 6px; }
pre { background: #f6f8fa; padding: 16px; border-radius: 6px; overflow: auto; }
pre code { background: none; padding: 0; }
details { margin: 0 0 16px; } summary { cursor: pointer; }
"""


def samples() -> dict[str, object]:
    """The rendering tests' six gates, built by the real statistics from seeded samples."""
    sys.path.insert(0, str(ROOT / "tests"))
    from sample_comments import SAMPLES

    return {name: build() for name, build in SAMPLES.items()}


def github_like_html(text: str) -> str:
    """The comment's Markdown as HTML, Mermaid blocks left for Mermaid to draw."""
    renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    body = renderer.render(text)
    return re.sub(
        r'<pre><code class="language-mermaid">(.*?)</code></pre>',
        r'<pre class="mermaid">\1</pre>',
        body,
        flags=re.DOTALL,
    )


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n"
        f'<script type="module">import mermaid from "{MERMAID}";'
        "mermaid.initialize({startOnLoad: true});</script>\n</body></html>\n"
    )


def write_comment(out: Path, name: str, results: object) -> Path:
    text = markdown.render_comment(results, marker="perfgate")
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    target = out / f"{name}.html"
    target.write_text(page(f"perfgate comment: {name}", github_like_html(text)), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="*", type=Path, help="results files (default: samples)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the pages")
    args = parser.parse_args(argv)
    gates = {path.stem: Results.read(path) for path in args.results} or samples()
    args.out.mkdir(parents=True, exist_ok=True)
    links = []
    for name, results in gates.items():
        target = write_comment(args.out, name, results)
        headline = markdown.headline(results).removeprefix("### ")
        links.append(
            f"<li><a href='{target.name}'>{html.escape(name)}</a>: {html.escape(headline)}</li>"
        )
        print(target)
    index = args.out / "index.html"
    index.write_text(page("perfgate comments", "<ul>\n" + "\n".join(links) + "\n</ul>"))
    print(index)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
