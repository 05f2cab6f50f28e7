"""New jobs go into few pages of `content_jobs`, not into the small gaps that finished jobs left in
every page (migration 0017's fillfactor): scattered over thousands of pages, a backlog's claims
read pages that were no longer cached, and the claim ran at 0.74x beside a million finished
jobs (BENCHMARKS.md, "Flat with history")."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg

from bench.cluster import QUERIES as BENCH_QUERIES

FINISHED = 20_000
COMPANIES = 10
BACKLOG = 2_000
#: rows of a new job per page, at most 90 % full (a job's row is ~260 bytes)
PER_PAGE = 25


async def test_a_backlog_fills_pages_of_its_own(db: asyncpg.Connection[Any]) -> None:
    now = datetime.datetime.now(datetime.UTC)
    await db.execute(
        BENCH_QUERIES["history_fill"], FINISHED, COMPANIES,
        now - datetime.timedelta(days=1), now - datetime.timedelta(minutes=1), 0,
    )  # fmt: skip
    await db.execute("VACUUM content_jobs")  # the free space map knows every page's gap
    boundary = await db.fetchval(BENCH_QUERIES["history_id_floor"], None)
    await db.execute(BENCH_QUERIES["history_backlog"], BACKLOG, COMPANIES)

    pages = await db.fetchval(BENCH_QUERIES["pages_of_jobs_from"], boundary)
    # ~80 pages; in the gaps of the finished jobs' pages (no reserve) they took 308
    assert pages <= 2 * BACKLOG // PER_PAGE, pages
