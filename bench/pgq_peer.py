"""The second peer: pgqueuer (Python + asyncpg, the closest to this stack) running a no-op
entrypoint, as a consumer process of its own.

`python -m bench.pgq_peer DSN BATCH_SIZE` runs one QueueManager until SIGTERM. The benchmark
enqueues the jobs in bulk (one `enqueue` call with lists) from its own process and reads the
outcome from `pgqueuer_log`, where pgqueuer records each job's pick and its success.
pgqueuer's periodic folding of that log into its statistics table is turned off so the rows
stay to be read (it runs every 30 s otherwise: the runs here are shorter).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import asyncpg

#: pgqueuer's own default, and the larger batch it does best with
BATCH_SIZES = (10, 100)


async def apply_schema(dsn: str) -> None:
    # imported here: the bench extra may be missing where only the smoke tests run
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def enqueue_jobs(dsn: str, count: int) -> None:
    """`count` no-op jobs in one call, like our bulk insert."""
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).enqueue(["noop"] * count, [None] * count, [0] * count)
    finally:
        await conn.close()


async def work(dsn: str, batch_size: int) -> None:
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.models import Job

    conn = await asyncpg.connect(dsn)
    manager = QueueManager(Queries(AsyncpgDriver(conn)))

    @manager.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    await manager.run(batch_size=batch_size, log_aggregation_interval=timedelta(0))


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1], int(sys.argv[2])))
