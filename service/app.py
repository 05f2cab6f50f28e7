"""The application factory: settings in, a wired aiohttp application out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from service import jobtypes
from service.api import health, keys
from service.api.auth import TokenVerifier
from service.api.batch import MAX_CONCURRENT_BATCHES
from service.api.cors import setup_cors
from service.api.middlewares import MIDDLEWARES, add_request_id_header
from service.api.routes import setup_routes
from service.assets.storage import make_storage
from service.assets.store import AssetStore
from service.db import partitions
from service.db.pool import create_pool
from service.db.store import Store
from service.domain.limits import MAX_BODY_BYTES
from service.domain.quota import QueueQuota
from service.events.listener import Listener
from service.events.notifier import Notifier
from service.metrics import Metrics
from service.settings import Settings, role_runs_api, role_runs_worker
from service.webhooks.secrets import WebhookSecrets
from service.worker.callbacks import CallbackSender, HostPolicy
from service.worker.runner import Runner

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> web.Application:
    jobtypes.load(settings.job_type_modules)
    middlewares = [health.operator_port, *MIDDLEWARES] if settings.metrics_port else MIDDLEWARES
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics(company_labels=settings.metrics_company_labels)
    app[keys.CALLBACK_POLICY] = HostPolicy(settings.webhook_allowed_hosts)
    app[keys.BATCH_SLOTS] = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)
    app[keys.VERIFIER] = TokenVerifier(
        settings.auth_jwt_secret,
        jwks_url=settings.auth_jwks_url,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(listening)
    if role_runs_worker(settings.role):
        app.cleanup_ctx.append(running)
    app.on_response_prepare.append(add_request_id_header)
    app.on_shutdown.append(begin_shutdown)
    setup_routes(app, api=role_runs_api(settings.role))
    setup_cors(app, settings.cors_origins)
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    """The pool, the notifier that announces what it commits, the store over both,
    the asset store with its storage backend, and the companies' callback secrets."""
    settings = app[keys.SETTINGS]
    pool = await create_pool(
        settings.database_url, settings.db_pool_size, settings.db_statement_cache_size
    )
    notifier = Notifier(pool)
    notifier.start()
    app[keys.POOL] = pool
    app[keys.NOTIFIER] = notifier
    app[keys.STORE] = Store(pool, notifier)
    app[keys.QUOTA] = QueueQuota(app[keys.STORE], settings.company_max_queued)
    app[keys.ASSETS] = AssetStore(pool, await make_storage(settings, pool))
    if settings.webhook_secret:
        app[keys.WEBHOOK_SECRETS] = WebhookSecrets(pool, settings.webhook_secret)
    log.info("database_ready", pool_size=settings.db_pool_size, role=settings.role)
    yield
    await app[keys.ASSETS].close()
    await notifier.close()
    await pool.close()


async def listening(app: web.Application) -> AsyncIterator[None]:
    """The replica's one LISTEN connection: job channels for streams, the queue for workers."""
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    runner = None
    if role_runs_worker(settings.role):
        runner = app[keys.RUNNER] = Runner(
            app[keys.STORE], settings, metrics=metrics, assets=app[keys.ASSETS]
        )
        metrics.watch("content_jobs_running_jobs", lambda: len(runner.runs))
    listener = Listener(
        settings.listen_url,
        app[keys.STORE],
        sweep_interval=settings.sweep_interval_seconds,
        on_queued=runner.wake if runner else None,
    )
    app[keys.LISTENER] = listener
    metrics.watch("content_jobs_sse_streams_open", lambda: listener.stream_count)
    metrics.watch("content_jobs_listened_channels", lambda: listener.channel_count)
    metrics.watch("content_jobs_listener_reconnects", lambda: listener.reconnects, "counter")
    notifier = app[keys.NOTIFIER]
    metrics.watch("content_jobs_notify_batches", lambda: notifier.batches_sent, "counter")
    listener.start()
    yield
    await listener.close()


async def running(app: web.Application) -> AsyncIterator[None]:
    """The runner, the completion-callback sender (when callbacks are on) and the upkeep of
    the events table's day partitions."""
    runner = app[keys.RUNNER]
    sender = None
    if app[keys.CALLBACK_POLICY].enabled and keys.WEBHOOK_SECRETS in app:
        sender = app[keys.CALLBACKS] = CallbackSender(
            app[keys.POOL], app[keys.WEBHOOK_SECRETS], app[keys.CALLBACK_POLICY], app[keys.METRICS]
        )
        runner.on_end = sender.wake
        sender.start()
    runner.start()
    maintenance = asyncio.create_task(partitions.keep_ahead_forever(app[keys.POOL]))
    log.info("runner_started", worker_id=runner.worker_id, callbacks=sender is not None)
    yield
    maintenance.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await maintenance
    if sender is not None:
        await sender.close()


async def begin_shutdown(app: web.Application) -> None:
    """End open event streams, and give running jobs their grace before requeueing them."""
    app[keys.LISTENER].shutdown()
    if keys.RUNNER in app:
        await app[keys.RUNNER].stop()
