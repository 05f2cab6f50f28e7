"""Every typed key of the aiohttp application and its requests, in one place."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web

from service.api.auth import Caller, TokenVerifier
from service.assets.store import AssetStore
from service.db.store import Store
from service.domain.quota import QueueQuota
from service.events.listener import Listener
from service.events.notifier import Notifier
from service.metrics import Metrics
from service.settings import Settings
from service.webhooks.secrets import WebhookSecrets
from service.worker.callbacks import CallbackSender, HostPolicy
from service.worker.runner import Runner

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
NOTIFIER = web.AppKey("notifier", Notifier)
STORE = web.AppKey("store", Store)
QUOTA = web.AppKey("quota", QueueQuota)
CALLBACK_POLICY = web.AppKey("callback_policy", HostPolicy)
CALLBACKS = web.AppKey("callbacks", CallbackSender)
WEBHOOK_SECRETS = web.AppKey("webhook_secrets", WebhookSecrets)
ASSETS = web.AppKey("assets", AssetStore)
LISTENER = web.AppKey("listener", Listener)
RUNNER = web.AppKey("runner", Runner)
METRICS = web.AppKey("metrics", Metrics)
VERIFIER = web.AppKey("verifier", TokenVerifier)
#: the batches this replica may check at once (`service.api.batch.MAX_CONCURRENT_BATCHES`)
BATCH_SLOTS = web.AppKey("batch_slots", asyncio.Semaphore)

CALLER = web.RequestKey("caller", Caller)
REQUEST_ID = web.RequestKey("request_id", str)

__all__ = ["Any"]
