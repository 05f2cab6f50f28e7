"""Service routes for operators: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import keys, migrations
from service.db import DB_ERRORS
from service.responses import json_response

_REQUIRED_MIGRATIONS = frozenset(migrations.known_ids())


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
        problems.append(f"database unavailable: {exc or type(exc).__name__}")
    if not app[keys.LISTENER].connected.is_set():
        problems.append("listener not connected")
    return problems


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; the queue gauges are read from the database at each scrape."""
    registry = request.app[keys.METRICS]
    try:
        row = await request.app[keys.STORE].queue_stats()
        registry.queue_depth.set(row[0])
        registry.oldest_queued.set(row[1])
    except DB_ERRORS:
        pass  # the last known values stand; /readyz reports the database
    return web.Response(
        body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
