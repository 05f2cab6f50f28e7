"""The store's group commit for submissions: together under load, each job still its own."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from service.db.store import Store, Submitted
from service.domain.jobs import NewJob


def new_job(company: str = "acme", **job_input: Any) -> NewJob:
    return NewJob(company, "echo", job_input, None, max_attempts=3)


async def test_concurrent_submissions_are_each_committed_with_their_first_event(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    """API: every 202 names a distinct queued job that exists, with its first event."""
    results = await asyncio.gather(*(store.submit(new_job(n=n)) for n in range(300)))
    jobs = [job for job in results if job.created]
    assert len(jobs) == 300 and len({job.id for job in jobs}) == 300
    inputs = {
        r["id"]: r["n"]
        for r in await db.fetch("SELECT id, (input->>'n')::int AS n FROM content_jobs")
    }
    assert [inputs[job.id] for job in jobs] == list(range(300))  # each caller gets its own row
    rows = await db.fetch(
        "SELECT j.id, e.seq, e.data->>'status' AS status FROM content_jobs j"
        " JOIN content_job_events e ON e.job_id = j.id"
    )
    assert len(rows) == 300
    assert all(r["seq"] == 1 and r["status"] == "queued" for r in rows)


async def test_a_failing_submission_fails_alone(store: Store, db: asyncpg.Connection[Any]) -> None:
    """One job the database rejects in a batch: its caller gets the error, the others their jobs."""
    outcomes = await asyncio.gather(
        *(store.submit(new_job("bad company!" if n == 5 else "acme", n=n)) for n in range(20)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[5], asyncpg.CheckViolationError)
    assert all(isinstance(o, Submitted) for i, o in enumerate(outcomes) if i != 5)
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 19
