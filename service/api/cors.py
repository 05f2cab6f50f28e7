"""Cross-origin access to the API for browser apps on other origins, off unless configured.

Tokens travel in the `Authorization` header, never in cookies, so credentials
are not allowed cross-origin: an allowed origin's page still needs a token.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp_cors
from aiohttp import web

EXPOSE_HEADERS = ("Location", "Link", "X-Request-ID")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID")
#: how long a browser may cache a preflight answer, in seconds
MAX_AGE = 600


def setup_cors(app: web.Application, origins: Iterable[str]) -> None:
    """Enable CORS on every `/api/` route registered so far, for `origins` only.

    Call it after every route is added: a route added later is not covered.
    """
    origins = tuple(origins)
    if not origins:
        return
    options = {
        "allow_credentials": False,
        "expose_headers": EXPOSE_HEADERS,
        "allow_headers": ALLOW_HEADERS,
        "max_age": MAX_AGE,
    }
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, options))
    for route in list(app.router.routes()):
        if route.resource is not None and route.resource.canonical.startswith("/api/"):
            cors.add(route)
