"""The replica's one LISTEN connection: fan-out, cleanup, the race, lost NOTIFYs, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api import keys
from service.app import create_app
from service.events.listener import Listener
from service.settings import Settings
from tests.conftest import Client, MakeClient, auth
from tests.sse import SseEvent, read_events

JOBS = "/api/companies/acme/content-jobs"


async def submit(client: Client, **job_input: Any) -> str:
    resp = await client.post(
        JOBS, json={"jobType": "sleep", "input": job_input or {"seconds": 60}}, headers=auth()
    )
    job_id: str = (await resp.json())["jobId"]
    return job_id


async def until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def write_event_without_notify(db: Any, job_id: str, status: str) -> int:
    """Commit a state change as a replica would, and 'die' before its NOTIFY."""
    seq: int = await db.fetchval(
        """
        UPDATE content_jobs SET status = $2, event_seq = event_seq + 1,
            finished_at = CASE WHEN $2 IN ('done', 'failed', 'cancelled') THEN now() END,
            worker_id = 'gone', lease_expires_at = now() + interval '1 hour'
        WHERE id = $1 RETURNING event_seq
        """,
        uuid.UUID(job_id),
        status,
    )
    return seq


def listener_of(client: Client) -> Listener:
    listener: Listener = client.app[keys.LISTENER]
    return listener


async def test_disconnected_clients_are_forgotten(client: Client) -> None:
    """Many streams share one channel per job; when they all go, the channels go too."""
    listener = listener_of(client)
    await until(listener.connected.is_set)
    jobs = [await submit(client) for _ in range(3)]
    responses = []
    for job_id in jobs:
        for _ in range(3):
            resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
            first = await anext(read_events(resp))
            assert first.data["status"] == "queued"
            responses.append(resp)
    assert listener.channel_count == 3 and listener.stream_count == 9
    for resp in responses:
        resp.close()
    await until(lambda: listener.channel_count == 0)
    assert listener.stream_count == 0


async def test_event_between_read_and_listen_is_delivered_once_without_the_sweep(
    make_client: MakeClient, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read, then LISTEN: an event committed (and notified) in between, when nobody here
    listened yet, arrives exactly once and at once — not a sweep later."""
    client = await make_client(sweep_interval_seconds=60.0)
    job_id = await submit(client)
    listener = listener_of(client)
    await until(listener.connected.is_set)
    original = listener._sync_channel

    async def commit_then_listen(job: uuid.UUID) -> None:
        if job in listener.topics and job not in listener._listening:
            await write_event_without_notify(db, job_id, "running")
            await db.execute("SELECT pg_notify($1, $2)", f"content_job:{job_id}", f"{job_id}:2")
        await original(job)

    monkeypatch.setattr(listener, "_sync_channel", commit_then_listen)
    resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    events = read_events(resp)
    first = await anext(events)
    second = await asyncio.wait_for(anext(events), 2)
    await write_event_without_notify(db, job_id, "cancelled")
    await db.execute("SELECT pg_notify($1, $2)", f"content_job:{job_id}", f"{job_id}:3")
    rest = [await asyncio.wait_for(anext(events), 5)]
    assert (first.id, first.data["status"]) == (1, "queued")
    assert (second.id, second.data["status"]) == (2, "running")
    assert [(e.id, e.data["status"]) for e in rest] == [(3, "cancelled")]


async def test_random_job_ids_cost_no_listen(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream of a job that does not exist is a 404 before any LISTEN."""
    listener = listener_of(client)
    calls: list[uuid.UUID] = []
    original = listener._sync_channel

    async def counting(job: uuid.UUID) -> None:
        calls.append(job)
        await original(job)

    monkeypatch.setattr(listener, "_sync_channel", counting)
    for _ in range(5):
        resp = await client.get(f"{JOBS}/{uuid.uuid4()}/events", headers=auth())
        assert resp.status == 404
    assert calls == [] and listener.channel_count == 0


async def test_sweep_finds_events_whose_notify_never_came(client: Client, db: Any) -> None:
    """A replica that died between commit and NOTIFY: the stream still gets it within 2 s."""
    job_id = await submit(client)
    resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    events = read_events(resp)
    assert (await anext(events)).data["status"] == "queued"
    await write_event_without_notify(db, job_id, "running")
    got = await asyncio.wait_for(anext(events), 2.5)
    assert (got.id, got.data["status"]) == (2, "running")


async def test_streams_survive_a_lost_listener_connection(make_client: MakeClient, db: Any) -> None:
    """pg_terminate_backend on the listener: it reconnects, re-LISTENs, catches streams up.

    The sweep is slowed to a minute, so only the re-LISTENed channel can deliver in time.
    """
    client = await make_client(sweep_interval_seconds=60)
    listener = listener_of(client)
    await until(listener.connected.is_set)
    job_id = await submit(client)
    resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    events = read_events(resp)
    await anext(events)
    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'content-jobs-listener' AND datname = current_database()"
    )
    assert killed == 1
    await until(lambda: listener.reconnects >= 1 and listener.connected.is_set())
    cancel = await client.post(f"{JOBS}/{job_id}/cancel", headers=auth())
    assert cancel.status == 200
    last = await asyncio.wait_for(anext(events), 3)
    assert last.data["status"] == "cancelled"


async def test_heartbeat_comments(make_client: MakeClient) -> None:
    """A `: ping` comment goes out every SSE_HEARTBEAT_SECONDS."""
    client = await make_client(sse_heartbeat_seconds=0.2)
    job_id = await submit(client)
    resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    comments: list[str] = []
    events = read_events(resp, comments)
    await anext(events)
    reader = asyncio.ensure_future(anext(events))
    await until(lambda: comments.count("ping") >= 2, timeout=3)
    reader.cancel()
    resp.close()


async def test_shutdown_ends_open_streams_promptly(settings: Settings) -> None:
    """on_shutdown tells streams to stop: the server does not wait its 60 s on them."""
    server = TestServer(create_app(settings), handler_cancellation=True)
    client: Client = TestClient(server)
    await client.start_server()
    job_id = await submit(client)
    resp = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    await anext(read_events(resp))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(client.close(), 10)
    assert loop.time() - started < 5
    rest: list[SseEvent] = []
    with contextlib.suppress(aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
        rest = [event async for event in read_events(resp)]
    assert rest == []


async def test_many_streams_on_many_jobs_each_get_every_event_once(
    worker_client: Client,
) -> None:
    """The fan-out reads hinted jobs' rows together: every stream still gets its own job's
    events, in order, each once, to the end."""
    jobs = [await submit(worker_client, seconds=0.6, steps=6) for _ in range(4)]

    async def follow(job_id: str) -> list[SseEvent]:
        resp = await worker_client.get(f"{JOBS}/{job_id}/events", headers=auth())
        return [event async for event in read_events(resp)]

    streams = await asyncio.wait_for(
        asyncio.gather(*(follow(job_id) for job_id in jobs for _ in range(3))), 15
    )
    for index, events in enumerate(streams):
        job_id = jobs[index // 3]
        assert {e.data["jobId"] for e in events} == {job_id}
        ids = [e.id or 0 for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert events[-1].data["status"] == "done"
