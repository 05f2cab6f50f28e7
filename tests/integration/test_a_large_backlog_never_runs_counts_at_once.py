"""The queue quota on a real Postgres: a company with a large backlog and 64 submits in
flight at every moment has one count of its queued jobs running at a time (seen by the
store and in `pg_stat_activity`), and after the first count no submit waits for one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.db.queries import QUERIES
from service.db.store import Store
from service.domain.quota import REFRESH_SECONDS, QueueQuota

BACKLOG = 100_000
CLIENTS = 64
SECONDS = 3.5


ACTIVE_COUNTS = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1"


class CountingStore:
    """The real store's count, with how many ran and how many at once; while one runs it
    also asks `pg_stat_activity` how many are active (`seen_active`), so that the watch's
    figure is known to see counts at all, however fast or slow this machine runs them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls = 0
        self.in_flight = 0
        self.most_at_once = 0
        self.seen_active = 0

    async def queued_count(self, company_id: str, up_to: int) -> int:
        self.calls += 1
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            count = asyncio.ensure_future(self.store.queued_count(company_id, up_to))
            while not count.done():
                active = await self.store.pool.fetchval(ACTIVE_COUNTS, QUERIES["queued_count"])
                self.seen_active = max(self.seen_active, active)
            return await count
        finally:
            self.in_flight -= 1


def admit_without_waiting(quota: QueueQuota, company_id: str) -> None:
    """Run one admit to its end without giving the loop up: it must not await anything."""
    step = quota.admit(company_id)
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise AssertionError("a submit waited for a count")


async def test_a_large_backlog_runs_one_count_at_a_time(store: Store, db: Any) -> None:
    await db.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)"
        " SELECT gen_random_uuid(), 'acme', 'echo', '{}', 3 FROM generate_series(1, $1)",
        BACKLOG,
    )
    counts = CountingStore(store)
    quota = QueueQuota(counts, limit=1_000_000)
    await quota.admit("acme")  # the first submit waits for the first count
    began = time.monotonic()
    end = began + SECONDS
    running: list[int] = []

    async def client() -> None:
        while time.monotonic() < end:
            admit_without_waiting(quota, "acme")
            await asyncio.sleep(0.002)

    async def watch() -> None:
        while time.monotonic() < end:
            running.append(await db.fetchval(ACTIVE_COUNTS, QUERIES["queued_count"]))

    await asyncio.gather(watch(), *(client() for _ in range(CLIENTS)))
    elapsed = time.monotonic() - began
    assert counts.most_at_once == 1
    assert max(running) <= 1
    assert counts.seen_active == 1, "a count was never seen running: the watch would see nothing"
    assert counts.calls <= 2 + elapsed / REFRESH_SECONDS
