"""Several real replicas over one Postgres: submitted on one, run on a second, watched on a third.

These tests start `content-jobs serve` processes (A api, B worker, C api) on
their own Postgres server, which one of them restarts.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from service.client import ContentJobsClient, Reconnect
from service.dev.pgserver import LocalPostgres
from tests.conftest import make_token
from tests.sse import SseEvent, read_events

JOBS = "/api/companies/acme/content-jobs"
HEADERS = {"Authorization": f"Bearer {make_token('acme')}"}

pytestmark = pytest.mark.timeout(120)


async def submit(session: aiohttp.ClientSession, base: str, **job_input: Any) -> str:
    async with session.post(
        f"{base}{JOBS}", json={"jobType": "sleep", "input": job_input}, headers=HEADERS
    ) as resp:
        assert resp.status == 202, await resp.text()
        job_id: str = (await resp.json())["jobId"]
        return job_id


async def watch(
    session: aiohttp.ClientSession,
    base: str,
    job_id: str,
    seen: Callable[[SseEvent], None] | None = None,
) -> list[SseEvent]:
    """Follow a job's stream to its end, as a browser would."""
    events = []
    async with session.get(f"{base}{JOBS}/{job_id}/events", headers=HEADERS) as resp:
        assert resp.status == 200
        async for event in read_events(resp):
            events.append(event)
            if seen is not None:
                seen(event)
    return events


async def history(session: aiohttp.ClientSession, base: str, job_id: str) -> list[SseEvent]:
    """Every event of the job, replayed from the table (Last-Event-ID: 0)."""
    async with session.get(
        f"{base}{JOBS}/{job_id}/events", headers={**HEADERS, "Last-Event-ID": "0"}
    ) as resp:
        return [event async for event in read_events(resp)]


def assert_complete(events: list[SseEvent], full: list[SseEvent], terminal: str) -> None:
    """What a watcher saw is the snapshot, then exactly the table's rows after it, in order."""
    first, rest = events[0], events[1:]
    assert first.event == "status"
    assert first.id is not None
    assert rest == [e for e in full if e.id is not None and e.id > first.id]
    assert events[-1].data["status"] == terminal


async def test_submitted_on_a_run_on_b_watched_on_c(cluster: Any) -> None:
    a = await cluster("a", "api")
    await cluster("b", "worker")
    c = await cluster("c", "api")
    async with aiohttp.ClientSession() as session:
        jobs = [await submit(session, a.url, seconds=0.6, steps=6) for _ in range(4)]
        watched = await asyncio.wait_for(
            asyncio.gather(*(watch(session, c.url, j) for j in jobs for _ in range(2))), 30
        )
        for job_id, events in zip([j for j in jobs for _ in range(2)], watched, strict=True):
            full = await history(session, a.url, job_id)
            assert_complete(events, full, "done")
            percents = [e.data["progress"]["percent"] for e in full if e.event == "progress"]
            assert percents == [17, 33, 50, 67, 83, 100]


async def test_killed_worker_job_finishes_on_another(cluster: Any) -> None:
    """SIGKILL B mid-job; after its lease expires a new worker finishes it; C's watcher sees it."""
    a = await cluster("a", "api")
    b = await cluster("b", "worker")
    c = await cluster("c", "api")
    async with aiohttp.ClientSession() as session:
        job_id = await submit(session, a.url, seconds=2, steps=10)
        halfway = asyncio.Event()

        def on_event(event: SseEvent) -> None:
            if event.data["progress"]["percent"] >= 30:
                halfway.set()

        watcher = asyncio.create_task(watch(session, c.url, job_id, on_event))
        await asyncio.wait_for(halfway.wait(), 10)
        b.signal(signal.SIGKILL)
        await cluster("d", "worker")
        events = await asyncio.wait_for(watcher, 30)
        full = await history(session, a.url, job_id)
        assert_complete(events, full, "done")
        statuses = [e.data["status"] for e in full if e.event == "status"]
        assert statuses == ["queued", "running", "queued", "running", "done"]
        async with session.get(f"{a.url}{JOBS}/{job_id}", headers=HEADERS) as resp:
            assert (await resp.json())["attempts"] == 2


async def test_streams_survive_a_postgres_restart(
    cluster: Any, own_postgres: LocalPostgres
) -> None:
    a = await cluster("a", "api")
    await cluster("b", "worker")
    c = await cluster("c", "api")
    async with aiohttp.ClientSession() as session:
        jobs = [await submit(session, a.url, seconds=4, steps=20) for _ in range(3)]
        started = asyncio.Event()

        def on_event(event: SseEvent) -> None:
            if event.event == "progress":
                started.set()

        watchers = [asyncio.create_task(watch(session, c.url, j, on_event)) for j in jobs]
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.to_thread(own_postgres.restart)
        results = await asyncio.wait_for(asyncio.gather(*watchers), 60)
        for job_id, events in zip(jobs, results, strict=True):
            full = await history(session, a.url, job_id)
            assert_complete(events, full, "done")


async def test_sigterm_requeues_running_jobs_and_exits_zero(cluster: Any) -> None:
    """SIGTERM: stop claiming, grace, requeue what is left, close streams, exit 0."""
    w = await cluster("w", "all")
    async with aiohttp.ClientSession() as session:
        job_id = await submit(session, w.url, seconds=60, steps=60)
        running = asyncio.Event()

        def on_event(event: SseEvent) -> None:
            if event.data["status"] == "running":
                running.set()

        watcher = asyncio.create_task(watch(session, w.url, job_id, on_event))
        await asyncio.wait_for(running.wait(), 10)
        w.signal(signal.SIGTERM)
        assert await w.wait_exit(15) == 0
        await asyncio.wait_for(watcher, 5)  # the stream was closed, not left hanging
        api = await cluster("api", "api")
        async with session.get(f"{api.url}{JOBS}/{job_id}", headers=HEADERS) as resp:
            job = await resp.json()
        assert job["status"] == "queued" and job["attempts"] == 1


async def test_client_watch_survives_its_replica_going_away(cluster: Any) -> None:
    """The Python client's watch() across a real server-side disconnect: the api replica
    serving it is stopped mid-job and comes back; no event is lost or repeated."""
    api = await cluster("api", "api")
    await cluster("b", "worker")
    async with aiohttp.ClientSession() as session:
        job_id = await submit(session, api.url, seconds=3, steps=15)
    reconnect = Reconnect(initial_delay=0.2, max_delay=0.5, max_failures=40)
    seen: list[Any] = []
    async with ContentJobsClient(api.url, make_token("acme"), "acme", reconnect=reconnect) as jobs:
        async with asyncio.timeout(40):
            async for event in jobs.watch(job_id):
                seen.append(event)
                if len(seen) == 3:
                    api.signal(signal.SIGTERM)  # the stream is closed by the server
                    assert await api.wait_exit(15) == 0
                    api.start()  # same port: the client's retries find it again
    async with aiohttp.ClientSession() as session:
        full = await history(session, api.url, job_id)
    assert [(e.id, e.event, e.data) for e in seen[1:]] == [
        (e.id, e.event, e.data) for e in full if e.id is not None and e.id > seen[0].id
    ]
    assert seen[-1].data["status"] == "done"
