"""The event stream of CONTRACT.md: snapshot, ordered events, the end, replay, 404."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Client, auth
from tests.sse import collect

JOBS = "/api/companies/acme/content-jobs"


async def submit(client: Client, job_type: str = "sleep", **job_input: Any) -> str:
    resp = await client.post(JOBS, json={"jobType": job_type, "input": job_input}, headers=auth())
    assert resp.status == 202, await resp.text()
    job_id: str = (await resp.json())["jobId"]
    return job_id


async def test_stream_follows_a_job_to_its_end(worker_client: Client) -> None:
    """First the current state, then every change in order with rising ids, then the end."""
    job_id = await submit(worker_client, seconds=0.5, steps=5)
    async with worker_client.get(f"{JOBS}/{job_id}/events", headers=auth()) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        events = await asyncio.wait_for(collect(resp), 10)
    ids = [e.id or 0 for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[0].event == "status"
    assert events[-1].event == "status" and events[-1].data["status"] == "done"
    percents = [e.data["progress"]["percent"] for e in events if e.event == "progress"]
    assert percents == sorted(percents) and percents[-1] == 100
    assert {"jobId", "status", "progress", "resultAssetId", "errorMessage"} <= set(events[0].data)


async def test_replay_after_last_event_id(worker_client: Client) -> None:
    """A reconnect with Last-Event-ID replays every event after n: no gap, no repeat."""
    job_id = await submit(worker_client, seconds=0.3, steps=3)
    async with worker_client.get(f"{JOBS}/{job_id}/events", headers=auth()) as resp:
        full = await asyncio.wait_for(collect(resp), 10)
    assert full[-1].data["status"] == "done"
    # the full history, from the table
    async with worker_client.get(
        f"{JOBS}/{job_id}/events", headers={**auth(), "Last-Event-ID": "0"}
    ) as resp:
        history = await asyncio.wait_for(collect(resp), 10)
    assert [e.id for e in history] == list(range(1, len(history) + 1))
    n = history[1].id
    assert n is not None
    async with worker_client.get(f"{JOBS}/{job_id}/events?lastEventId={n}", headers=auth()) as resp:
        rest = await asyncio.wait_for(collect(resp), 10)
    assert rest == history[n:]
    async with worker_client.get(
        f"{JOBS}/{job_id}/events", headers={**auth(), "Last-Event-ID": str(history[-1].id)}
    ) as resp:
        assert resp.status == 200
        assert await asyncio.wait_for(collect(resp), 10) == []


async def test_unknown_job_is_an_sse_404(client: Client) -> None:
    for job_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
        assert resp.status == 404
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await resp.text() == 'event: error\ndata: {"error": "Job not found"}\n\n'


async def test_headers_are_flushed_before_any_event(client: Client) -> None:
    """Headers go out at once, even when a resumed stream has nothing to send yet."""
    job_id = await submit(client, seconds=60)  # queued: role api runs nothing
    resume = {**auth(), "Last-Event-ID": "1"}  # the client already has the only event
    async with asyncio.timeout(2):
        resp = await client.get(f"{JOBS}/{job_id}/events", headers=resume)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    resp.close()


async def test_last_event_id_past_the_terminal_event_ends_at_once(client: Client) -> None:
    """`n` at or past the terminal event: an empty stream that ends immediately."""
    job_id = await submit(client, seconds=60)
    cancel = await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())
    assert cancel.status == 200  # the terminal event is seq 2
    for n in ("2", "7"):
        headers = {**auth(), "Last-Event-ID": n}
        async with client.get(f"{JOBS}/{job_id}/events", headers=headers) as resp:
            assert resp.status == 200
            assert await asyncio.wait_for(collect(resp), 2) == []
