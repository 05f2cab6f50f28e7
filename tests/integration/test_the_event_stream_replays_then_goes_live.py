"""The event stream of docs/api.md: snapshot, ordered events, the end, replay, 404."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from service.api.auth import issue_token
from tests.conftest import SECRET, Client, MakeClient, auth, make_token
from tests.sse import collect, read_events

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
        assert resp.status == 204  # it had the terminal event: EventSource stops reconnecting


async def test_replay_of_a_finished_job_starts_at_once(make_client: MakeClient) -> None:
    """API: the replay starts at once (it does not wait for a new event or the sweep),
    on a replica with no stream open for that job."""
    client = await make_client(role="all", sweep_interval_seconds=60.0)
    job_id = await submit(client, seconds=0.1, steps=2)
    async with client.get(f"{JOBS}/{job_id}/events", headers=auth()) as resp:
        full = await asyncio.wait_for(collect(resp), 10)
    assert full[-1].data["status"] == "done"
    started = time.monotonic()
    async with client.get(f"{JOBS}/{job_id}/events?lastEventId=1", headers=auth()) as resp:
        rest = await asyncio.wait_for(collect(resp), 10)
    # well under the 60 s sweep it would otherwise wait for (no new event ever comes), and
    # loose enough for a loaded CI machine
    assert time.monotonic() - started < 5
    last = full[-1].id
    assert last is not None
    assert [e.id for e in rest] == list(range(2, last + 1))


async def test_a_last_event_id_from_the_future_does_not_poison_other_streams(
    client: Client, db: Any
) -> None:
    """A client-supplied id past the job's last event must not move the replica's shared
    cache of the job: another stream of the same job still gets every event."""
    job_id = await submit(client, seconds=60)
    liar = await client.get(f"{JOBS}/{job_id}/events", headers={**auth(), "Last-Event-ID": "50"})
    assert liar.status == 200
    honest = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    events = read_events(honest)
    assert (await anext(events)).id == 1
    await db.execute(
        "UPDATE content_jobs SET status = 'cancelled', finished_at = now(),"
        " event_seq = event_seq + 1 WHERE id = $1",
        uuid.UUID(job_id),
    )
    await db.execute("SELECT pg_notify($1, $2)", f"content_job:{job_id}", f"{job_id}:2")
    got = await asyncio.wait_for(anext(events), 5)
    assert (got.id, got.data["status"]) == (2, "cancelled")
    liar.close()
    honest.close()


async def test_the_first_frame_sets_a_jittered_retry(client: Client) -> None:
    """API: the first frame carries `retry: <ms>` (a few seconds, with jitter)."""
    job_id = await submit(client, seconds=60)
    delays = set()
    for _ in range(5):
        async with client.get(f"{JOBS}/{job_id}/events", headers=auth()) as resp:
            first = await resp.content.readuntil(b"\r\n\r\n")
        assert first.startswith(b"retry: ")
        delays.add(int(first.split(b" ")[1]))
    assert all(2000 <= d <= 5000 for d in delays) and len(delays) > 1


async def test_streams_per_caller_are_capped(make_client: MakeClient) -> None:
    """API: open streams per token `sub` are capped; one more is `429`, and a closed
    stream frees its place at once."""
    client = await make_client(sse_max_streams_per_caller=2)
    job_id = await submit(client, seconds=60)
    open_ = [await client.get(f"{JOBS}/{job_id}/events", headers=auth()) for _ in range(2)]
    assert [r.status for r in open_] == [200, 200]
    over = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    assert over.status == 429 and "error" in await over.json()
    other = await client.get(
        f"{JOBS}/{job_id}/events",
        headers={"Authorization": f"Bearer {issue_token(SECRET, ['acme'], sub='someone-else')}"},
    )
    assert other.status == 200
    open_[0].close()
    async with asyncio.timeout(5):
        while (resp := await client.get(f"{JOBS}/{job_id}/events", headers=auth())).status != 200:
            await asyncio.sleep(0.05)
    resp.close()
    other.close()
    open_[1].close()


async def test_a_stream_ends_when_its_token_expires(client: Client) -> None:
    """API: a stream ends when its token expires (the client reconnects with a new one)."""
    job_id = await submit(client, seconds=60)
    token = make_token(ttl=2)
    started = time.monotonic()
    async with client.get(f"{JOBS}/{job_id}/events?access_token={token}") as resp:
        assert resp.status == 200
        events = await asyncio.wait_for(collect(resp), 10)
    assert 1.0 < time.monotonic() - started < 4
    assert [e.data["status"] for e in events] == ["queued"]


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
    """API: `n` at or past the terminal event: `204 No Content`, so a browser's
    EventSource stops reconnecting after a job ended."""
    job_id = await submit(client, seconds=60)
    cancel = await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())
    assert cancel.status == 200  # the terminal event is seq 2
    for n in ("2", "7"):
        headers = {**auth(), "Last-Event-ID": n}
        async with client.get(f"{JOBS}/{job_id}/events", headers=headers) as resp:
            assert resp.status == 204
            assert await resp.read() == b""
