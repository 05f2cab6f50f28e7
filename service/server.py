"""Running the application: the HTTP server, signals and a bounded shutdown."""

from __future__ import annotations

from aiohttp import web

from service.app import create_app
from service.settings import Settings


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; aiohttp then runs on_shutdown and the cleanup contexts."""
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=None,  # the request_context middleware logs each request once
        handler_cancellation=True,  # a client that disconnects stops its handler at once
        shutdown_timeout=settings.shutdown_grace_seconds + 5,
        print=None,
    )
