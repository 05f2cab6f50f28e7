"""Running the application: the HTTP server, signals and a bounded shutdown."""

from __future__ import annotations

import gc
import socket

import structlog
from aiohttp import web

from service.api import keys
from service.app import create_app
from service.settings import Settings

log = structlog.get_logger(__name__)


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; aiohttp then runs on_shutdown and the cleanup contexts,
    and this returns (the command exits 0: a stop asked for is not a failure)."""
    tune_gc()
    app = create_app(settings)
    log.info("job_types_loaded", job_types=app[keys.JOB_TYPES].names())
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        sock=[_listen(settings.host, settings.metrics_port)] if settings.metrics_port else None,
        access_log=None,  # the request_context middleware logs each request once
        handler_cancellation=True,  # a client that disconnects stops its handler at once
        shutdown_timeout=settings.shutdown_grace_seconds + 5,
        print=None,
    )
    log.info("shutdown_complete")


def _listen(host: str, port: int) -> socket.socket:
    """The operators' port (METRICS_PORT), served by the same application."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setblocking(False)
    return sock


#: allocations between young-generation collections (CPython's default is 700)
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect less often, and never rescan what start-up created.

    A replica allocates fast (every request, every event sent to every stream) and
    holds many long-lived objects (thousands of open streams); with the default
    thresholds the collector ran so often that it stalled bursts of events by
    hundreds of milliseconds (BENCHMARKS.md). Full collections still run, just rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 10)
