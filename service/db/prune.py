"""Retention: delete terminal jobs finished longer ago than a duration, with everything
they left behind (events, asset rows and stored objects).

Jobs go row by row; their events do not: the events table is partitioned by the day a job
was created (`service/db/partitions.py`), and a day's partition is dropped whole once the day
is past the cutoff and none of its jobs is left, which costs the same for a million events
as for one. Only events in the default partition (jobs from before partitioning) are
deleted row by row, with their jobs.

Safe while replicas serve: only terminal jobs are touched (no worker writes
them again), each batch is one short transaction over rows locked with
`SKIP LOCKED` (concurrent prunes share the work rather than wait), and a
reader that loses the race for a pruned asset gets a plain 404.
"""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from service.assets.storage import make_storage
from service.assets.store import AssetStore
from service.db import partitions
from service.db.pool import create_pool
from service.db.queries import QUERIES
from service.settings import Settings

log = structlog.get_logger(__name__)

BATCH_SIZE = 500
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`45s`, `90m`, `12h` or `30d`: one whole number and one unit, nothing else."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 90m or 45s")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


@dataclasses.dataclass(frozen=True)
class PruneResult:
    #: jobs finished before this (database clock) were deleted
    cutoff: datetime
    jobs: int
    assets: int
    #: the events table's day partitions dropped
    partitions: list[str] = dataclasses.field(default_factory=list)
    #: how long dropping them took (a million events or one: about the same; longer if the
    #: events table's lock was busy and the drop waited its turn, see service/db/partitions.py)
    drop_seconds: float = 0.0


async def prune(
    pool: asyncpg.Pool[Any],
    assets: AssetStore,
    older_than: timedelta,
    batch_size: int = BATCH_SIZE,
) -> PruneResult:
    """Delete in batches until none is left (the cutoff is fixed once, so this ends), then
    drop the event partitions whose day has no job left."""
    cutoff: datetime = await pool.fetchval(QUERIES["prune_cutoff"], older_than)
    await partitions.add_ahead(pool)
    jobs = deleted_assets = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(QUERIES["lock_expired_jobs"], cutoff, batch_size)
            job_ids = [row["id"] for row in rows]
            if job_ids:
                deleted_assets += await assets.delete_for_jobs(conn, job_ids)
                await conn.execute(QUERIES["delete_default_events"], job_ids)
                await conn.execute(QUERIES["delete_jobs"], job_ids)
        jobs += len(job_ids)
        if job_ids:
            log.info("prune_batch", jobs=len(job_ids), total_jobs=jobs, cutoff=cutoff.isoformat())
        if len(job_ids) < batch_size:
            break
    began = time.perf_counter()
    dropped = await partitions.drop_past(pool, cutoff)
    seconds = time.perf_counter() - began
    if dropped:
        log.info(
            "event_partitions_dropped",
            partitions=dropped,
            cutoff=cutoff.isoformat(),
            duration_ms=round(seconds * 1000, 1),
        )
    return PruneResult(cutoff, jobs, deleted_assets, dropped, seconds)


async def run(settings: Settings, older_than: timedelta, batch_size: int) -> PruneResult:
    """One prune with a pool and storage of its own (the `content-jobs prune` command)."""
    # two connections: the batch's transaction, and the postgres storage deleting objects
    pool = await create_pool(settings.database_url, 2)
    try:
        assets = AssetStore(pool, await make_storage(settings, pool))
        try:
            return await prune(pool, assets, older_than, batch_size)
        finally:
            await assets.close()
    finally:
        await pool.close()
