"""Runs that report progress in the same instant share one statement and one commit (the
store's group commit, as finishes and output do): the handlers of a large claim all write
their first progress together, and a commit each made the last of 1,000 wait ~0.6 s for its
turn on the pool. Each job still gets its own `progress` event, and a run that no longer holds
its job changes nothing, batched or not."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
import pytest

import service.db.store as store_module
from bench.cluster import QUERIES as BENCH_QUERIES
from service.db.pool import init_connection
from service.db.store import Store

JOBS = 200


async def test_progress_of_many_runs_goes_in_few_statements(
    store: Store, db: asyncpg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await init_connection(db)
    await db.fetch(BENCH_QUERIES["insert_jobs"], JOBS, "echo", [{"n": 1}])
    jobs = await store.claim("w", 60.0, JOBS)
    assert len(jobs) == JOBS
    statements: list[int] = []
    progress_many = store_module.progress_many

    async def counted(db: Any, batch: list[Any]) -> list[int | None]:
        statements.append(len(batch))
        return await progress_many(db, batch)

    monkeypatch.setattr(store_module, "progress_many", counted)
    stale = dataclasses.replace(jobs[0], run_token=-1)  # a run that lost its job
    await asyncio.gather(
        store.set_progress(stale, 99, "stale"),
        *(store.set_progress(job, 10, "a tenth") for job in jobs),
    )
    assert sum(statements) == JOBS + 1
    assert len(statements) <= JOBS // 10, statements  # one a write: 201
    rows = await db.fetch(
        "SELECT j.progress_percent, j.progress_message, e.data->'progress' AS progress"
        " FROM content_jobs j JOIN content_job_events e ON e.job_id = j.id AND e.seq = j.event_seq"
    )
    assert len(rows) == JOBS
    assert all(r["progress_percent"] == 10 and r["progress_message"] == "a tenth" for r in rows)
    assert all(r["progress"] == {"percent": 10, "message": "a tenth"} for r in rows)
    # the same progress again is no change: no statement writes an event for it
    before = await db.fetchval("SELECT count(*) FROM content_job_events")
    await asyncio.gather(*(store.set_progress(job, 10, "a tenth") for job in jobs[:20]))
    assert await db.fetchval("SELECT count(*) FROM content_job_events") == before
