"""Fault suite: a real replica process talks to Postgres through a TCP proxy that adds latency,
drops connections and blackholes them (a partition that answers nothing). Promises checked:
no lost job, no duplicate or missing event on a stream that stayed open, `503` (never `500`)
while the database is away, and recovery within seconds once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from yarl import URL

from service.dev.pgserver import LocalPostgres
from tests.conftest import SECRET
from tests.faultproxy import FaultProxy
from tests.integration.test_replicas_share_one_database_and_lose_no_event import (
    HEADERS,
    JOBS,
    history,
    submit,
    watch,
)
from tests.processes import Replica

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def proxied_replica(
    own_postgres: LocalPostgres, tmp_path: Path
) -> AsyncIterator[tuple[Replica, FaultProxy]]:
    conn = await asyncpg.connect(own_postgres.dsn)
    await conn.execute("TRUNCATE content_jobs, content_job_events CASCADE")
    await conn.close()
    dsn = URL(own_postgres.dsn)
    proxy = FaultProxy(dsn.host or "127.0.0.1", dsn.port or 5432)
    await proxy.start()
    env = {
        "DATABASE_URL": str(dsn.with_port(proxy.port)),
        "AUTH_JWT_SECRET": SECRET,
        "JOB_LEASE_SECONDS": "3",
        "SHUTDOWN_GRACE_SECONDS": "1",
        "LOG_FORMAT": "json",
    }
    replica = Replica("faulty", "all", env, tmp_path)
    replica.start()
    try:
        await replica.wait_ready()
        yield replica, proxy
    finally:
        replica.stop()
        await proxy.close()
        print(replica.logs()[-5000:])  # shown by pytest only when the test failed


async def post(session: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    async with session.post(f"{base}{JOBS}", json={"jobType": "echo"}, headers=HEADERS) as resp:
        return resp.status, resp.headers.get("Retry-After", "")


async def test_slow_database_loses_nothing(proxied_replica: tuple[Replica, FaultProxy]) -> None:
    replica, proxy = proxied_replica
    proxy.set_mode("pass", latency=0.03)
    async with aiohttp.ClientSession() as session:
        jobs = [await submit(session, replica.url, seconds=0.5, steps=5) for _ in range(5)]
        watched = await asyncio.wait_for(
            asyncio.gather(*(watch(session, replica.url, job) for job in jobs)), 60
        )
        for job_id, events in zip(jobs, watched, strict=True):
            full = await history(session, replica.url, job_id)
            assert events[-1].data["status"] == "done"
            ids = [e.id or 0 for e in full]
            assert ids == list(range(1, len(full) + 1))
            assert [e.id for e in events[1:]] == [i for i in ids if i > (events[0].id or 0)]


async def test_a_partition_is_503_then_recovers_with_every_job_and_event(
    proxied_replica: tuple[Replica, FaultProxy],
) -> None:
    replica, proxy = proxied_replica
    async with aiohttp.ClientSession() as session:
        jobs = [await submit(session, replica.url, seconds=2.0, steps=4) for _ in range(3)]
        watchers = [asyncio.create_task(watch(session, replica.url, job)) for job in jobs]
        await asyncio.sleep(0.8)  # the jobs are running, their streams open
        proxy.set_mode("blackhole")
        proxy.drop()
        started = time.monotonic()
        status, retry_after = await asyncio.wait_for(post(session, replica.url), 30)
        assert status == 503 and retry_after, status
        async with session.get(f"{replica.url}/readyz") as resp:
            assert resp.status == 503
        await asyncio.sleep(max(0.0, 4.0 - (time.monotonic() - started)))  # past the lease
        proxy.set_mode("pass")
        healed = time.monotonic()
        async with asyncio.timeout(20):
            while (await post(session, replica.url))[0] != 202:
                await asyncio.sleep(0.2)
        recovered_in = time.monotonic() - healed
        watched: list[Any] = await asyncio.wait_for(asyncio.gather(*watchers), 60)
        for job_id, events in zip(jobs, watched, strict=True):
            full = await history(session, replica.url, job_id)
            assert full[-1].data["status"] == "done", full[-1].data
            assert [e.id for e in full] == list(range(1, len(full) + 1))  # gap-free, once each
            seen = [e.id for e in events]
            assert seen == sorted(set(seen))  # no duplicate, in order
            assert events[-1].data["status"] == "done"
    assert recovered_in < 10
