"""Every typed key of the aiohttp application and its requests, in one place."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web

from service.assets import AssetStore
from service.auth import Caller, TokenVerifier
from service.callbacks import CallbackSender, HostPolicy
from service.listener import Listener
from service.metrics import Metrics
from service.notifier import Notifier
from service.quota import QueueQuota
from service.runner import Runner
from service.settings import Settings
from service.store import Store
from service.webhook_secrets import WebhookSecrets

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
#: the batches this replica may check at once (`service.batch.MAX_CONCURRENT_BATCHES`)
BATCH_SLOTS = web.AppKey("batch_slots", asyncio.Semaphore)

CALLER = web.RequestKey("caller", Caller)
REQUEST_ID = web.RequestKey("request_id", str)

__all__ = ["Any"]
