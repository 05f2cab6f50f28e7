"""A claim's NOTIFY hints go out before its rows are turned into jobs and runs: streams
waiting for their job's `running` event hear of it while the worker is still starting a
large claim's handlers (~50 ms of Python for 1,000), not after (BENCHMARKS.md, "Fan-out")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from bench.cluster import QUERIES as BENCH_QUERIES
from service.db.pool import create_pool, init_connection
from service.db.store import Store
from service.events.notifier import Notifier
from service.settings import Settings


class RecordingNotifier(Notifier):
    """The service's notifier, noting when a flush begins (before its NOTIFY is sent)."""

    def __init__(self, pool: asyncpg.Pool[Any], order: list[str]) -> None:
        super().__init__(pool)
        self.order = order

    async def flush(self) -> None:
        if self._pending:
            self.order.append("notify")
        await super().flush()


@pytest.fixture
async def order_and_store(settings: Settings) -> AsyncIterator[tuple[list[str], Store]]:
    pool = await create_pool(settings.database_url, 4)
    order: list[str] = []
    notifier = RecordingNotifier(pool, order)
    notifier.start()
    yield order, Store(pool, notifier)
    await notifier.close()
    await pool.close()


async def test_the_hints_are_sent_before_the_claim_returns(
    order_and_store: tuple[list[str], Store], db: asyncpg.Connection[Any]
) -> None:
    order, store = order_and_store
    await init_connection(db)
    await db.fetch(BENCH_QUERIES["insert_jobs"], 50, "echo", [{"n": 1}])
    jobs = await store.claim("w", 60.0, 50)
    order.append("claimed")
    assert len(jobs) == 50
    # before: the jobs were built and returned first, and the notifier flushed after
    assert order[:2] == ["notify", "claimed"], order
