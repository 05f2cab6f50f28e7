"""A company's finished jobs do not make its task's list or its overview read more: with
thousands of them in the table, a page of a task's jobs and the counts of the overview touch
a few index pages (migration 0016), where they read a heap page per finished job before.
Buffers, not time: what a statement reads does not depend on how busy the machine is."""

from __future__ import annotations

import datetime
import json
from typing import Any

import asyncpg

from bench.cluster import QUERIES as BENCH_QUERIES
from service.db.pool import init_connection
from service.db.queries import QUERIES

JOBS = 20_000
COMPANIES = 10
COMPANY = "company-0"


async def buffers(db: asyncpg.Connection[Any], sql: str, *args: Any) -> tuple[int, str]:
    """Shared buffers (hit + read) the statement touched, and its plan as text."""
    raw = await db.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args)
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"], json.dumps(plan)


async def test_a_tasks_list_and_the_overview_skip_the_finished_jobs(
    db: asyncpg.Connection[Any],
) -> None:
    await init_connection(db)
    # the test server commits asynchronously, and VACUUM marks no page all-visible (so no
    # index-only scan) while its rows' commit may still be unflushed: this one waits for it
    await db.execute("SET synchronous_commit = on")
    now = datetime.datetime.now(datetime.UTC)
    # finished jobs of the last day: each task has four, each company 2,000 (bench/history.py)
    await db.execute(
        BENCH_QUERIES["history_fill"], JOBS, COMPANIES,
        now - datetime.timedelta(days=1), now - datetime.timedelta(minutes=1), 0,
    )  # fmt: skip
    await db.execute("VACUUM ANALYZE content_jobs")

    page, plan = await buffers(
        db, QUERIES["list_jobs"], COMPANY, None, None, "task-7", None, None, 51, None
    )
    rows = await db.fetch(QUERIES["list_jobs"], COMPANY, None, None, "task-7", None, None, 51, None)
    assert len(rows) == 4
    assert page < 20, plan  # a walk of the company's 2,000 jobs reads hundreds of pages

    counted, plan = await buffers(db, QUERIES["job_overview"], COMPANY)
    total = sum(r["jobs"] for r in await db.fetch(QUERIES["job_overview"], COMPANY))
    assert total == JOBS // COMPANIES
    assert "Index Only Scan" in plan and counted < JOBS // COMPANIES // 50, plan
