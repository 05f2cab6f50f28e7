"""Prune: deleting a million events, before and after partitioning the events table.

One day's worth of finished jobs (`prune_jobs`, with `prune_events_per_job` events each) is
written 40 days in the past, then pruned at 30 days twice, in the same run:
- **before**: a copy of the rows in the shape before migration 0005 (one events table,
  deleted by its foreign key's cascade with each job), pruned the way prune did then:
  batches of 500 jobs, each locked and deleted with its events;
- **after**: the service's `prune()` on the partitioned table: the same batches of jobs
  (their events untouched), then the day's partition dropped whole.
The copy lacks the real table's asset and callback foreign keys, so "before" is if anything
flattered. The events' share is taken apart: "before" is also run on a copy of the jobs
alone (the cascade then finds nothing), and the difference is what deleting the million
events row by row cost; "after", it is the partition drop, timed by prune itself. One run:
the fill takes longer than the prunes.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from bench.cluster import QUERIES as BENCH_QUERIES
from bench.cluster import Cluster
from bench.options import Options
from bench.stats import fmt
from service.assets.storage.postgres import PostgresStorage
from service.assets.store import AssetStore
from service.db.pool import create_pool
from service.db.prune import BATCH_SIZE, prune

RETENTION = datetime.timedelta(days=30)


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    await cluster.reset()
    db = cluster.db()
    day = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=40)
    await db.execute("SELECT content_job_events_add_partitions($1, $1)", day)
    await db.execute(BENCH_QUERIES["prune_fill_jobs"], options.prune_jobs, day)
    await db.execute(BENCH_QUERIES["prune_fill_events"], options.prune_events_per_job)
    events: int = await db.fetchval(BENCH_QUERIES["count_events"])
    await db.execute("VACUUM ANALYZE content_jobs, content_job_events")
    await db.execute(BENCH_QUERIES["prune_old_shape"])
    await db.execute("VACUUM ANALYZE bench_old_jobs, bench_old_events")

    cutoff = await db.fetchval("SELECT now() - $1::interval", RETENTION)
    old_jobs, before = await _old_prune(db, cutoff)
    await db.execute(BENCH_QUERIES["prune_old_shape"])
    await db.execute("TRUNCATE bench_old_events")
    await db.execute("VACUUM ANALYZE bench_old_jobs, bench_old_events")
    _, before_jobs_only = await _old_prune(db, cutoff)

    pool = await create_pool(cluster.dsn, 2)
    try:
        assets = AssetStore(pool, PostgresStorage(pool))
        began = time.perf_counter()
        result = await prune(pool, assets, RETENTION)
        after = time.perf_counter() - began
    finally:
        await pool.close()
    left: int = await db.fetchval(BENCH_QUERIES["count_events"])
    return {
        "jobs": old_jobs,
        "events": events,
        "before_seconds": round(before, 2),
        "before_events_seconds": round(before - before_jobs_only, 2),
        "after_seconds": round(after, 2),
        "after_events_seconds": round(result.drop_seconds, 4),
        "after_jobs": result.jobs,
        "partitions_dropped": len(result.partitions),
        "events_left": left,
    }


async def _old_prune(db: Any, cutoff: Any) -> tuple[int, float]:
    """Prune the old-shape copy the old way; (jobs deleted, seconds). Drops the copy."""
    began = time.perf_counter()
    jobs = 0
    while deleted := await db.fetchval(BENCH_QUERIES["prune_old_batch"], cutoff, BATCH_SIZE):
        jobs += deleted
    seconds = time.perf_counter() - began
    await db.execute(BENCH_QUERIES["prune_old_drop"])
    return jobs, seconds


def rows(result: dict[str, Any]) -> list[list[str]]:
    events = ""
    if "before_events_seconds" in result:  # results files from before the split lack it
        events = (
            f"events: {fmt(result['before_events_seconds'])} s row by row before partitioning,"
            f" {fmt(result['after_events_seconds'] * 1000)} ms dropping their partition after; "
        )
    return [
        [
            "prune",
            f"{fmt(result['events'])} events of {fmt(result['jobs'])} jobs",
            f"{events}whole prune (jobs in batches of 500): {fmt(result['before_seconds'])} s"
            f" before, {fmt(result['after_seconds'])} s after; {result['events_left']} events"
            " left",
            "",
        ]
    ]
