"""A terminal event that later events follow (the job was retried) is not the end: a stream
replayed from before a cancel-then-retry goes on to the job's current state, on the wire and
in the Python client's `watch()`; it ends at the job's current terminal event, and a resume
from there is `204`."""

from __future__ import annotations

import asyncio

from service.client import ContentJobsClient, JobEvent
from tests.conftest import Client, auth, make_token
from tests.sse import SseEvent, read_events

JOBS = "/api/companies/acme/content-jobs"


async def _cancelled_then_retried(client: Client) -> str:
    """A job whose events are 1 queued, 2 cancelled, 3 queued (no worker runs it)."""
    resp = await client.post(JOBS, json={"jobType": "echo"}, headers=auth())
    job_id: str = (await resp.json())["jobId"]
    assert (await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())).status == 200
    assert (await client.post(f"{JOBS}/{job_id}/retry", headers=auth())).status == 200
    return job_id


async def test_a_replay_from_before_the_cancel_goes_on_past_it(client: Client) -> None:
    job_id = await _cancelled_then_retried(client)
    headers = {**auth(), "Last-Event-ID": "1"}
    seen: list[SseEvent] = []
    async with client.get(f"{JOBS}/{job_id}/events", headers=headers) as stream:
        events = read_events(stream)
        async with asyncio.timeout(5):
            while len(seen) < 2:
                seen.append(await anext(events))
        assert [(e.id, e.data["status"]) for e in seen] == [(2, "cancelled"), (3, "queued")]
        # still open: the job is queued again, its stream goes on live
        assert (await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())).status == 200
        async with asyncio.timeout(5):
            rest = [event async for event in events]
    assert [(e.id, e.data["status"]) for e in rest] == [(4, "cancelled")]
    again = await client.get(f"{JOBS}/{job_id}/events", headers={**auth(), "Last-Event-ID": "4"})
    assert again.status == 204


async def test_the_python_client_watch_goes_on_past_an_old_terminal_event(
    client: Client,
) -> None:
    job_id = await _cancelled_then_retried(client)
    url = str(client.make_url(""))
    seen: list[JobEvent] = []
    async with ContentJobsClient(url, make_token("acme"), "acme") as jobs:

        async def watch() -> None:
            async for event in jobs.watch(job_id, last_event_id=1):
                seen.append(event)

        watching = asyncio.create_task(watch())
        async with asyncio.timeout(5):
            while len(seen) < 2:
                await asyncio.sleep(0.01)
        assert not watching.done()  # it did not stop at the old `cancelled`
        assert (await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())).status == 200
        async with asyncio.timeout(5):
            await watching
        assert [(e.id, e.data["status"]) for e in seen] == [
            (2, "cancelled"),
            (3, "queued"),
            (4, "cancelled"),
        ]
        # resumed at the end: 204, and the watch ends at once with nothing more
        async with asyncio.timeout(5):
            assert [event async for event in jobs.watch(job_id, last_event_id=4)] == []
