"""A job's state changes add index entries only where a read needs them (migration 0018): a
claim and a finish are never HOT updates, so every index whose predicate the new row version
meets gets an entry, and each entry is Postgres's work on the path of every job (BENCHMARKS.md,
"Execution"). Jobs without an idempotency key add nothing to the key's index, and a lease
renewal, which changes only the expiry, can stay on its page (a HOT update)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from bench.cluster import QUERIES as BENCH_QUERIES
from service.db.pool import init_connection
from service.db.queries import QUERIES

JOBS = 2_000
CLAIM = 100
#: an empty B-tree: its metapage and at most one leaf
EMPTY_INDEX_BYTES = 2 * 8192


async def claim(db: asyncpg.Connection[Any], limit: int) -> list[asyncpg.Record]:
    return await db.fetch(QUERIES["claim_jobs"], "w", 60.0, limit, None, [], 0, [], [])


async def test_jobs_without_a_key_add_nothing_to_the_keys_index(
    db: asyncpg.Connection[Any],
) -> None:
    await init_connection(db)  # the service's jsonb codec
    await db.fetch(BENCH_QUERIES["insert_jobs"], JOBS, "echo", [{"n": 1}])
    while running := await claim(db, CLAIM):
        n = len(running)
        await db.fetch(
            QUERIES["finish_jobs"],
            [r["id"] for r in running], [r["run_token"] for r in running], ["done"] * n,
            [{"n": 1}] * n, [None] * n, [None] * n,
        )  # fmt: skip
    assert await db.fetchval("SELECT count(*) FROM content_jobs WHERE status = 'done'") == JOBS
    # a full index of (company, key) held 3 entries per job by now: ~120 KiB
    size = await db.fetchval("SELECT pg_relation_size('content_jobs_idempotency')")
    assert size <= EMPTY_INDEX_BYTES, size

    keyed = await db.fetchrow(
        QUERIES["insert_job"], *_keyed_job("k-1"),
    )  # fmt: skip
    assert keyed is not None
    again = await db.fetchrow(QUERIES["insert_job"], *_keyed_job("k-1"))
    assert again is None  # the key is still unique per company
    other = await db.fetchrow(QUERIES["insert_job"], *_keyed_job("k-1", company="other"))
    assert other is not None


async def test_a_lease_renewal_can_stay_on_its_page(db: asyncpg.Connection[Any]) -> None:
    await init_connection(db)
    await db.fetch(BENCH_QUERIES["insert_jobs"], CLAIM, "echo", [{"n": 1}])
    await db.execute("VACUUM content_jobs")  # the claim's old versions leave room to renew in
    running = await claim(db, CLAIM)
    assert len(running) == CLAIM
    await db.execute("VACUUM content_jobs")
    async with db.transaction():
        renewed = await db.fetch(
            QUERIES["renew_leases"], [r["id"] for r in running], [r["run_token"] for r in running],
            120.0,
        )  # fmt: skip
        hot = await db.fetchval(
            "SELECT pg_stat_get_xact_tuples_hot_updated('content_jobs'::regclass)"
        )
    assert len(renewed) == CLAIM
    # as many as their pages have room for (39 of 100 here); with the expiry indexed (before
    # 0018) none could be: every renewal was an entry in every index of running jobs
    assert hot >= CLAIM // 10, hot


def _keyed_job(key: str, company: str = "acme") -> tuple[Any, ...]:
    return (
        uuid.uuid4(), company, "echo", {"n": 1}, None, 3, key, "hash", 0, None, None,
        None, None, None,
    )  # fmt: skip
