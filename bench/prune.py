"""Prune: deleting a million events, before and after partitioning the events table.

One day's worth of finished jobs (`prune_jobs`, with `prune_events_per_job` events each) is
written 40 days in the past, then pruned at 30 days twice, in the same run:
- **before**: a copy of the rows in the shape before migration 0005 (one events table,
  deleted by its foreign key's cascade with each job), pruned the way prune did then:
  batches of 500 jobs, each locked and deleted with its events;
- **after**: the service's `prune()` on the partitioned table: the same batches of jobs
  (their events untouched), then the day's partition dropped whole.
The copy lacks the real table's asset and callback foreign keys, so "before" is if anything
flattered. One run: the fill takes longer than the prunes.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from bench.cluster import QUERIES as BENCH_QUERIES
from bench.cluster import Cluster
from bench.options import Options
from bench.stats import fmt
from service.assets import AssetStore
from service.db import create_pool
from service.prune import BATCH_SIZE, prune
from service.storage.postgres import PostgresStorage

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
    began = time.perf_counter()
    old_jobs = 0
    while deleted := await db.fetchval(BENCH_QUERIES["prune_old_batch"], cutoff, BATCH_SIZE):
        old_jobs += deleted
    before = time.perf_counter() - began
    await db.execute(BENCH_QUERIES["prune_old_drop"])

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
        "after_seconds": round(after, 2),
        "after_jobs": result.jobs,
        "partitions_dropped": len(result.partitions),
        "events_left": left,
        "speedup": round(before / after, 1),
    }


def rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            "prune",
            f"{fmt(result['events'])} events of {fmt(result['jobs'])} jobs",
            f"before partitioning {fmt(result['before_seconds'])} s (cascade, row by row);"
            f" after {fmt(result['after_seconds'])} s (jobs in batches,"
            f" {result['partitions_dropped']} partition dropped, {result['events_left']} events"
            f" left) = {result['speedup']:.1f}x faster",
            "",
        ]
    ]
