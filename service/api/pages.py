"""The web page at `GET /`: submit jobs, watch them live, and an overview of the company's.

The page is static (`service/api/static/`): `app.js` is an ES module that imports the
TypeScript client (clients/typescript) from `static/client/`, where `npm run build:page`
put it and git keeps it, so serving the page needs no Node and no build step; a test holds
that copy to the client's source. The CSP lets the page load only its own files (modules
too) and talk only to its own origin (fetch, EventSource).

What the server fills in: the job types, from the registry, so its `<select>` lists
exactly the types this server runs and works before any script has loaded; and the
statuses and the company id pattern, from their one definition (`service/domain`), which
the page's script and form read instead of spelling them again.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from aiohttp import web

from service.api import keys
from service.domain.jobs import RETRYABLE, TERMINAL, Status
from service.domain.limits import COMPANY_ID_PATTERN

STATIC_DIR = Path(__file__).resolve().parent / "static"
JOB_TYPE_OPTIONS = "<!--job-type-options-->"
#: what else index.html leaves to the server: space-separated statuses (`data-*` attributes
#: of `<html>`, read by app.js) and the company input's pattern (as an HTML `pattern`, whose
#: `v`-flag syntax wants a `-` in a class escaped)
PAGE_VALUES = {
    "<!--statuses-->": " ".join(status.value for status in Status),
    "<!--terminal-statuses-->": " ".join(sorted(TERMINAL)),
    "<!--retryable-statuses-->": " ".join(sorted(RETRYABLE)),
    "<!--queued-status-->": Status.QUEUED.value,
    "<!--company-id-pattern-->": COMPANY_ID_PATTERN.replace("-]", "\\-]"),
}
#: the page loads only its own files; a token it holds cannot be sent elsewhere by injected markup
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=render_index(tuple(request.app[keys.JOB_TYPES].names())),
        content_type="text/html",
        headers=PAGE_HEADERS,
    )


@functools.cache
def render_index(job_types: tuple[str, ...]) -> str:
    options = "".join(f"<option>{html.escape(name)}</option>" for name in job_types)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    for marker, value in PAGE_VALUES.items():
        page = page.replace(marker, html.escape(value))
    return page.replace(JOB_TYPE_OPTIONS, options)
