"""`markdown.html`: Markdown (CommonMark) to a complete, self-contained HTML5 document.

Raw HTML in the input is escaped, never passed through (`html=False`), and
markdown-it refuses `javascript:`-style links, so a document rendered from
untrusted Markdown runs no script. The document is stored as an asset and the
job's result names it. Rendering is CPU-bound (a pathological input takes seconds),
so it runs in a worker process, never on the replica's event loop.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, ConfigDict, Field

from service.sdk import Asset, JobType

CONTENT_TYPE = "text/html; charset=utf-8"
FILENAME = "document.html"
MAX_MARKDOWN = 1_000_000
MAX_TITLE = 500
DEFAULT_TITLE = "Document"

STYLESHEET = """\
:root { color-scheme: light dark; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1, h2, h3, h4, h5, h6 { line-height: 1.25; margin: 1.6em 0 0.6em; }
pre, code { font: 0.9em/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { padding: 0.1em 0.3em; border-radius: 4px; background: rgba(127, 127, 127, 0.15); }
pre { padding: 0.9em 1em; overflow-x: auto; border-radius: 6px;
      background: rgba(127, 127, 127, 0.12); }
pre code { padding: 0; background: none; }
blockquote { margin: 1em 0; padding: 0 1em; border-left: 4px solid rgba(127, 127, 127, 0.4); }
img { max-width: 100%; }
hr { border: 0; border-top: 1px solid rgba(127, 127, 127, 0.4); }
"""


class MarkdownInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    markdown: str = Field(max_length=MAX_MARKDOWN, description="CommonMark source")
    title: str | None = Field(None, max_length=MAX_TITLE, description="The page title")


def render(data: MarkdownInput) -> Asset:
    """Runs in a CPU worker process: markdown-it on hostile input can take seconds."""
    return Asset(render_document(data.markdown, data.title), CONTENT_TYPE, FILENAME)


MARKDOWN_HTML = JobType(
    name="markdown.html",
    description="Renders Markdown (CommonMark) to a complete HTML document, stored as an asset.",
    input_model=MarkdownInput,
    handler=render,
    timeout_seconds=300,
    cpu_bound=True,
)


def render_document(markdown: str, title: str | None) -> bytes:
    """The whole document (raw HTML in the input is escaped)."""
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False})
    tokens = md.parse(markdown, {})
    body = md.renderer.render(tokens, md.options, {})
    heading = title if title is not None and title.strip() else None
    return _page(heading, heading or _first_heading(tokens) or DEFAULT_TITLE, body)


def _first_heading(tokens: Sequence[Token]) -> str | None:
    for before, token in itertools.pairwise(tokens):
        if before.type == "heading_open" and token.type == "inline" and token.content.strip():
            return token.content.strip()
    return None


def _page(heading: str | None, title: str, body: str) -> bytes:
    shown = f'<h1 class="document-title">{html.escape(heading)}</h1>\n' if heading else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{STYLESHEET}</style>\n</head>\n"
        f"<body>\n<main>\n{shown}{body}</main>\n</body>\n</html>\n"
    ).encode()
