"""CONTRACT.md, "Schedules": each due tick submits exactly one job whatever the number of
worker replicas, tagged with `scheduleId` and `sourceTaskId` `schedule:<name>:<tick>`;
ticks missed while no worker ran give one catch-up job; the scheduler sleeps until the
earliest tick (woken by NOTIFY when a schedule changes) and holds 10,000 schedules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from service.db.pool import create_pool
from service.db.schedules import Fired, Plan, ScheduleStore
from service.domain.schedules import ScheduleSpec, Timing
from service.events.listener import Listener
from service.events.notifier import Notifier
from service.jobtypes import JobTypes
from service.settings import Settings
from service.worker.scheduler import Scheduler
from tests.conftest import Client, MakeClient, auth

PATH = "/api/companies/acme/schedules"
JOB = {"jobType": "echo", "input": {"n": 1}}


async def create(client: Client, name: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(PATH, json={"name": name, "job": JOB, **fields}, headers=auth())
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def until(check: Any, seconds: float = 15.0) -> Any:
    """Poll `check()` (a coroutine function) until it returns something truthy."""
    async with asyncio.timeout(seconds):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


async def test_each_tick_gives_one_job_with_three_worker_replicas(
    client: Client, make_client: MakeClient, db: asyncpg.Connection[Any]
) -> None:
    for _ in range(3):
        await make_client(role="worker")
    schedules = [await create(client, f"every-second-{i}", everySeconds=1) for i in range(10)]

    async def ticks_seen() -> bool:
        least = await db.fetchval(
            "SELECT min(n) FROM (SELECT count(j.id) AS n FROM content_job_schedules s"
            " LEFT JOIN content_jobs j ON j.schedule_id = s.id GROUP BY s.id) t"
        )
        return bool(least >= 4)

    await until(ticks_seen)
    rows = await db.fetch(
        "SELECT schedule_id, schedule_tick, count(*) AS jobs, min(source_task_id) AS task"
        " FROM content_jobs GROUP BY schedule_id, schedule_tick"
    )
    assert rows and all(row["jobs"] == 1 for row in rows), "a tick gave more than one job"
    names = {str(s["id"]): s["name"] for s in schedules}
    for row in rows:
        tick = row["schedule_tick"].astimezone(UTC).isoformat().replace("+00:00", "Z")
        assert row["task"] == f"schedule:{names[str(row['schedule_id'])]}:{tick}"
    jobs = await (await client.get("/api/companies/acme/content-jobs", headers=auth())).json()
    assert {job["scheduleId"] for job in jobs} <= set(names)


async def test_missed_ticks_give_one_catch_up_job(
    client: Client, make_client: MakeClient, db: asyncpg.Connection[Any]
) -> None:
    schedule = await create(client, "hourly-ish", everySeconds=60)
    await db.execute(
        "UPDATE content_job_schedules SET next_run_at = now() - interval '1 hour'"
    )  # an hour of ticks missed: no worker ran
    await make_client(role="worker")
    job = await until(lambda: db.fetchrow("SELECT * FROM content_jobs"))
    assert str(job["schedule_id"]) == schedule["id"]
    after = await until(
        lambda: db.fetchrow(
            "SELECT next_run_at, last_run_at, now() AS now FROM content_job_schedules"
            " WHERE last_run_at IS NOT NULL"
        )
    )
    assert 0 < (after["next_run_at"] - after["now"]).total_seconds() <= 60  # from now on
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 1


class CountingSchedules(ScheduleStore):
    """The store with its scheduler-facing queries counted."""

    def __init__(self, pool: asyncpg.Pool[Any], notifier: Notifier) -> None:
        super().__init__(pool, notifier)
        self.queries = 0

    async def seconds_to_next(self) -> float | None:
        self.queries += 1
        return await super().seconds_to_next()

    async def fire_due(self, limit: int, plan: Plan) -> list[Fired]:
        self.queries += 1
        return await super().fire_due(limit, plan)


@pytest.fixture
async def schedules(settings: Settings) -> AsyncIterator[CountingSchedules]:
    pool = await create_pool(settings.database_url, 10)
    notifier = Notifier(pool)
    notifier.start()
    yield CountingSchedules(pool, notifier)
    await notifier.close()
    await pool.close()


async def test_the_scheduler_sleeps_until_the_earliest_tick_and_wakes_on_a_change(
    schedules: CountingSchedules,
    settings: Settings,
    job_types: JobTypes,
    store: Any,
    db: asyncpg.Connection[Any],
) -> None:
    for i in range(50):  # far-off ticks cost nothing while the scheduler waits
        await schedules.create("acme", spec(f"daily-{i}", Timing("0 3 * * *", None)), far())
    scheduler = Scheduler(schedules, settings, job_types)
    listener = Listener(settings.listen_url, store, on_schedules=scheduler.wake)
    listener.start()
    await listener.connected.wait()
    scheduler.start()
    try:
        await asyncio.sleep(1.5)  # the promise is about what does not happen meanwhile
        assert schedules.queries <= 4, "the scheduler polled while no tick was due"
        before = schedules.queries
        soon = datetime.now(UTC)
        await schedules.create("acme", spec("now", Timing(None, 3600)), soon)  # NOTIFY
        await until(lambda: db.fetchval("SELECT count(*) FROM content_jobs"), 5)
        assert schedules.queries - before <= 6
    finally:
        await scheduler.close()
        await listener.close()


async def test_ten_thousand_due_schedules_each_give_one_job_across_two_schedulers(
    schedules: CountingSchedules,
    settings: Settings,
    job_types: JobTypes,
    db: asyncpg.Connection[Any],
) -> None:
    await db.execute(
        "INSERT INTO content_job_schedules (id, company_id, name, every_seconds, job, next_run_at)"
        " SELECT gen_random_uuid(), 'acme', 's' || i, 3600, '{\"jobType\": \"echo\"}',"
        " now() - interval '1 second' FROM generate_series(1, 10000) AS i"
    )
    first, second = (Scheduler(schedules, settings, job_types) for _ in range(2))
    started = time.perf_counter()
    handled = await asyncio.gather(first.fire_due(), second.fire_due())
    assert sum(handled) == 10_000
    assert time.perf_counter() - started < 30
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 10_000
    assert await db.fetchval("SELECT count(DISTINCT schedule_id) FROM content_jobs") == 10_000
    assert (
        await db.fetchval("SELECT count(*) FROM content_job_schedules WHERE next_run_at <= now()")
        == 0
    )


def spec(name: str, timing: Timing) -> ScheduleSpec:
    return ScheduleSpec(name, timing, JOB, paused=False)


def far() -> datetime:
    return datetime(2100, 1, 1, tzinfo=UTC)
