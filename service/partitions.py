"""Event partitions: `content_job_events` has one partition per UTC day of job creation
(job ids are UUIDv7, so a day's jobs are one range of ids), made ahead of time here and
dropped by prune once their day is past retention and none of its jobs is left.

Made a week ahead, checked hourly by every worker, so a missed hour or a restart costs
nothing; if a day still finds no partition its events go to the default partition and
nothing is lost, they are only pruned row by row instead of dropped whole.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import structlog

from service.db import DB_ERRORS
from service.queries import QUERIES

log = structlog.get_logger(__name__)

#: days of partitions kept ready beyond today
DAYS_AHEAD = 7
#: how often a worker checks that they exist
CHECK_INTERVAL_SECONDS = 3600.0


async def add_ahead(pool: asyncpg.Pool[Any]) -> int:
    """Add the partitions missing from yesterday to DAYS_AHEAD days on; how many were."""
    added: int = await pool.fetchval(QUERIES["add_event_partitions"], DAYS_AHEAD)
    if added:
        log.info("event_partitions_added", count=added, days_ahead=DAYS_AHEAD)
    return added


async def keep_ahead_forever(pool: asyncpg.Pool[Any]) -> None:
    """A worker's background task: add_ahead now and every CHECK_INTERVAL_SECONDS."""
    while True:
        try:
            await add_ahead(pool)
        except DB_ERRORS as exc:
            log.warning("event_partitions_check_failed", error=str(exc))
        await asyncio.sleep(CHECK_INTERVAL_SECONDS)
