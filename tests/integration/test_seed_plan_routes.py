"""The seed plan's own acceptance cases for the job routes, kept as the plan states them
(CONTRACT.md job types: "the seed plan's own tests submit `{"jobType": "test"}` and expect
`202`; they must pass as written"), and the plan's promise that every submitted job
accepts `sourceTaskId`, whatever its built-in type, single or in a batch."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from service.jobtypes import builtin
from tests.conftest import Client, auth
from tests.integration.helpers import error_of, job_path, jobs_path, submit
from tests.sse import collect

#: the smallest valid input of every built-in type (the plan: every job takes sourceTaskId)
SMALLEST_INPUT: dict[str, dict[str, Any]] = {
    "test": {},
    "echo": {},
    "sleep": {"seconds": 0, "steps": 1},
    "markdown.html": {"markdown": "# hi"},
    "text.typewriter": {"text": ""},
}


async def test_post_of_a_test_job_is_202_queued_within_200_ms(client: Client) -> None:
    """Plan: POST `{"jobType": "test"}` is `202` with a string `jobId`, `status` "queued"
    and a string `createdAt`, within 200 ms at rest (the round trip after one warm-up; the
    best of three, so one stall of a shared machine is not the service's time)."""
    await submit(client, {"jobType": "test"})  # warm-up: first connection, first statements
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        resp = await client.post(jobs_path(), json={"jobType": "test"}, headers=auth())
        body = await resp.json()
        timings.append(time.perf_counter() - started)
        assert resp.status == 202, body
        assert isinstance(body["jobId"], str)
        assert body["status"] == "queued"
        assert isinstance(body["createdAt"], str)
    assert min(timings) < 0.2, timings


@pytest.mark.parametrize("raw", [b"", b"{}"])
async def test_post_of_an_empty_body_is_400_naming_job_type(client: Client, raw: bytes) -> None:
    """Plan: a POST with an empty body (no bytes, or `{}`) is `400` whose `error` mentions
    `jobType`."""
    headers = {**auth(), "Content-Type": "application/json"}
    resp = await client.post(jobs_path(), data=raw, headers=headers)
    assert resp.status == 400
    assert "jobType" in await error_of(resp)


async def test_source_task_id_is_persisted(client: Client) -> None:
    """Plan: a POST with `sourceTaskId` "task-abc-123" persists it (GET shows it)."""
    body = {"jobType": "test", "sourceTaskId": "task-abc-123"}
    job_id = (await submit(client, body))["jobId"]
    job = await (await client.get(job_path(job_id), headers=auth())).json()
    assert job["sourceTaskId"] == "task-abc-123"


async def test_list_returns_the_job_just_created(client: Client) -> None:
    """Plan: the list returns at least the job just created."""
    job_id = (await submit(client, {"jobType": "test"}))["jobId"]
    resp = await client.get(jobs_path(), headers=auth())
    assert resp.status == 200
    listed = await resp.json()
    assert len(listed) >= 1
    assert job_id in [job["id"] for job in listed]


async def test_get_by_id_returns_the_job(client: Client) -> None:
    """Plan: GET by id returns the job (`id` matches)."""
    job_id = (await submit(client, {"jobType": "test"}))["jobId"]
    resp = await client.get(job_path(job_id), headers=auth())
    assert resp.status == 200
    assert (await resp.json())["id"] == job_id


async def test_get_of_a_random_uuid_is_404(client: Client) -> None:
    """Plan: GET of a random UUID is `404`."""
    resp = await client.get(job_path(uuid.uuid4()), headers=auth())
    assert resp.status == 404
    assert await error_of(resp) == "Job not found"


async def test_a_test_job_is_done_at_once_with_an_empty_result(worker_client: Client) -> None:
    """CONTRACT job types: `test` is a no-op, done at once with result `{}`."""
    job_id = (await submit(worker_client, {"jobType": "test"}))["jobId"]
    async with worker_client.get(job_path(job_id) + "/events", headers=auth()) as resp:
        events = await asyncio.wait_for(collect(resp), 10)
    assert events[-1].event == "status" and events[-1].data["status"] == "done"
    job = await (await worker_client.get(job_path(job_id), headers=auth())).json()
    assert (job["status"], job["result"], job["errorMessage"]) == ("done", {}, None)


def test_every_built_in_type_has_a_smallest_input_here() -> None:
    """The two tests below cover every built-in type: a new one must be added here."""
    assert set(SMALLEST_INPUT) == {job_type.name for job_type in builtin.JOB_TYPES}


async def test_every_built_in_type_accepts_source_task_id(client: Client) -> None:
    """Plan: every submitted job accepts `sourceTaskId` (each built-in type, single)."""
    for job_type, job_input in SMALLEST_INPUT.items():
        source = f"task-{job_type}"
        body = {"jobType": job_type, "input": job_input, "sourceTaskId": source}
        job_id = (await submit(client, body))["jobId"]
        job = await (await client.get(job_path(job_id), headers=auth())).json()
        assert job["sourceTaskId"] == source, job_type
        listed = await client.get(jobs_path(), params={"sourceTaskId": source}, headers=auth())
        assert [item["id"] for item in await listed.json()] == [job_id], job_type


async def test_every_built_in_type_accepts_source_task_id_in_a_batch(client: Client) -> None:
    """Plan: every submitted job accepts `sourceTaskId` (each built-in type, in one batch)."""
    jobs = [
        {"jobType": job_type, "input": job_input, "sourceTaskId": f"batch-{job_type}"}
        for job_type, job_input in SMALLEST_INPUT.items()
    ]
    resp = await client.post(jobs_path() + ":batch", json={"jobs": jobs}, headers=auth())
    assert resp.status == 200, await resp.text()
    results = (await resp.json())["results"]
    assert [result.get("error") for result in results] == [None] * len(jobs)
    for sent, result in zip(jobs, results, strict=True):
        job = await (await client.get(job_path(result["jobId"]), headers=auth())).json()
        assert (job["jobType"], job["sourceTaskId"]) == (sent["jobType"], sent["sourceTaskId"])
