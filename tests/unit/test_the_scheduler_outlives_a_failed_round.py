"""The scheduler keeps going after a round that failed for any reason (not only the
database being away): one bad round must not end every schedule's ticks on the replica."""

from __future__ import annotations

import asyncio
from typing import Any

from service.db.schedules import Fired, Plan
from service.jobtypes import JobTypes
from service.settings import Settings
from service.worker import scheduler as scheduler_module
from service.worker.scheduler import Scheduler


class FlakySchedules:
    """A store whose first round raises something unexpected; later rounds work."""

    def __init__(self) -> None:
        self.rounds = 0
        self.second_round = asyncio.Event()

    async def fire_due(self, limit: int, plan: Plan) -> list[Fired]:
        self.rounds += 1
        if self.rounds == 1:
            raise RuntimeError("a bug in one round")
        self.second_round.set()
        return []

    async def seconds_to_next(self) -> float | None:
        return None


async def test_a_round_that_raises_is_retried(monkeypatch: Any, job_types: JobTypes) -> None:
    monkeypatch.setattr(scheduler_module, "DB_RETRY_SECONDS", 0.01)
    schedules = FlakySchedules()
    settings = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "AUTH_JWT_SECRET": "s" * 32})
    scheduler = Scheduler(schedules, settings, job_types)  # type: ignore[arg-type]
    scheduler.start()
    try:
        async with asyncio.timeout(5):
            await schedules.second_round.wait()
    finally:
        await scheduler.close()
