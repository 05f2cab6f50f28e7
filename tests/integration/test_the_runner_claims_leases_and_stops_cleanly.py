"""The runner: claiming, progress coalescing, failure, timeouts, cancellation, leases, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from service.api import keys
from service.app import create_app
from service.db.queries import QUERIES
from service.db.store import Store, Submitted
from service.domain.jobs import Ended, Job, NewJob, Status
from service.jobtypes import JobTypes
from service.sdk import JobContext, JobType
from service.settings import Settings
from service.worker.context import PROGRESS_INTERVAL
from service.worker.runner import RUNNER, Runner
from tests.conftest import Client, MakeClient, auth
from tests.sse import collect

JOBS = "/api/companies/acme/content-jobs"


async def submit_direct(store: Store, job_type: str = "echo", **job_input: Any) -> Submitted:
    return await store.submit(NewJob("acme", job_type, job_input, None, max_attempts=2))


async def wait_for_status(
    store: Store, job_id: uuid.UUID, *statuses: Status, timeout: float = 10
) -> Job:
    """Poll the table until the job reaches one of `statuses` (the condition, not a sleep)."""
    async with asyncio.timeout(timeout):
        while True:
            job = await store.get("acme", job_id)
            assert job is not None
            if job.status in statuses:
                return job
            await asyncio.sleep(0.02)


@pytest.fixture
async def runner(settings: Settings, store: Store, job_types: JobTypes) -> AsyncIterator[Runner]:
    runner = Runner(store, dataclasses.replace(settings, job_lease_seconds=2.0), job_types)
    runner.start()
    yield runner
    await runner.stop()


async def test_two_runners_never_run_the_same_job(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    """SKIP LOCKED: 200 jobs, two runners claiming at once, each job claimed exactly once."""
    # jobs that take a moment, so both runners are busy at once whatever the machine load
    jobs = [await submit_direct(store, "sleep", seconds=0.02, steps=1) for _ in range(200)]
    runners = [
        Runner(store, dataclasses.replace(settings, runner_concurrency=8), job_types) for _ in "ab"
    ]
    for r in runners:
        r.start()
    for job in jobs:
        await wait_for_status(store, job.id, Status.DONE)
    for r in runners:
        await r.stop()
    rows = await store.pool.fetch(
        "SELECT job_id, count(*) AS n FROM content_job_events"
        " WHERE event_type = 'status' AND data->>'status' = 'running' GROUP BY job_id"
    )
    assert len(rows) == 200 and all(row["n"] == 1 for row in rows)
    assert sum(r.finished.get("done", 0) for r in runners) == 200
    assert all(r.finished.get("done", 0) > 0 for r in runners), [r.finished for r in runners]


async def test_a_claim_racing_another_takes_the_next_jobs_not_none(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    """Two workers rank the same jobs first; the one whose claim meets the other's locks takes
    the next ones, instead of none and a sleep until the poll while the backlog waits. It
    never waits for the other's locks (SKIP LOCKED): here that wait would last until the
    other commits, which it does only after the claim returns."""
    jobs = [await submit_direct(store) for _ in range(8)]
    async with db.transaction():  # a claim under way in another worker: its rows are locked
        held = await db.fetch(QUERIES["claim_jobs"], "other", 30.0, 4, None, [], 0, [], [])
        try:
            async with asyncio.timeout(5):
                mine = await store.claim("me", 30.0, 4)
        except TimeoutError:
            pytest.fail("the claim waited for the rows another claim holds (no SKIP LOCKED)")
    assert [row["id"] for row in held] == [job.id for job in jobs[:4]]
    assert [job.id for job in mine] == [job.id for job in jobs[4:]]


async def test_handler_exception_fails_the_job_with_its_message(
    runner: Runner, store: Store
) -> None:
    job = await submit_direct(store, "sleep", seconds=0.05, steps=5, failAtStep=3)
    done = await wait_for_status(store, job.id, Status.FAILED)
    assert done.error_message == "failed at step 3"
    assert done.progress_percent == 40


async def test_progress_is_coalesced_to_one_write_per_100ms(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    """A handler reporting progress thousands of times writes at most every 100 ms."""

    class Anything(BaseModel):
        pass

    spent: list[float] = []

    async def chatty(ctx: JobContext[Anything]) -> None:
        started = time.monotonic()
        i = 0
        # at least 0.5 s and 1,000 reports: the first write may itself take most of 0.5 s on
        # a loaded machine (it blocks its caller), which left one write in a CI run
        while i < 1000 or time.monotonic() < started + 0.5:
            i += 1
            await ctx.progress(min(98, i // 100), f"tick {i}")
            await asyncio.sleep(0)
        await ctx.progress(99, "last")
        spent.append(time.monotonic() - started)

    runner = Runner(store, settings, job_types.plus(JobType("chatty-test", "", Anything, chatty)))
    runner.start()
    try:
        job = await submit_direct(store, "chatty-test")
        done = await wait_for_status(store, job.id, Status.DONE)
    finally:
        await runner.stop()
    writes = await store.pool.fetchval(
        "SELECT count(*) FROM content_job_events WHERE job_id = $1 AND event_type = 'progress'",
        job.id,
    )
    # the first report is written at once, the last one before the end; in between at most
    # one write per 100 ms of the handler's time (not one per report: over 1,000 of them)
    assert 2 <= writes <= spent[0] / PROGRESS_INTERVAL + 2, (writes, spent)
    assert done.progress_message == "last"  # the last report was written before the end


async def test_timeout_fails_the_job(settings: Settings, store: Store, job_types: JobTypes) -> None:
    runner = Runner(
        store, dataclasses.replace(settings, job_type_timeouts={"sleep": 0.3}), job_types
    )
    runner.start()
    job = await submit_direct(store, "sleep", seconds=30, steps=30)
    failed = await wait_for_status(store, job.id, Status.FAILED)
    await runner.stop()
    assert failed.error_message == "timed out after 0.3 seconds"


async def test_cancel_stops_a_running_handler_within_a_second(
    worker_client: Client, store: Store
) -> None:
    resp = await worker_client.post(
        JOBS, json={"jobType": "sleep", "input": {"seconds": 60, "steps": 60}}, headers=auth()
    )
    job_id = uuid.UUID((await resp.json())["jobId"])
    runner = worker_client.app[RUNNER]
    async with asyncio.timeout(10):  # claimed in the table, then recorded by the runner
        while (run := runner.run_of(job_id)) is None or run.handler_task is None:
            await asyncio.sleep(0.01)
    task = run.handler_task
    assert task is not None
    started = time.monotonic()
    resp = await worker_client.post(f"{JOBS}/{job_id}/cancel", headers=auth())
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    async with asyncio.timeout(1.0):
        while not task.done():
            await asyncio.sleep(0.01)
    assert task.cancelled()
    assert time.monotonic() - started < 1.0
    job = await store.get("acme", job_id)
    assert job is not None and job.status is Status.CANCELLED
    async with worker_client.get(f"{JOBS}/{job_id}/events", headers=auth()) as stream:
        events = await asyncio.wait_for(collect(stream), 5)
    assert [e.data["status"] for e in events] == ["cancelled"]


async def test_expired_lease_requeues_then_fails_at_the_attempt_limit(
    settings: Settings, store: Store
) -> None:
    """A job whose replica died goes back to queued (attempts + 1), then fails at the limit."""
    job = await submit_direct(store, "sleep", seconds=0.1, steps=1)  # max_attempts=2
    dead = await store.claim("dead-replica", 0.2, 10)
    assert [j.id for j in dead] == [job.id]
    await asyncio.sleep(0.3)  # the dead replica's lease runs out (time is the subject here)
    requeued = await store.reap_expired_leases()
    assert [(j.status, j.attempts) for j in requeued] == [(Status.QUEUED, 2)]
    again = await store.claim("dead-replica", 0.2, 10)
    assert [j.attempts for j in again] == [2]
    await asyncio.sleep(0.3)
    failed = await store.reap_expired_leases()
    assert failed[0].status is Status.FAILED
    assert failed[0].error_message == "worker lost during attempt 2 of 2: giving up"
    # the dead run's late writes change nothing
    assert await store.finish(again[0], Status.DONE) is False


async def test_runner_reaps_and_finishes_a_dead_replicas_job(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    """A replica is SIGKILLed mid-job: another one requeues it after its lease and runs it."""
    job = await submit_direct(store, "sleep", seconds=0.1, steps=1)
    [claimed] = await store.claim("dead-replica", 0.5, 1)
    runner = Runner(store, dataclasses.replace(settings, job_lease_seconds=2.0), job_types)
    runner.start()
    done = await wait_for_status(store, job.id, Status.DONE)
    await runner.stop()
    assert done.attempts == 2 and claimed.attempts == 1


async def test_shutdown_requeues_unfinished_jobs(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    """SIGTERM path: stop claiming, wait the grace, requeue what is left; nothing lost."""
    # a grace well beyond the short job's 0.15 s: 0.2 s was too little on a loaded CI machine
    runner = Runner(store, dataclasses.replace(settings, shutdown_grace_seconds=2.0), job_types)
    runner.start()
    long = await submit_direct(store, "sleep", seconds=60, steps=60)
    short = await submit_direct(store, "sleep", seconds=0.15, steps=1)
    await wait_for_status(store, long.id, Status.RUNNING)
    await wait_for_status(store, short.id, Status.RUNNING)
    await runner.stop()
    assert (await wait_for_status(store, short.id, Status.DONE)).status is Status.DONE
    requeued = await store.get("acme", long.id)
    assert requeued is not None
    assert requeued.status is Status.QUEUED and requeued.attempts == 1
    assert not runner.runs


async def test_an_idle_worker_starts_a_submitted_job_on_its_notify_not_its_poll(
    make_client: MakeClient, db: Any
) -> None:
    """An idle worker is woken by the submit's NOTIFY: with a poll of a minute, each job
    still starts within a second of its commit (milliseconds on a quiet machine; a bound of
    0.3 s with the 1 s poll failed once on a loaded CI machine, the claim 0.8 s late)."""
    client = await make_client(role="all", poll_interval_seconds=60.0)
    async with asyncio.timeout(10):  # listening: a job queued before would start by the poll
        await client.app[keys.LISTENER].connected.wait()
    await asyncio.sleep(0.2)  # let the worker go idle on its poll wait
    for _ in range(5):
        resp = await client.post(JOBS, json={"jobType": "echo"}, headers=auth())
        job_id = uuid.UUID((await resp.json())["jobId"])
        async with asyncio.timeout(10):
            while True:
                row = await db.fetchrow(
                    "SELECT created_at, started_at FROM content_jobs WHERE id = $1", job_id
                )
                if row["started_at"] is not None:
                    break
                await asyncio.sleep(0.01)
        assert (row["started_at"] - row["created_at"]).total_seconds() < 1.0


__all__ = ["asyncpg", "create_app"]


class Empty(BaseModel):
    pass


def with_type(job_types: JobTypes, name: str, handler: Any) -> JobTypes:
    """The installed types and one of the test's own."""
    return job_types.plus(JobType(name, "", Empty, handler, max_attempts=1))


async def test_a_final_write_that_keeps_failing_forgets_the_run(
    settings: Settings, store: Store, job_types: JobTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A final write failing past its retry window must not leave the job `running` forever:
    the run is forgotten, its lease is no longer renewed, and the reaper takes the job."""
    monkeypatch.setattr("service.worker.runner.FINAL_WRITE_RETRY_SECONDS", 0.5)

    async def broken_finish(*args: Any, **kwargs: Any) -> None:
        raise OSError("database away")

    runner = Runner(store, dataclasses.replace(settings, job_lease_seconds=1.0), job_types)
    monkeypatch.setattr(store, "finish", broken_finish)
    runner.start()
    try:
        job = await submit_direct(store, "echo")
        async with asyncio.timeout(10):
            while runner.run_of(job.id) is None:
                await asyncio.sleep(0.01)
            while runner.run_of(job.id) is not None:
                await asyncio.sleep(0.02)
        monkeypatch.undo()
        reaped = await wait_for_status(store, job.id, Status.QUEUED, Status.DONE, timeout=10)
    finally:
        await runner.stop()
    assert reaped.status in (Status.QUEUED, Status.DONE)
    assert reaped.attempts == 2  # the lost attempt counts


async def test_a_result_json_cannot_hold_fails_the_job_at_once(
    settings: Settings, store: Store, job_types: JobTypes
) -> None:
    async def returns_a_set(ctx: Any) -> Any:
        return {1, 2}

    runner = Runner(store, settings, with_type(job_types, "set-result-test", returns_a_set))
    runner.start()
    try:
        job = await submit_direct(store, "set-result-test")
        failed = await wait_for_status(store, job.id, Status.FAILED, timeout=5)
        assert failed.error_message is not None and "result is not JSON" in failed.error_message
        # the run is forgotten once its terminal write's commit is back (just after the row)
        async with asyncio.timeout(2):
            while runner.runs:
                await asyncio.sleep(0.01)
    finally:
        await runner.stop()


async def test_a_worker_that_cannot_renew_its_lease_stops_the_handler(
    settings: Settings, store: Store, job_types: JobTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its lease without a renewal, the handler is stopped (another worker may have the
    job by now): the handler sees the cancellation, the run is forgotten."""
    seen: list[str] = []

    async def patient(ctx: Any) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            seen.append("cancelled" if ctx.cancelled else "ended")

    async def no_renewals(*args: Any, **kwargs: Any) -> set[uuid.UUID]:
        raise OSError("network partition")

    runner = Runner(
        store,
        dataclasses.replace(settings, job_lease_seconds=1.0),
        with_type(job_types, "patient-test", patient),
    )
    monkeypatch.setattr(store, "renew_leases", no_renewals)
    runner.start()
    try:
        job = await submit_direct(store, "patient-test")
        async with asyncio.timeout(10):
            while runner.run_of(job.id) is None:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            while runner.run_of(job.id) is not None:
                await asyncio.sleep(0.02)
        stopped_after = time.monotonic() - started
    finally:
        await runner.stop()
    assert seen == ["cancelled"]
    assert 0.9 <= stopped_after <= 3.0
    assert runner.finished.get("lease_lost") == 1


async def test_a_run_waiting_for_its_last_write_frees_its_slot_up_to_twice_the_concurrency(
    settings: Settings, store: Store, job_types: JobTypes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next claim overlaps the last finish (throughput), but runs waiting on a stalled
    finish never pile up past twice RUNNER_CONCURRENCY."""
    gate = asyncio.Event()
    finish = store.finish

    async def stalled_finish(job: Job, status: Ended, **kwargs: Any) -> bool:
        await gate.wait()
        return await finish(job, status, **kwargs)

    monkeypatch.setattr(store, "finish", stalled_finish)
    first, second, third = [await submit_direct(store) for _ in range(3)]
    runner = Runner(store, dataclasses.replace(settings, runner_concurrency=1), job_types)
    runner.start()
    try:
        # the first run's handler is done and its write stalls: the second one still starts
        await wait_for_status(store, second.id, Status.RUNNING)
        assert {run.job.id for run in runner.runs.values()} == {first.id, second.id}
        await asyncio.sleep(0.5)  # a claim round or more: the third must stay queued
        current = await store.get("acme", third.id)
        assert current is not None and current.status is Status.QUEUED
        gate.set()
        for job in (first, second, third):
            await wait_for_status(store, job.id, Status.DONE)
    finally:
        gate.set()
        await runner.stop()
