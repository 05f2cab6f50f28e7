"""Every typed key of the aiohttp application and its requests, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey["Settings"]("settings")
POOL = web.AppKey["asyncpg.Pool[Any]"]("pool")
NOTIFIER = web.AppKey["Notifier"]("notifier")
STORE = web.AppKey["Store"]("store")
LISTENER = web.AppKey["Listener"]("listener")
RUNNER = web.AppKey["Runner"]("runner")

CALLER = web.RequestKey["Caller"]("caller")
REQUEST_ID = web.RequestKey[str]("request_id")

__all__ = ["CALLER", "LISTENER", "NOTIFIER", "POOL", "REQUEST_ID", "RUNNER", "SETTINGS", "STORE"]
