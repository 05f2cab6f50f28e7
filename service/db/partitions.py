"""Event partitions: `content_job_events` has one partition per UTC day of job creation
(job ids are UUIDv7, so a day's jobs are one range of ids), made ahead of time here and
dropped by prune once their day is past retention and none of its jobs is left.

Made a week ahead, checked hourly by every worker, so a missed hour or a restart costs
nothing; if a day still finds no partition its events go to the default partition and
nothing is lost, they are only pruned row by row instead of dropped whole.

Adding and dropping partitions must never hold up the writers of events (every submit and
state change writes one). The SQL functions (migration 0008) wait at most 200 ms for their
locks and then give way with `lock_not_available`; here such a change is retried with
backoff, and after RETRY_BUDGET_SECONDS left to the next check or prune: a week of
partitions ahead, and past days that stay a while longer, make a delay harmless.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import structlog

from service.db.pool import DB_ERRORS
from service.db.queries import QUERIES

log = structlog.get_logger(__name__)

#: days of partitions kept ready beyond today
DAYS_AHEAD = 7
#: how often a worker checks that they exist
CHECK_INTERVAL_SECONDS = 3600.0
#: the pause after a change first gave way to a lock; doubled after each, up to the maximum
RETRY_FIRST_DELAY = 0.1
RETRY_MAX_DELAY = 5.0
#: how long one check or prune keeps retrying before it leaves the change to the next one
RETRY_BUDGET_SECONDS = 60.0

T = TypeVar("T")


async def add_ahead(pool: asyncpg.Pool[Any]) -> int:
    """Add the partitions missing from yesterday to DAYS_AHEAD days on; how many were
    (0 as well when their locks stayed busy for RETRY_BUDGET_SECONDS: the next check adds them)."""
    added = await _giving_way(
        "add", lambda: pool.fetchval(QUERIES["add_event_partitions"], DAYS_AHEAD)
    )
    if added:
        log.info("event_partitions_added", count=added, days_ahead=DAYS_AHEAD)
    return int(added or 0)


async def drop_past(pool: asyncpg.Pool[Any], cutoff: datetime) -> list[str]:
    """Drop the partitions of days that ended before `cutoff` with no job left; their names.

    Each is detached first (the only step that locks the events table, briefly), then dropped
    in a transaction of its own; a table detached by an earlier, interrupted run is dropped
    too. A step whose locks stay busy is left to the next prune (logged)."""
    await _giving_way("detach", lambda: pool.fetch(QUERIES["detach_event_partitions"], cutoff))
    rows = await _giving_way(
        "drop", lambda: pool.fetch(QUERIES["drop_detached_event_partitions"], cutoff)
    )
    return [row["name"] for row in rows or []]


async def keep_ahead_forever(pool: asyncpg.Pool[Any]) -> None:
    """A worker's background task: add_ahead now and every CHECK_INTERVAL_SECONDS."""
    while True:
        try:
            await add_ahead(pool)
        except DB_ERRORS as exc:
            log.warning("event_partitions_check_failed", error=str(exc))
        await asyncio.sleep(CHECK_INTERVAL_SECONDS)


async def _giving_way(change: str, attempt: Callable[[], Awaitable[T]]) -> T | None:
    """`attempt()` again, after a growing pause, each time it gave way to a busy lock; None
    once RETRY_BUDGET_SECONDS have gone by. Jittered, so replicas do not retry in step."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RETRY_BUDGET_SECONDS
    delay = RETRY_FIRST_DELAY
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except asyncpg.LockNotAvailableError:
            pause = delay * random.uniform(0.5, 1.0)
            if loop.time() + pause > deadline:
                log.warning("event_partitions_left_for_later", change=change, tries=tries)
                return None
            log.warning("event_partitions_lock_busy", change=change, tries=tries, retry_in=pause)
            await asyncio.sleep(pause)
            delay = min(delay * 2, RETRY_MAX_DELAY)
