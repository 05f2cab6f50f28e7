"""CONTRACT "Pipelines": a job submitted with `dependsOn` stays `queued` with `waitingOn` (its
dependencies not yet `done`), no claim takes it before every one is `done`, and its stream
shows a `status` event when it becomes runnable. `dependsOn` names 1-100 jobs of the
company; anything else is `400` naming it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from service.db.store import Store
from service.domain.jobs import Status
from tests.conftest import Client, auth
from tests.integration.helpers import error_of, job_path, jobs_path, submit
from tests.sse import read_events


async def job_of(client: Client, job_id: str, company: str = "acme") -> dict[str, Any]:
    resp = await client.get(job_path(job_id, company), headers=auth(company))
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_a_dependent_is_not_claimed_before_its_dependencies_are_done(
    client: Client, store: Store
) -> None:
    first = (await submit(client, {"jobType": "echo", "input": {"n": 1}}))["jobId"]
    second = (await submit(client, {"jobType": "echo", "input": {"n": 2}}))["jobId"]
    body = {"jobType": "echo", "dependsOn": [first, second, first]}
    third = (await submit(client, body))["jobId"]

    job = await job_of(client, third)
    assert job["status"] == "queued"
    assert sorted(job["dependsOn"]) == sorted([first, second])  # each once
    assert sorted(job["waitingOn"]) == sorted([first, second])
    assert job["parentJobId"] is None
    listed = await (await client.get(jobs_path(), headers=auth())).json()
    assert {item["id"]: item["waitingOn"] for item in listed}[third] == job["waitingOn"]

    claimed = await store.claim("w1", 30, 10)
    assert sorted(str(j.id) for j in claimed) == sorted([first, second])
    assert await store.claim("w1", 30, 10) == []  # the waiting job is not claimable
    by_id = {str(j.id): j for j in claimed}

    async with client.get(job_path(third) + "/events", headers=auth()) as resp:
        events = read_events(resp)
        snapshot = await anext(events)
        assert snapshot.data["status"] == "queued"

        assert await store.finish(by_id[first], Status.DONE, result={"a": 1})
        assert (await job_of(client, third))["waitingOn"] == [second]
        assert await store.claim("w1", 30, 10) == []

        assert await store.finish(by_id[second], Status.DONE, result={"b": 2})
        async with asyncio.timeout(10):
            runnable = await anext(events)
        assert (runnable.event, runnable.data["status"]) == ("status", "queued")
        assert runnable.id is not None and snapshot.id is not None
        assert runnable.id > snapshot.id
    job = await job_of(client, third)
    assert (job["status"], job["waitingOn"]) == ("queued", [])
    assert [str(j.id) for j in await store.claim("w1", 30, 10)] == [third]


async def test_a_pipeline_runs_in_order_on_a_worker(worker_client: Client) -> None:
    slow = {"jobType": "sleep", "input": {"seconds": 0.3, "steps": 1}}
    first = (await submit(worker_client, slow))["jobId"]
    second = (await submit(worker_client, {"jobType": "echo", "dependsOn": [first]}))["jobId"]
    async with worker_client.get(job_path(second) + "/events", headers=auth()) as resp:
        async with asyncio.timeout(30):
            statuses = [e.data["status"] async for e in read_events(resp) if e.event == "status"]
    assert statuses[-1] == "done"
    done_first, done_second = (
        await job_of(worker_client, first),
        await job_of(worker_client, second),
    )
    assert done_first["status"] == "done"
    assert done_second["startedAt"] >= done_first["finishedAt"]


async def test_depends_on_names_only_jobs_of_the_company(client: Client) -> None:
    mine = (await submit(client))["jobId"]
    theirs = (await submit(client, company="beta"))["jobId"]
    unknown = str(uuid.uuid4())
    for depends_on in ([theirs], [unknown], [mine, unknown]):
        resp = await client.post(
            jobs_path(), json={"jobType": "echo", "dependsOn": depends_on}, headers=auth()
        )
        assert resp.status == 400, depends_on
        message = await error_of(resp)
        assert "dependsOn" in message and (theirs in message or unknown in message)
    for bad in ([], "x", [1], ["not-a-uuid"], ["@0"], [mine] * 0 + [str(uuid.uuid4())] * 101):
        resp = await client.post(
            jobs_path(), json={"jobType": "echo", "dependsOn": bad}, headers=auth()
        )
        assert resp.status == 400, bad
        assert "dependsOn" in await error_of(resp)


async def test_a_dependency_that_failed_already_cancels_the_new_job_at_once(
    client: Client, store: Store
) -> None:
    failed = (await submit(client))["jobId"]
    [claimed] = await store.claim("w1", 30, 10)
    assert await store.finish(claimed, Status.FAILED, error_message="boom")
    dependent = await submit(client, {"jobType": "echo", "dependsOn": [failed]})
    assert dependent["status"] == "cancelled"
    job = await job_of(client, dependent["jobId"])
    assert job["errorMessage"] == f"dependency {failed} failed"


async def test_the_list_filters_by_parent_job_id(client: Client) -> None:
    resp = await client.get(jobs_path() + "?parentJobId=nope", headers=auth())
    assert resp.status == 400
    assert "parentJobId" in await error_of(resp)
    resp = await client.get(jobs_path() + f"?parentJobId={uuid.uuid4()}", headers=auth())
    assert (resp.status, await resp.json()) == (200, [])


async def test_a_waiting_job_is_not_counted_ready_in_the_queue_metrics(
    client: Client, store: Store
) -> None:
    """The queue gauges: a job waiting on a dependency is not ready (it would look like a
    stuck backlog) until it is runnable; nor is it waiting for its runAt."""
    first = (await submit(client))["jobId"]
    await submit(client, {"jobType": "echo", "dependsOn": [first]})
    [(company, ready, delayed, _)] = await store.queue_stats()
    assert (company, ready, delayed) == ("acme", 1, 0)
