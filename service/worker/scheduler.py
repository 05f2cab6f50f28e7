"""The scheduler: submits each due tick of every schedule, on every worker replica at once.

No leader: each replica claims due schedules in batches (`FOR UPDATE SKIP LOCKED`) and, in
the same transaction, inserts their ticks' jobs and moves them on (`ScheduleStore.fire_due`),
so a tick gives one job however many replicas run this; the unique index on (schedule,
tick) backs that up. A tick missed while no worker ran gives one job when one runs again
(labelled with the first missed tick), and the schedule moves to its first tick after now.

Between ticks the scheduler sleeps until the earliest `nextRunAt` (one query per wake, not
one per schedule per second), woken early by the schedules channel when a schedule is
created, changed or deleted, and at most `MAX_SLEEP_SECONDS` in any case, in case a NOTIFY
was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog
from aiohttp import web

from service.db.pool import DB_ERRORS
from service.db.schedules import Fire, Fired, ScheduleStore
from service.domain.errors import ClientError
from service.domain.schedules import Schedule, tick_job
from service.jobtypes import JobTypes
from service.metrics import Metrics
from service.settings import Settings

log = structlog.get_logger(__name__)

#: the longest sleep, however far the next tick (a lost NOTIFY costs at most this)
MAX_SLEEP_SECONDS = 60.0
#: due schedules claimed per transaction
BATCH_SIZE = 100
#: the wait before looking again when due schedules are held by another replica's batch
#: (or the database is away)
BUSY_RETRY_SECONDS = 0.05
DB_RETRY_SECONDS = 1.0
#: where a schedule goes when its next tick cannot be computed (its zone vanished)
STUCK_RETRY = timedelta(hours=1)


class Scheduler:
    def __init__(
        self,
        schedules: ScheduleStore,
        settings: Settings,
        job_types: JobTypes,
        metrics: Metrics | None = None,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._schedules = schedules
        self._settings = settings
        self._job_types = job_types
        self._metrics = metrics
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look again now: a schedule changed."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a change during the read wakes us again
            try:
                fired = await self.fire_due()
                delay = await self._schedules.seconds_to_next()
            except DB_ERRORS as exc:
                log.warning("scheduler_database_error", error=str(exc) or type(exc).__name__)
                fired, delay = 0, DB_RETRY_SECONDS
            except Exception:  # the loop must outlive any one round: it is every tick's
                log.exception("scheduler_round_failed")
                fired, delay = 0, DB_RETRY_SECONDS
            delay = MAX_SLEEP_SECONDS if delay is None else min(delay, MAX_SLEEP_SECONDS)
            if delay <= 0 and not fired:
                delay = BUSY_RETRY_SECONDS  # due, but claimed by another replica right now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self._wake.wait()

    async def fire_due(self) -> int:
        """Submit every due tick, a batch per transaction; how many schedules were handled."""
        handled = 0
        while True:
            fired = await self._schedules.fire_due(self._batch_size, self._plan)
            handled += len(fired)
            for item in fired:
                self._count(item)
            if len(fired) < self._batch_size:
                return handled

    def _plan(self, schedule: Schedule, now: datetime) -> Fire:
        assert schedule.next_run_at is not None  # only schedules with a tick are due
        tick = schedule.next_run_at
        try:
            next_run_at = schedule.timing.next_after(now, due=tick)
        except Exception as exc:  # a zone gone from the system's data: try again later
            log.warning("schedule_next_tick_failed", schedule_id=str(schedule.id), error=str(exc))
            next_run_at = now + STUCK_RETRY
        try:
            job = tick_job(schedule, tick, self._settings, self._job_types)
        except ClientError as exc:
            log.warning("schedule_job_invalid", schedule_id=str(schedule.id), error=exc.message)
            job = None
        return Fire(job, tick, next_run_at)

    def _count(self, fired: Fired) -> None:
        if fired.job_id is None:
            return
        lateness = (fired.at - fired.tick).total_seconds()
        log.debug(
            "schedule_tick",
            schedule_id=str(fired.schedule.id),
            job_id=str(fired.job_id),
            tick=fired.tick.isoformat(),
            late_seconds=round(lateness, 3),
        )
        if self._metrics is not None:
            self._metrics.tick_submitted(lateness)


#: the app's scheduler (worker roles)
SCHEDULER = web.AppKey("scheduler", Scheduler)
