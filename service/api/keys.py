"""The typed keys of the HTTP face's components and of its requests, in one place.

The worker's components declare their own keys (`service.worker.runner.RUNNER`,
`service.worker.callbacks.CALLBACKS`): nothing here imports the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web

from service.api.auth import Caller, TokenVerifier
from service.assets.store import AssetStore
from service.db.schedules import ScheduleStore
from service.db.store import Store
from service.domain.quota import QueueQuota
from service.events.listener import Listener
from service.events.notifier import Notifier
from service.jobtypes import JobTypes
from service.metrics import Metrics
from service.settings import Settings
from service.tracing import Tracing
from service.webhooks.hosts import HostPolicy
from service.webhooks.secrets import WebhookSecrets

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
NOTIFIER = web.AppKey("notifier", Notifier)
STORE = web.AppKey("store", Store)
SCHEDULES = web.AppKey("schedules", ScheduleStore)
#: the installed job types, loaded once by `create_app`
JOB_TYPES = web.AppKey("job_types", JobTypes)
QUOTA = web.AppKey("quota", QueueQuota)
CALLBACK_POLICY = web.AppKey("callback_policy", HostPolicy)
WEBHOOK_SECRETS = web.AppKey("webhook_secrets", WebhookSecrets)
ASSETS = web.AppKey("assets", AssetStore)
LISTENER = web.AppKey("listener", Listener)
METRICS = web.AppKey("metrics", Metrics)
VERIFIER = web.AppKey("verifier", TokenVerifier)
#: what the listener calls when a job is queued (the runner's wake, on replicas that run jobs)
ON_QUEUED: web.AppKey[Callable[[], None]] = web.AppKey("on_queued")
#: what the listener calls when a schedule changed (the scheduler's wake, on worker replicas)
ON_SCHEDULES: web.AppKey[Callable[[], None]] = web.AppKey("on_schedules")
#: the batches this replica may check at once (`service.api.batch.MAX_CONCURRENT_BATCHES`)
BATCH_SLOTS = web.AppKey("batch_slots", asyncio.Semaphore)

#: the replica's tracing (`service.tracing.NO_TRACING` when off)
TRACING = web.AppKey("tracing", Tracing)

CALLER = web.RequestKey("caller", Caller)
REQUEST_ID = web.RequestKey("request_id", str)
#: the W3C traceparent of the request's span (tracing on only), stored with a submitted job
TRACEPARENT = web.RequestKey("traceparent", str)

__all__ = ["Any"]
