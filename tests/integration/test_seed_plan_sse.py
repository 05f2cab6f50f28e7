"""The seed plan's own acceptance cases for the event stream, kept as the plan states them
(jobs of the built-in `test` type), and its promise that a stream whose client goes away
mid-job is cleaned up: nothing on the replica keeps listening for it."""

from __future__ import annotations

import asyncio
import uuid

from service.api import keys
from tests.conftest import Client, auth
from tests.integration.helpers import job_path, submit
from tests.sse import read_events


async def gauge(client: Client, name: str) -> float:
    """One unlabelled sample of `/metrics` (the gauges a replica exposes for its streams)."""
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        metric, _, value = line.partition(" ")
        if metric == name:
            return float(value)
    raise AssertionError(f"{name} is not in /metrics")


async def test_events_route_is_an_event_stream(client: Client) -> None:
    """Plan: the events route answers `Content-Type: text/event-stream`."""
    job_id = (await submit(client, {"jobType": "test"}))["jobId"]
    async with client.get(job_path(job_id) + "/events", headers=auth()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")


async def test_first_event_is_the_jobs_current_status(client: Client) -> None:
    """Plan: the stream's first chunk is an `event: status` with the job's current status
    (CONTRACT: "the first event is the job's current state"; a `retry:` line may come
    before it, which carries no event)."""
    job_id = (await submit(client, {"jobType": "test"}))["jobId"]  # role api: stays queued
    async with client.get(job_path(job_id) + "/events", headers=auth()) as resp:
        first = await asyncio.wait_for(anext(read_events(resp)), 5)
    assert first.event == "status"
    assert (first.data["jobId"], first.data["status"]) == (job_id, "queued")


async def test_stream_of_a_random_uuid_is_an_error_event(client: Client) -> None:
    """Plan: the stream of a random UUID contains `event: error` (a `404`)."""
    resp = await client.get(job_path(uuid.uuid4()) + "/events", headers=auth())
    assert resp.status == 404
    assert "event: error" in await resp.text()


async def test_a_stream_is_cleaned_up_when_its_client_leaves_mid_job(
    worker_client: Client,
) -> None:
    """Plan: a client that disconnects while its job runs leaves nothing listening: the
    replica's open streams and listened channels (and their gauges) go back to 0."""
    body = {"jobType": "sleep", "input": {"seconds": 60, "steps": 60}}
    job_id = (await submit(worker_client, body))["jobId"]
    listener = worker_client.app[keys.LISTENER]
    resp = await worker_client.get(job_path(job_id) + "/events", headers=auth())
    async with asyncio.timeout(10):
        async for event in read_events(resp):
            if event.data["status"] == "running":
                break  # mid-job
    assert (listener.stream_count, listener.channel_count) == (1, 1)
    assert await gauge(worker_client, "content_jobs_sse_streams_open") == 1
    resp.close()
    async with asyncio.timeout(5):
        while listener.stream_count or listener.channel_count:
            await asyncio.sleep(0.01)
    assert await gauge(worker_client, "content_jobs_sse_streams_open") == 0
    assert await gauge(worker_client, "content_jobs_listened_channels") == 0
    job = await (await worker_client.get(job_path(job_id), headers=auth())).json()
    assert job["status"] == "running"  # it was mid-job all along
    await worker_client.post(job_path(job_id) + "/cancel", headers=auth())
