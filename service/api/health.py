"""Service routes for operators: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api import keys
from service.api.responses import json_response
from service.db import migrations
from service.db.pool import DB_ERRORS
from service.metrics import QueueStats

log = structlog.get_logger(__name__)
_REQUIRED_MIGRATIONS = frozenset(migrations.known_ids())
#: served on METRICS_PORT alone when it is set, so a load balancer does not expose them
OPERATOR_PATHS = frozenset({"/metrics", "/readyz"})


@web.middleware
async def operator_port(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With METRICS_PORT set: `/metrics` and `/readyz` only there, and nothing else there."""
    port = request.app[keys.SETTINGS].metrics_port
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    on_operator_port = sockname is not None and sockname[1] == port
    if (request.path in OPERATOR_PATHS) != on_operator_port:
        raise web.HTTPNotFound()
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers; nothing else is checked."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers, its schema is current and the listener is connected."""
    problems = await _problems(request.app)
    if problems:
        return json_response({"status": "unavailable", "problems": problems}, status=503)
    return json_response({"status": "ready"})


async def _problems(app: web.Application) -> list[str]:
    problems = []
    try:
        async with asyncio.timeout(2):
            rows = await app[keys.POOL].fetch(migrations.APPLIED_IDS_SQL)
        missing = _REQUIRED_MIGRATIONS - {row["migration_id"] for row in rows}
        if missing:
            problems.append(f"migrations not applied: {', '.join(sorted(missing))}")
    except asyncpg.UndefinedTableError:
        problems.append("migrations not applied: the database has no schema")
    except DB_ERRORS as exc:
        # the error's text (hosts, users, addresses) goes to the log, not to whoever asks
        log.warning("readyz_database_unavailable", error=str(exc) or type(exc).__name__)
        problems.append("database unavailable")
    if not app[keys.LISTENER].connected.is_set():
        problems.append("listener not connected")
    return problems


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; the queue gauges come from the database, read at most every few
    seconds whatever the number of scrapers (`Metrics.refresh_queue`)."""
    registry = request.app[keys.METRICS]
    store = request.app[keys.STORE]

    async def queue_stats() -> QueueStats | None:
        # while the database is away the last known values stand; /readyz reports it
        with contextlib.suppress(*DB_ERRORS):
            stats = await store.queue_stats()
            registry.paused_seen(await store.paused_job_types())
            return stats
        return None

    await registry.refresh_queue(queue_stats)
    return web.Response(
        body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
