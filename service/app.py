"""The application factory (the composition root): settings in, a wired aiohttp application
out. Components are built once here and held by the app under the typed keys of
`service.api.keys` (the worker's own under keys its modules declare)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from service import tracing
from service.api import health, keys
from service.api.auth import TokenVerifier
from service.api.batch import MAX_CONCURRENT_BATCHES
from service.api.cors import setup_cors
from service.api.middlewares import MIDDLEWARES, add_request_id_header, traced
from service.api.routes import setup_routes
from service.assets.storage import make_storage
from service.assets.store import AssetStore
from service.db.pool import create_pool
from service.db.schedules import ScheduleStore
from service.db.store import Store
from service.domain.limits import MAX_BODY_BYTES
from service.domain.quota import QueueQuota
from service.events.listener import Listener
from service.events.notifier import Notifier
from service.jobtypes import JobTypes, load
from service.metrics import Metrics
from service.settings import Settings, role_runs_api, role_runs_worker
from service.webhooks.hosts import HostPolicy
from service.webhooks.secrets import WebhookSecrets

log = structlog.get_logger(__name__)


def create_app(settings: Settings, job_types: JobTypes | None = None) -> web.Application:
    """The application of one replica: the HTTP face when its role serves the API, and the
    worker's part (imported only then) when its role runs jobs. The job types are loaded
    here, once (built-in, entry points, `JOB_TYPE_MODULES`), unless a test brings its own."""
    if job_types is None:
        job_types = load(settings.job_type_modules)
    middlewares = [health.operator_port, *MIDDLEWARES] if settings.metrics_port else MIDDLEWARES
    tracer = tracing.create(settings.otel_exporter_otlp_endpoint)
    if tracer.enabled:  # off, a request does not even pass through the tracing middleware
        middlewares = [traced, *middlewares]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[keys.TRACING] = tracer
    app[keys.SETTINGS] = settings
    app[keys.JOB_TYPES] = job_types
    app[keys.METRICS] = Metrics(company_labels=settings.metrics_company_labels)
    app[keys.CALLBACK_POLICY] = HostPolicy(settings.webhook_allowed_hosts)
    app[keys.BATCH_SLOTS] = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)
    app[keys.VERIFIER] = TokenVerifier(
        settings.auth_jwt_secret,
        jwks_url=settings.auth_jwks_url,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
    app.on_cleanup.append(close_tracing)
    app.cleanup_ctx.append(database)
    app.on_response_prepare.append(add_request_id_header)
    app.on_shutdown.append(end_streams)
    if role_runs_worker(settings.role):
        from service.worker import lifecycle  # an API replica never loads the worker

        app.cleanup_ctx.append(lifecycle.prepare)
        app.cleanup_ctx.append(listening)
        app.cleanup_ctx.append(lifecycle.running)
        app.on_shutdown.append(lifecycle.stop)
    else:
        app.cleanup_ctx.append(listening)
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
    app[keys.STORE] = Store(
        pool,
        notifier,
        watch_dsn=settings.database_url,
        statement_cache_size=settings.db_statement_cache_size,
    )
    app[keys.QUOTA] = QueueQuota(app[keys.STORE], settings.company_max_queued)
    app[keys.SCHEDULES] = ScheduleStore(pool, notifier)
    app[keys.ASSETS] = AssetStore(pool, await make_storage(settings, pool))
    if settings.webhook_secret:
        app[keys.WEBHOOK_SECRETS] = WebhookSecrets(pool, settings.webhook_secret)
    log.info("database_ready", pool_size=settings.db_pool_size, role=settings.role)
    yield
    await app[keys.ASSETS].close()
    await app[keys.STORE].close()
    await notifier.close()
    await pool.close()


async def listening(app: web.Application) -> AsyncIterator[None]:
    """The replica's one LISTEN connection: job channels for streams, the queue for workers."""
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    listener = Listener(
        settings.listen_url,
        app[keys.STORE],
        sweep_interval=settings.sweep_interval_seconds,
        heartbeat_seconds=settings.sse_heartbeat_seconds,
        on_queued=app.get(keys.ON_QUEUED),
        on_schedules=app.get(keys.ON_SCHEDULES),
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


async def close_tracing(app: web.Application) -> None:
    """Exports the spans still pending: last, after the worker's runs have ended."""
    await app[keys.TRACING].close()


async def end_streams(app: web.Application) -> None:
    """End open event streams at once: aiohttp waits for open handlers at shutdown."""
    app[keys.LISTENER].shutdown()
