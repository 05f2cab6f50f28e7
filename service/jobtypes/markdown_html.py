"""`markdown.html`: Markdown (CommonMark) to a complete, self-contained HTML5 document.

Raw HTML in the input is escaped, never passed through (`html=False`), and
markdown-it refuses `javascript:`-style links, so a document rendered from
untrusted Markdown runs no script. The document is stored as an asset and the
job's result names it.
"""

from __future__ import annotations

import asyncio
import html
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.jobtypes.registry import Input, JobContext, job_type, reject_unknown, string

CONTENT_TYPE = "text/html; charset=utf-8"
FILENAME = "document.html"
MAX_MARKDOWN = 1_000_000
MAX_TITLE = 500
#: inputs at least this long are parsed off the event loop and report progress
LARGE_INPUT = 64 * 1024
#: a large input is rendered in this many slices, with progress after each
SLICES = 20
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


def validate(data: Mapping[str, Any]) -> Input:
    reject_unknown(data, {"markdown", "title"})
    markdown = string(data, "markdown", required=True, max_length=MAX_MARKDOWN)
    title = string(data, "title", required=False, max_length=MAX_TITLE)
    return {"markdown": markdown, "title": title}


@job_type("markdown.html", validate=validate, timeout=300)
async def markdown_html(ctx: JobContext, data: Input) -> Any:
    document = await render_document(ctx, data["markdown"], data.get("title"))
    asset_id = await ctx.store_asset(document, CONTENT_TYPE, FILENAME)
    return {"assetId": asset_id, "bytes": len(document)}


async def render_document(ctx: JobContext, markdown: str, title: str | None) -> bytes:
    """The whole document; a large input is rendered a slice of top-level blocks at a time,
    with progress after each, so the event loop and the job's watchers are never kept waiting."""
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False})
    env: dict[str, Any] = {}
    large = len(markdown) >= LARGE_INPUT
    if large:
        await ctx.progress(0, "parsing")
        tokens = await asyncio.to_thread(md.parse, markdown, env)
    else:
        tokens = md.parse(markdown, env)
    slices = _slices(list(_top_level_blocks(tokens)), SLICES if large else 1)
    body: list[str] = []
    for number, blocks in enumerate(slices, start=1):
        body.append(md.renderer.render([t for block in blocks for t in block], md.options, env))
        if large:
            await ctx.progress(
                5 + 90 * number // len(slices), f"rendered {number} of {len(slices)}"
            )
    heading = title if title is not None and title.strip() else None
    return _page(heading, heading or _first_heading(tokens) or DEFAULT_TITLE, "".join(body))


def _top_level_blocks(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    """The token list cut between top-level blocks (each renders on its own)."""
    start = 0
    for index, token in enumerate(tokens):
        if token.level == 0 and token.nesting <= 0:
            yield list(tokens[start : index + 1])
            start = index + 1


def _slices(blocks: list[list[Token]], count: int) -> list[list[list[Token]]]:
    size = max(1, -(-len(blocks) // count))
    return [blocks[i : i + size] for i in range(0, len(blocks), size)] or [[]]


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
