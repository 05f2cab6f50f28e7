"""CONTRACT "Flow control", rate limits: across all workers, at most N jobs of a type start in
any window of T seconds; jobs over the limit stay queued (never failed) and start as the
window allows; a worker sleeps until the window frees a slot instead of claiming in a loop,
and other types keep flowing meanwhile. Three runners (as three worker replicas) share one
Postgres; starts are counted from the jobs' `started_at` (the database's clock)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from service.db.store import Store
from service.domain.flow import FlowControl, parse_rate_limits
from service.domain.jobs import Job
from service.jobtypes import JobTypes
from service.sdk import JobContext, JobType
from service.settings import Settings
from service.worker.runner import Runner


async def insert(store: Store, company: str, job_type: str, count: int) -> None:
    await store.pool.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)"
        " SELECT gen_random_uuid(), $1, $2, '{}', 1 FROM generate_series(1, $3)",
        company,
        job_type,
        count,
    )


async def statuses(store: Store, job_type: str) -> dict[str, int]:
    rows = await store.pool.fetch(
        "SELECT status, count(*) AS n FROM content_jobs WHERE job_type = $1 GROUP BY status",
        job_type,
    )
    return {row["status"]: row["n"] for row in rows}


async def starts(store: Store, job_type: str, company: str | None = None) -> list[datetime]:
    rows = await store.pool.fetch(
        "SELECT started_at FROM content_jobs WHERE job_type = $1 AND started_at IS NOT NULL"
        " AND ($2::text IS NULL OR company_id = $2) ORDER BY started_at",
        job_type,
        company,
    )
    return [row["started_at"] for row in rows]


def most_in_a_window(times: Sequence[datetime], seconds: float) -> int:
    """The most starts in any window [t, t + seconds) (it is enough to try each start's t)."""
    window = timedelta(seconds=seconds)
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


@pytest.fixture
async def fleet(
    store: Store, settings: Settings, job_types: JobTypes
) -> AsyncIterator[list[Runner]]:
    """Three runners, each its own worker with 4 slots, sharing the store's Postgres."""
    limited = dataclasses.replace(
        settings,
        runner_concurrency=4,
        job_type_rate_limits=parse_rate_limits("echo=4/0.5s,sleep=2/60s/company"),
    )
    runners = [Runner(store, limited, job_types) for _ in range(3)]
    for runner in runners:
        runner.start()
    yield runners
    for runner in runners:
        await runner.stop()


async def until(predicate: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_at_most_n_start_in_any_window_across_three_workers(
    store: Store, fleet: list[Runner]
) -> None:
    await insert(store, "acme", "echo", 14)
    await until(lambda: _all_done(store, "echo", 14))
    times = await starts(store, "echo")
    assert len(times) == 14
    assert most_in_a_window(times, 0.5) <= 4
    # it went as fast as the limit allows: 14 starts need 4 windows, not a poll each
    assert times[-1] - times[0] < timedelta(seconds=3.5)
    # (which of the three ran them is up to their timers: each claims as a window frees,
    # and whichever comes first takes the slots)
    assert sum(sum(runner.finished.values()) for runner in fleet) == 14


async def _all_done(store: Store, job_type: str, count: int) -> bool:
    return (await statuses(store, job_type)).get("done", 0) == count


async def test_limited_jobs_stay_queued_and_other_types_flow(
    store: Store, fleet: list[Runner]
) -> None:
    """`sleep` is 2 per 60 s per company: two of each company's start, the rest stay queued
    (never failed), while 30 `test` jobs queued behind them all run at once."""
    await insert(store, "acme", "sleep", 6)
    await insert(store, "beta", "sleep", 6)
    await insert(store, "acme", "test", 30)
    await until(lambda: _all_done(store, "test", 30), timeout=10)
    await asyncio.sleep(0.5)  # time for a worker that would break the limit to do it
    for company in ("acme", "beta"):
        assert len(await starts(store, "sleep", company)) == 2
    counts = await statuses(store, "sleep")
    assert counts.get("queued") == 8 and "failed" not in counts


async def test_a_worker_sleeps_until_the_window_frees_a_slot(
    store: Store, settings: Settings, job_types: JobTypes
) -> None:
    """With the limit's slots used for a minute, a runner claims a few times (woken by the
    submit, then the poll), not in a loop."""
    claims: list[int] = []

    class Counting(Store):
        async def claim(self, *args: Any, **kwargs: Any) -> list[Job]:
            claims.append(1)
            return await super().claim(*args, **kwargs)

    counting = Counting(store.pool, store.notifier)
    limited = dataclasses.replace(settings, job_type_rate_limits=parse_rate_limits("echo=1/60s"))
    runner = Runner(counting, limited, job_types)
    await insert(store, "acme", "echo", 5)
    runner.start()
    try:
        await until(lambda: _some_started(store))
        claims.clear()
        await asyncio.sleep(1.5)
    finally:
        await runner.stop()
    assert len(claims) <= 5, f"{len(claims)} claims in 1.5 s while only a limited type waited"
    # the metric counts the waits a rate limit timed
    assert runner.metrics.rate_limited_waits._value.get() >= 1
    assert (await statuses(store, "echo")) == {"done": 1, "queued": 4}


async def _some_started(store: Store) -> bool:
    return bool(await starts(store, "echo"))


class Empty(BaseModel):
    pass


async def _noop(ctx: JobContext[Empty]) -> dict[str, Any]:
    return {}


async def test_a_types_own_rate_limit_holds_and_the_setting_wins(
    store: Store, settings: Settings, job_types: JobTypes
) -> None:
    limited_type = JobType("limited", "declares 1 per minute", Empty, _noop, rate_limit="1/60s")
    types = job_types.plus(limited_type, dataclasses.replace(limited_type, name="overridden"))
    overridden = dataclasses.replace(
        settings, job_type_rate_limits=parse_rate_limits("overridden=3/60s")
    )
    runner = Runner(store, overridden, types)
    assert runner.flow == FlowControl.of(
        parse_rate_limits("overridden=3/60s,limited=1/60s"), (), {}
    )
    await insert(store, "acme", "limited", 4)
    await insert(store, "acme", "overridden", 4)
    runner.start()
    try:
        await until(lambda: _started(store, {"limited": 1, "overridden": 3}))
        await asyncio.sleep(0.3)
    finally:
        await runner.stop()
    assert len(await starts(store, "limited")) == 1
    assert len(await starts(store, "overridden")) == 3


async def _started(store: Store, expected: dict[str, int]) -> bool:
    for job_type, count in expected.items():
        if len(await starts(store, job_type)) < count:
            return False
    return True


async def test_the_wait_is_until_the_first_slot_frees_and_none_while_one_is_free(
    store: Store,
) -> None:
    """The idle query: 0 when it created a limit's slots, None while a slot is free (slots
    never used included), else the seconds until the oldest start leaves the window."""
    flow = FlowControl.of(parse_rate_limits("echo=3/60s"), (), {})
    await insert(store, "acme", "echo", 1)
    assert await store.rate_limit_wait(flow) == 0.0
    assert len(await store.claim("w", 30, 5, flow=flow)) == 1
    assert await store.rate_limit_wait(flow) is None
    await insert(store, "acme", "echo", 5)
    assert len(await store.claim("w", 30, 5, flow=flow)) == 2
    assert await store.claim("w", 30, 5, flow=flow) == []
    wait = await store.rate_limit_wait(flow)
    assert wait is not None and 55 < wait <= 60
