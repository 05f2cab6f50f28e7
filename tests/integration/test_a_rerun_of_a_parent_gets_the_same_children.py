"""CONTRACT "Pipelines": a child's `key` makes `ctx.submit` idempotent per parent, so a rerun
of the parent (at least once: its worker was lost, the lease ran out) gets the children the
lost run created, never duplicates; the lost run, fenced, creates none."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from service.db.store import ListFilter, Store
from service.domain.jobs import Job, NewJob, Status
from service.jobtypes import JobTypes
from service.sdk import JobType
from service.settings import Settings
from service.worker.runner import Runner


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


async def ended(store: Store, job_id: uuid.UUID) -> Job:
    async with asyncio.timeout(20):
        while True:
            job = await store.get("acme", job_id)
            assert job is not None
            if job.status.terminal:
                return job
            await asyncio.sleep(0.02)


async def test_a_rerun_of_the_parent_gets_the_same_children(
    settings: Settings, store: Store, job_types: JobTypes, db: Any
) -> None:
    """At least once: the parent's first run creates its children and is lost (its lease
    runs out, the reaper requeues it); the second run submits the same keys and gets the
    same children, never a duplicate. The lost run can no longer create any."""
    created: list[list[str]] = []
    first_run_done = asyncio.Event()

    async def fan(ctx: Any) -> Any:
        ids = [await ctx.submit("echo", {"n": n}, key=f"child-{n}") for n in range(3)]
        created.append(ids)
        if ctx.attempt == 1:
            first_run_done.set()
            await asyncio.Event().wait()  # hangs: this worker is as good as dead
        return ids

    fan_type = JobType("fan", "", Anything, fan)
    runner = Runner(store, settings, job_types.plus(fan_type))
    runner.start()
    try:
        parent = await store.submit(NewJob("acme", "fan", {}, None, max_attempts=3))
        async with asyncio.timeout(20):
            await first_run_done.wait()
        [first] = [run.job for run in runner.runs.values() if run.job.id == parent.id]
        # the lease runs out: reaped, queued for attempt 2, which this runner claims
        await db.execute(
            "UPDATE content_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
            parent.id,
        )
        assert [job.id for job in await store.reap_expired_leases()] == [parent.id]
        runner.wake()
        rerun = await ended(store, parent.id)
    finally:
        await runner.stop()
    assert (rerun.status, rerun.attempts) == (Status.DONE, 2)
    assert len(created) == 2 and created[0] == created[1]
    children = await store.list_jobs("acme", ListFilter(parent_job_id=parent.id), 50)
    assert sorted(str(child.id) for child in children) == sorted(created[0])
    # the lost run is fenced: it creates nothing more
    late = NewJob("acme", "echo", {}, None, max_attempts=1)
    assert await store.submit_child(first, "late", late) is None
