"""Schedules in Postgres: the owner of `content_job_schedules` and of the jobs ticks insert.

A due tick's job is inserted in the transaction that claimed its schedule (`FOR UPDATE SKIP
LOCKED`) and moved the schedule's `next_run_at` past now, so a tick is submitted once
however many replicas look at once, and a crash before the commit leaves the tick due. The
unique index on (schedule, tick) stands behind that: no path can insert a tick twice.
Every change of a schedule is announced (after its commit) on the schedules channel, which
wakes the schedulers that sleep until the earliest tick.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from service.db.queries import QUERIES
from service.db.store import new_job_id
from service.domain.jobs import NewJob
from service.domain.schedules import Schedule, ScheduleSpec
from service.events.notifier import Notifier


@dataclasses.dataclass(frozen=True)
class Fire:
    """What a due schedule's tick does: submit `job` (None: nothing, e.g. its body no longer
    passes) and move on to `next_run_at`."""

    job: NewJob | None
    tick: datetime
    next_run_at: datetime


@dataclasses.dataclass(frozen=True)
class Fired:
    """A tick that was handled: its schedule, its job's id (None when none was inserted) and
    the database's time then (how late the tick was)."""

    schedule: Schedule
    tick: datetime
    job_id: uuid.UUID | None
    at: datetime


#: decides each due schedule's tick, given the database's time
Plan = Callable[[Schedule, datetime], Fire]


class ScheduleStore:
    def __init__(self, pool: asyncpg.Pool[Any], notifier: Notifier) -> None:
        self.pool = pool
        self.notifier = notifier

    async def create(
        self, company_id: str, spec: ScheduleSpec, next_run_at: datetime | None
    ) -> Schedule | None:
        """The new schedule; None when the company has one of that name already."""
        row = await self.pool.fetchrow(
            QUERIES["insert_schedule"],
            uuid.uuid4(),
            company_id,
            spec.name,
            spec.timing.cron,
            spec.timing.every_seconds,
            spec.timing.timezone,
            spec.job,
            spec.paused,
            next_run_at,
        )
        return self._changed(row)

    async def of_company(self, company_id: str) -> list[Schedule]:
        rows = await self.pool.fetch(QUERIES["list_schedules"], company_id)
        return [Schedule.from_row(row) for row in rows]

    async def get(self, company_id: str, schedule_id: uuid.UUID) -> Schedule | None:
        row = await self.pool.fetchrow(QUERIES["get_schedule"], schedule_id, company_id)
        return Schedule.from_row(row) if row else None

    async def update(
        self,
        company_id: str,
        schedule_id: uuid.UUID,
        spec: ScheduleSpec,
        next_run_at: datetime | None,
    ) -> Schedule | None:
        row = await self.pool.fetchrow(
            QUERIES["update_schedule"],
            schedule_id,
            company_id,
            spec.timing.cron,
            spec.timing.every_seconds,
            spec.timing.timezone,
            spec.job,
            spec.paused,
            next_run_at,
        )
        return self._changed(row)

    async def delete(self, company_id: str, schedule_id: uuid.UUID) -> bool:
        deleted = await self.pool.fetchval(QUERIES["delete_schedule"], schedule_id, company_id)
        if deleted is not None:
            self.notifier.schedules_changed()
        return deleted is not None

    async def seconds_to_next(self) -> float | None:
        """Seconds until the earliest tick (negative: one is due), None without schedules."""
        seconds: float | None = await self.pool.fetchval(QUERIES["next_schedule_in"])
        return seconds

    async def fire_due(self, limit: int, plan: Plan) -> list[Fired]:
        """Up to `limit` due schedules, each tick's job inserted and each schedule moved on
        as `plan` says, in one transaction; what was done, per schedule."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(QUERIES["claim_due_schedules"], limit)
            if not rows:
                return []
            now: datetime = rows[0]["db_now"]
            due = [Schedule.from_row(row) for row in rows]
            fires = [plan(schedule, now) for schedule in due]
            job_ids = await _insert_jobs(conn, due, fires)
            await conn.execute(
                QUERIES["advance_schedules"],
                [schedule.id for schedule in due],
                [fire.next_run_at for fire in fires],
                [schedule.id in job_ids for schedule in due],
            )
        for job_id, seq in job_ids.values():
            self.notifier.job_changed(job_id, seq)
        if job_ids:
            self.notifier.job_queued()
        return [
            Fired(schedule, fire.tick, job_ids.get(schedule.id, (None, 0))[0], now)
            for schedule, fire in zip(due, fires, strict=True)
        ]

    def _changed(self, row: asyncpg.Record | None) -> Schedule | None:
        if row is None:
            return None
        self.notifier.schedules_changed()
        return Schedule.from_row(row)


async def _insert_jobs(
    conn: Any, due: list[Schedule], fires: list[Fire]
) -> dict[uuid.UUID, tuple[uuid.UUID, int]]:
    """The ticks' jobs in one statement: {schedule id: (job id, its event seq)}."""
    items = [(s, f, f.job) for s, f in zip(due, fires, strict=True) if f.job is not None]
    if not items:
        return {}
    rows = await conn.fetch(
        QUERIES["insert_scheduled_jobs"],
        [new_job_id() for _ in items],
        [job.company_id for _, _, job in items],
        [job.job_type for _, _, job in items],
        [job.input for _, _, job in items],
        [job.source_task_id for _, _, job in items],
        [job.max_attempts for _, _, job in items],
        [job.priority for _, _, job in items],
        [job.delay_seconds for _, _, job in items],
        [job.callback_url for _, _, job in items],
        [schedule.id for schedule, _, _ in items],
        [fire.tick for _, fire, _ in items],
    )
    return {row["schedule_id"]: (row["id"], row["event_seq"]) for row in rows}
