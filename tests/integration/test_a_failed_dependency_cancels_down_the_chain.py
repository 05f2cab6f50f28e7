"""CONTRACT "Pipelines": a dependency ending `failed` or `cancelled` cancels its dependents at
once, down the chain, each with `errorMessage` `"dependency <id> <status>"` and a `status`
event on its stream, whichever worker ran the dependency. A `retry` of the failed job does
not revive them; retried too, they wait for it again and run once it is `done`. Cancelling a
job cancels its unfinished children and every job that depends on it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.db.store import Store
from service.domain.jobs import NewJob, Status
from service.jobtypes import JobTypes
from service.settings import Settings
from service.worker.runner import Runner
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit
from tests.sse import read_events

TERMINAL = ("done", "failed", "cancelled")


async def job_of(client: Client, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = await (await client.get(job_path(job_id), headers=auth())).json()
    return data


async def until(client: Client, job_id: str, *statuses: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while (job := await job_of(client, job_id))["status"] not in statuses:
            await asyncio.sleep(0.02)
    return job


@pytest.fixture
async def two_runners(
    settings: Settings, store: Store, job_types: JobTypes
) -> AsyncIterator[list[Runner]]:
    """Two workers on one database, as two replicas would be."""
    runners = [
        Runner(store, dataclasses.replace(settings, job_lease_seconds=3.0), job_types)
        for _ in range(2)
    ]
    for runner in runners:
        runner.start()
    yield runners
    for runner in runners:
        await runner.stop()


async def test_a_failure_cancels_every_job_down_the_chain(
    client: Client, two_runners: list[Runner]
) -> None:
    # the failing job waits on a first one, so the chain is in place before it runs
    gate = await submit(client, {"jobType": "sleep", "input": {"seconds": 0.2, "steps": 1}})
    failing = {"jobType": "sleep", "input": {"steps": 1, "failAtStep": 1}}
    a = (await submit(client, {**failing, "dependsOn": [gate["jobId"]]}))["jobId"]
    b = (await submit(client, {"jobType": "echo", "dependsOn": [a]}))["jobId"]
    c = (await submit(client, {"jobType": "echo", "dependsOn": [b]}))["jobId"]
    d = (await submit(client, {"jobType": "echo", "dependsOn": [a, gate["jobId"]]}))["jobId"]

    async with client.get(job_path(c) + "/events", headers=auth()) as resp:
        async with asyncio.timeout(20):
            events = [e async for e in read_events(resp)]
    last = events[-1]
    assert (last.event, last.data["status"]) == ("status", "cancelled")
    assert last.data["errorMessage"] == f"dependency {b} cancelled"

    assert (await job_of(client, a))["status"] == "failed"
    for job_id, message in ((b, f"dependency {a} failed"), (d, f"dependency {a} failed")):
        job = await job_of(client, job_id)
        assert (job["status"], job["errorMessage"], job["startedAt"]) == (
            "cancelled",
            message,
            None,
        )
    assert sum(runner.finished.get("done", 0) for runner in two_runners) == 1  # the gate


async def test_a_retry_does_not_revive_the_cancelled_dependents_unless_they_are_retried(
    client: Client, store: Store
) -> None:
    a = (await submit(client))["jobId"]
    b = (await submit(client, {"jobType": "echo", "dependsOn": [a]}))["jobId"]
    [run] = await store.claim("w1", 30, 10)
    assert await store.finish(run, Status.FAILED, error_message="boom")
    assert (await job_of(client, b))["status"] == "cancelled"

    resp = await client.post(job_path(a) + "/retry", headers=auth())
    assert resp.status == 200
    assert (await job_of(client, b))["status"] == "cancelled"  # not revived

    resp = await client.post(job_path(b) + "/retry", headers=auth())
    assert resp.status == 200
    job = await job_of(client, b)
    assert (job["status"], job["waitingOn"]) == ("queued", [a])
    [run] = await store.claim("w1", 30, 10)
    assert str(run.id) == a  # b still waits
    assert await store.finish(run, Status.DONE, result={})
    [run] = await store.claim("w1", 30, 10)
    assert str(run.id) == b


async def test_cancelling_a_job_cancels_its_unfinished_children_and_its_dependents(
    client: Client, store: Store
) -> None:
    parent = (await submit(client))["jobId"]
    [run] = await store.claim("w1", 30, 10)
    children = []
    for key in ("a", "b", "c"):
        child = await store.submit_child(
            run, key, NewJob("acme", "echo", {"key": key}, None, max_attempts=1)
        )
        assert child is not None
        children.append(child)
    dependent = (await submit(client, {"jobType": "echo", "dependsOn": [parent]}))["jobId"]
    running_child, done_child = await store.claim("w2", 30, 2)
    assert await store.finish(done_child, Status.DONE, result={})
    listed = await (
        await client.get(f"/api/companies/acme/content-jobs?parentJobId={parent}", headers=auth())
    ).json()
    assert sorted(item["id"] for item in listed) == sorted(map(str, children))
    assert {item["parentJobId"] for item in listed} == {parent}

    resp = await client.post(job_path(parent) + "/cancel", headers=auth())
    assert resp.status == 200

    for child in children:
        job = await job_of(client, str(child))
        if child == done_child.id:
            assert job["status"] == "done"  # finished: left alone
        else:
            assert (job["status"], job["errorMessage"]) == (
                "cancelled",
                f"parent {parent} cancelled",
            )
    job = await job_of(client, dependent)
    assert (job["status"], job["errorMessage"]) == ("cancelled", f"dependency {parent} cancelled")
    # the running child's run is told, as for any cancel
    assert await store.still_running([running_child]) == set()
    assert not await store.finish(running_child, Status.DONE, result={})


async def test_a_dependents_status_events_are_numbered_without_gaps(
    client: Client, store: Store, db: Any
) -> None:
    """Each cascaded change is a state change with its own event row, like any other."""
    a = (await submit(client))["jobId"]
    b = (await submit(client, {"jobType": "echo", "dependsOn": [a]}))["jobId"]
    await client.post(job_path(a) + "/cancel", headers=auth())
    rows = await db.fetch(
        "SELECT seq, event_type, data->>'status' AS status FROM content_job_events"
        " WHERE job_id = $1 ORDER BY seq",
        uuid.UUID(b),
    )
    assert [(r["seq"], r["event_type"], r["status"]) for r in rows] == [
        (1, "status", "queued"),
        (2, "status", "cancelled"),
    ]
