"""The application factory: settings in, a wired aiohttp application out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from service import keys
from service.cors import setup_cors
from service.db import create_pool
from service.middlewares import MIDDLEWARES, add_request_id_header
from service.notifier import Notifier
from service.routes import setup_routes
from service.settings import Settings, role_runs_api
from service.store import Store

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.SHUTTING_DOWN] = asyncio.Event()
    app.cleanup_ctx.append(database)
    app.on_response_prepare.append(add_request_id_header)
    app.on_shutdown.append(begin_shutdown)
    setup_routes(app, api=role_runs_api(settings.role))
    setup_cors(app, settings.cors_origins)
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    """The pool, the notifier that announces what it commits, and the store over both."""
    settings = app[keys.SETTINGS]
    pool = await create_pool(settings.database_url, settings.db_pool_size)
    notifier = Notifier(pool)
    notifier.start()
    app[keys.POOL] = pool
    app[keys.NOTIFIER] = notifier
    app[keys.STORE] = Store(pool, notifier)
    log.info("database_ready", pool_size=settings.db_pool_size, role=settings.role)
    yield
    await notifier.close()
    await pool.close()


async def begin_shutdown(app: web.Application) -> None:
    """Tell open event streams to end, so shutdown does not wait on them."""
    app[keys.SHUTTING_DOWN].set()
