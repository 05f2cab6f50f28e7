"""Every typed key of the aiohttp application and its requests, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    import asyncpg

    from service.auth import Caller
    from service.listener import Listener
    from service.notifier import Notifier
    from service.runner import Runner
    from service.settings import Settings
    from service.store import Store

SETTINGS = web.AppKey["Settings"]("settings")
POOL = web.AppKey["asyncpg.Pool[Any]"]("pool")
NOTIFIER = web.AppKey["Notifier"]("notifier")
STORE = web.AppKey["Store"]("store")
LISTENER = web.AppKey["Listener"]("listener")
RUNNER = web.AppKey["Runner"]("runner")

CALLER = web.RequestKey["Caller"]("caller")
REQUEST_ID = web.RequestKey[str]("request_id")

__all__ = ["CALLER", "LISTENER", "NOTIFIER", "POOL", "REQUEST_ID", "RUNNER", "SETTINGS", "STORE"]
