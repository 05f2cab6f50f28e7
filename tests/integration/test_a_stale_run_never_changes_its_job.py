"""Fencing: every write of a run is guarded by its claim's token, which never repeats, so a run
that lost its job (cancelled, reaped, retried) can no longer change it, even when the same
worker claims the job again while the old run is still alive."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg

from service.db.store import Store, Submitted
from service.domain.jobs import Job, NewJob, Status
from service.worker.runner import RUNNER
from tests.conftest import Client, auth

JOBS = "/api/companies/acme/content-jobs"


async def _submit(store: Store, max_attempts: int) -> Submitted:
    return await store.submit(
        NewJob("acme", "sleep", {"seconds": 5, "steps": 5}, None, max_attempts=max_attempts)
    )


async def _expire_and_reap(store: Store, db: asyncpg.Connection[Any], job_id: uuid.UUID) -> Job:
    await db.execute(
        "UPDATE content_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        job_id,
    )
    [reaped] = await store.reap_expired_leases()
    return reaped


async def _old_run_changes_nothing(store: Store, old: Job, current: Job) -> None:
    """Each write the old run could still attempt is refused; the current run's goes through."""
    assert await store.still_running([old]) == set()
    assert await store.renew_leases([old], 30.0) == set()
    await store.set_progress(old, 99, "stale")
    assert await store.append_output(old, "stale output", False) is None
    assert await store.output("acme", current.id) == ("", False)
    assert await store.fail_attempt(old, "stale failure", 0.0) is None
    assert await store.requeue(old) is None
    assert await store.finish(old, Status.DONE, result={"stale": True}) is False
    job = await store.get("acme", current.id)
    assert job is not None
    assert (job.status, job.progress_message, job.result) == (Status.RUNNING, None, None)
    assert await store.still_running([current]) == {current.run_token}
    assert await store.finish(current, Status.DONE, result={"fresh": True}) is True


async def test_a_reaped_run_cannot_finish_its_job_claimed_again_by_the_same_worker(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    job = await _submit(store, max_attempts=2)
    [old] = await store.claim("worker-a", 30.0, 1)
    assert (await _expire_and_reap(store, db, job.id)).status is Status.QUEUED
    [current] = await store.claim("worker-a", 30.0, 1)
    assert current.run_token != old.run_token
    await _old_run_changes_nothing(store, old, current)


async def test_a_run_reaped_at_its_last_attempt_cannot_finish_the_retried_job(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    """maxAttempts 1: the reaper fails the job at attempt 1, `retry` starts it again at
    attempt 1, and the same worker claims it: the (worker, attempt) of the two runs match."""
    job = await _submit(store, max_attempts=1)
    [old] = await store.claim("worker-a", 30.0, 1)
    assert (await _expire_and_reap(store, db, job.id)).status is Status.FAILED
    assert await store.retry("acme", job.id) is not None
    [current] = await store.claim("worker-a", 30.0, 1)
    assert current.attempts == old.attempts == 1
    await _old_run_changes_nothing(store, old, current)


async def test_a_cancelled_run_cannot_finish_the_job_retried_at_once(
    store: Store,
) -> None:
    job = await _submit(store, max_attempts=3)
    [old] = await store.claim("worker-a", 30.0, 1)
    assert await store.cancel("acme", job.id) is not None
    assert await store.retry("acme", job.id) is not None
    [current] = await store.claim("worker-a", 30.0, 1)
    await _old_run_changes_nothing(store, old, current)


async def test_cancel_then_retry_at_once_stops_the_old_run_on_the_same_worker(
    make_client: Any,
) -> None:
    """The runner keys its runs by token: the old run is stopped (its job is no longer its),
    and only the new run's progress reaches the job, which ends a full run after the retry."""
    client: Client = await make_client(role="all", job_lease_seconds=3.0)
    runner = client.app[RUNNER]
    resp = await client.post(
        JOBS, json={"jobType": "sleep", "input": {"seconds": 2, "steps": 20}}, headers=auth()
    )
    job_id = uuid.UUID((await resp.json())["jobId"])
    async with asyncio.timeout(10):
        while (old := runner.run_of(job_id)) is None or old.handler_task is None:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)  # the old run is a quarter of the way through
    assert (await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())).status == 200
    assert (await client.post(f"{JOBS}/{job_id}/retry", headers=auth())).status == 200
    retried = time.monotonic()
    async with asyncio.timeout(10):
        while (new := runner.run_of(job_id)) is None or new is old:
            await asyncio.sleep(0.01)
        assert old.handler_task is not None
        while not old.handler_task.done():
            await asyncio.sleep(0.01)
    assert old.stop_reason == "cancelled"
    async with asyncio.timeout(15):
        while True:
            job = await (await client.get(f"{JOBS}/{job_id}", headers=auth())).json()
            if job["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.05)
    assert job["status"] == "done"
    assert time.monotonic() - retried >= 1.9  # a whole run of 2 s, not the old run's rest


async def test_a_stale_run_writing_beside_the_current_one_is_told_it_lost(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    """The old and the current run of one job in the same group-committed statement: each run
    gets its own answer (the current one's new seq is not the old one's)."""
    job = await _submit(store, max_attempts=2)
    [old] = await store.claim("worker-a", 30.0, 1)
    await _expire_and_reap(store, db, job.id)
    [current] = await store.claim("worker-a", 30.0, 1)
    stale_output, fresh_output = await asyncio.gather(
        store.append_output(old, "stale", False), store.append_output(current, "fresh", False)
    )
    assert (stale_output, fresh_output) == (None, len("fresh"))
    await asyncio.gather(store.set_progress(old, 99, "stale"), store.set_progress(current, 5, "ok"))
    stale_end, fresh_end = await asyncio.gather(
        store.finish(old, Status.DONE, result={"stale": True}),
        store.finish(current, Status.DONE, result={"fresh": True}),
    )
    assert (stale_end, fresh_end) == (False, True)
    ended = await store.get("acme", job.id)
    assert ended is not None
    assert (ended.result, ended.progress_message) == ({"fresh": True}, "ok")
    assert await store.output("acme", job.id) == ("fresh", False)
