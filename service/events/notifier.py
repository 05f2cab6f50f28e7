"""Coalesced NOTIFY sending: the one place this replica announces committed changes.

Postgres serialises the commits of transactions that sent a NOTIFY, so no
request or job transition notifies in its own transaction. They call
`job_changed`/`job_queued` after their commit; a background task sends
everything pending in one transaction, at most once per `min_interval`.
A NOTIFY lost to a crash between commit and send is harmless: readers
sweep the table for events they have not seen (see listener.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import structlog

from service.db.pool import DB_ERRORS
from service.db.queries import QUERIES
from service.domain.jobs import QUEUED_CHANNEL, channel
from service.domain.schedules import SCHEDULES_CHANNEL

log = structlog.get_logger(__name__)


class Notifier:
    def __init__(self, pool: asyncpg.Pool[Any], min_interval: float = 0.002) -> None:
        self._pool = pool
        self._min_interval = min_interval
        self._pending: dict[str, tuple[int, str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: NOTIFY transactions sent, and notifications carried (metrics, benchmarks)
        self.batches_sent = 0
        self.notifications_sent = 0

    def job_changed(self, job_id: uuid.UUID, seq: int) -> None:
        """Announce that `job_id` has events up to `seq` (the hint its streams wait for)."""
        key = channel(job_id)
        current = self._pending.get(key)
        if current is None or current[0] < seq:
            self._pending[key] = (seq, f"{job_id}:{seq}")
        self._wake.set()

    def job_queued(self) -> None:
        """Wake idle workers: a job is waiting."""
        self._pending.setdefault(QUEUED_CHANNEL, (0, ""))
        self._wake.set()

    def schedules_changed(self) -> None:
        """Wake the schedulers: a schedule was created, changed or deleted."""
        self._pending.setdefault(SCHEDULES_CHANNEL, (0, ""))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def close(self) -> None:
        """Stop the sender after one last flush, so nothing pending is dropped."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        channels = list(batch)
        payloads = [payload for _, payload in batch.values()]
        await self._pool.execute(QUERIES["notify_many"], channels, payloads)
        self.batches_sent += 1
        self.notifications_sent += len(channels)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except DB_ERRORS as exc:
                # The rows are committed; the readers' sweep finds them without the hint.
                log.warning("notify_failed", error=str(exc))
                await asyncio.sleep(0.5)
            await asyncio.sleep(self._min_interval)
